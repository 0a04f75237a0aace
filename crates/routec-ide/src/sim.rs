//! The heavy half: [`Simulation::compute`] compiles the policy with
//! `routec-opt` under its first traffic profile and aggregates the
//! compiler's predictions per rule, model, slice and SLO (see the crate
//! docs for the exact aggregation). Inlay hints and code lenses live here.
//!
//! A recorded first profile (`traffic NAME = file "x.jsonl"`) is compiled
//! with the records the caller read ([`RecordedInput`], through
//! [`Simulation::compute_with`]), exactly as the CLI compiles it: the same
//! parsing and binding (`routec_opt::recorded::file_diagnostics`), the same
//! `E0515`/`W0513`, and `routec_opt::compile_recorded`.

use std::borrow::Cow;

use routec_check::Policy;
use routec_check::ir::{PlanDef, TrafficSource};
use routec_opt::cells;
use routec_opt::eval::{Evaluator, PlanEval};
use routec_opt::optimize::Problem;
use routec_opt::traffic::Traffic;
use routec_opt::{CompileOptions, Compiled, codes, plan_text};
use routec_syntax::{Diagnostic, Span};
use routec_traffic::BoundTraffic;

use routec_syntax::ast::ItemKind;
use routec_syntax::lexer::{Token, lex};

use crate::show::{duration, metric_value, money, percent};
use crate::text::touches;
use crate::{Analysis, COMMAND_RUN_TESTS, COMMAND_SIMULATE, CodeLens, InlayHint};

/// The compiler's figures for one rule of the `route` block.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleFigures {
    /// 0-based index of the rule.
    pub rule: usize,
    /// The rule's span in the text.
    pub span: Span,
    /// Share of all traffic the rule takes (0..=1).
    pub share: f64,
    /// 95th percentile of end-to-end latency of the rule's traffic, seconds.
    pub p95: f64,
    /// Expected cost per 1,000 of the rule's requests, USD.
    pub cost_per_1k: f64,
    /// Expected quality of the rule's traffic (0..=1).
    pub quality: f64,
}

/// How much traffic a model gets: expected calls to it per request
/// (cascade escalations, fallbacks and retries included), the measure the
/// compiler constrains in `share MODEL <= x` SLOs.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFigures {
    pub model: String,
    pub share: f64,
}

/// The share of traffic inside a slice.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceFigures {
    pub slice: String,
    pub share: f64,
}

/// The compiler's status of one SLO row (a `for each slice` line has one
/// row per slice).
#[derive(Clone, Debug, PartialEq)]
pub struct SloFigures {
    /// The SLO line's span in the text.
    pub span: Span,
    /// The slice of a `for each slice` row.
    pub slice: Option<String>,
    /// The predicted value, in base units (seconds, USD, ratio).
    pub value: f64,
    /// The limit, in base units.
    pub limit: f64,
    pub ok: bool,
    /// What tightening the SLO by one step costs, when it is binding
    /// (`latency p95 -100ms costs +$0.31/1k, quality +0.2%`).
    pub tightening: Option<String>,
}

/// The recorded traffic file of the policy's first traffic profile, as the
/// caller read it (this crate does no IO).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedInput {
    /// The file's path as messages show it (resolved against the policy's
    /// directory, like the CLI).
    pub path_shown: String,
    /// The file's text, or why it could not be read (`No such file or
    /// directory`, a size limit): that becomes error `E0516` at the
    /// profile's declaration.
    pub text: Result<String, String>,
}

/// The compiled policy's predictions for one text.
#[derive(Clone, Debug)]
pub struct Simulation {
    text: String,
    traffic: Option<String>,
    /// Requests in the recorded file the figures were computed on.
    recorded: Option<usize>,
    diagnostics: Vec<Diagnostic>,
    rules: Vec<RuleFigures>,
    models: Vec<ModelFigures>,
    slices: Vec<SliceFigures>,
    slos: Vec<SloFigures>,
}

impl Simulation {
    /// Compiles `analysis`'s policy under its first traffic profile, without
    /// recorded traffic: a recorded first profile is compiled with its
    /// declared defaults and warning `W0512`. See [`Simulation::compute_with`].
    pub fn compute(analysis: &Analysis, cancelled: &dyn Fn() -> bool) -> Option<Simulation> {
        Simulation::compute_with(analysis, None, cancelled)
    }

    /// Compiles `analysis`'s policy under its first traffic profile, with
    /// `recorded`, the file of that profile when it is recorded (ignored
    /// otherwise), as `routec compile` does. Returns `None` when the file
    /// does not check or `cancelled()` turned true. An infeasible policy, a
    /// recorded file with bad lines (`E0515`, one per line, at the
    /// declaration) or one that could not be read (`E0516`) gives a
    /// simulation with those errors and no figures.
    pub fn compute_with(
        analysis: &Analysis,
        recorded: Option<&RecordedInput>,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<Simulation> {
        if cancelled() || !analysis.checks() {
            return None;
        }
        let policy = analysis.policy();
        let text = analysis.text();
        let options = CompileOptions {
            traffic: None,
            compiler_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let mut sim = Simulation {
            text: text.to_owned(),
            traffic: None,
            recorded: None,
            diagnostics: Vec::new(),
            rules: Vec::new(),
            models: Vec::new(),
            slices: Vec::new(),
            slos: Vec::new(),
        };
        // The first profile's records, when it is a recorded file and the
        // caller read it.
        let mut file_warnings = Vec::new();
        let mut bound = None;
        if let (Some(input), Some(def)) = (recorded, policy.traffic.first())
            && matches!(def.source, TrafficSource::File(_))
        {
            let text = match &input.text {
                Ok(text) => text,
                Err(why) => {
                    sim.diagnostics = vec![
                        Diagnostic::error(
                            codes::RECORDED_FILE_UNREADABLE,
                            def.span,
                            format!(
                                "cannot read the recorded traffic `{}` of profile `{}`: {why}",
                                input.path_shown, def.name
                            ),
                        )
                        .with_help(
                            "the path is relative to the policy file's directory; no figures are shown until the file can be read",
                        ),
                    ];
                    return (!cancelled()).then_some(sim);
                }
            };
            match routec_opt::recorded::file_diagnostics(policy, 0, &input.path_shown, text) {
                Some((Some(b), warnings)) => {
                    bound = Some(b);
                    file_warnings = warnings;
                }
                Some((None, errors)) => {
                    sim.diagnostics = errors;
                    return (!cancelled()).then_some(sim);
                }
                None => {}
            }
            if cancelled() {
                return None;
            }
        }
        let compiled = match routec_opt::compile_recorded(policy, text, &options, bound.as_ref()) {
            Ok(c) => c,
            Err(mut errors) => {
                // The compiler's W0513 went with its warnings: keep the
                // file's.
                errors.extend(file_warnings);
                sim.diagnostics = errors;
                return (!cancelled()).then_some(sim);
            }
        };
        if cancelled() {
            return None;
        }
        sim.diagnostics = compiled.diagnostics.clone();
        sim.traffic = compiled.table.assumed.as_ref().map(|a| a.traffic.clone());
        sim.recorded = compiled.recorded.as_ref().map(|r| r.requests);
        figures(policy, bound.as_ref(), &compiled, &mut sim, cancelled)?;
        (!cancelled()).then_some(sim)
    }

    /// The compiler's diagnostics (infeasible SLOs, warnings).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.diagnostics.clone()
    }

    /// The traffic profile the figures are for (`None` when the policy
    /// declares none, or did not compile).
    pub fn traffic(&self) -> Option<&str> {
        self.traffic.as_deref()
    }

    /// How many recorded requests the figures were computed on (`None`
    /// unless the profile is a recorded file that was supplied and read).
    pub fn recorded_requests(&self) -> Option<usize> {
        self.recorded
    }

    /// Per rule, in rule order; empty when the policy did not compile.
    pub fn rules(&self) -> &[RuleFigures] {
        &self.rules
    }

    /// Per model, in declaration order.
    pub fn models(&self) -> &[ModelFigures] {
        &self.models
    }

    /// Per slice, in declaration order.
    pub fn slices(&self) -> &[SliceFigures] {
        &self.slices
    }

    /// Per SLO row, in the compiler's row order.
    pub fn slos(&self) -> &[SloFigures] {
        &self.slos
    }

    /// True when this simulation was computed for exactly `analysis`'s text.
    pub fn is_for(&self, analysis: &Analysis) -> bool {
        self.text == analysis.text()
    }
}

/// Aggregates the compiler's cells per rule, model and slice, and reads its
/// SLO statuses. Rebuilds the compiler's partition and problem (the same
/// deterministic construction `compile` ran) to get each cell's plan
/// estimates, so that per-rule percentiles are exact mixtures.
fn figures(
    policy: &Policy,
    recorded: Option<&BoundTraffic>,
    compiled: &Compiled,
    sim: &mut Simulation,
    cancelled: &dyn Fn() -> bool,
) -> Option<()> {
    let mut traffic = Traffic::for_policy(policy, None).ok()?;
    // With records, `compile_recorded` optimizes the policy with its models
    // re-estimated from the outcomes, on the records' mix, with the cells'
    // quality re-estimated: rebuild exactly that.
    let recorded = recorded.filter(|b| traffic.unreadable_file && !b.records.is_empty());
    let policy: Cow<'_, Policy> = match recorded {
        Some(bound) => {
            let rows = routec_opt::recorded::Rows::of(policy, bound);
            let (adjusted, _) = routec_opt::recorded::adjust_models(policy, bound, &rows);
            traffic = traffic.with_recorded(&adjusted, bound);
            Cow::Owned(adjusted)
        }
        None => Cow::Borrowed(policy),
    };
    let policy: &Policy = &policy;
    let mut part = cells::partition(policy, &traffic).ok()?;
    if let Some(bound) = recorded {
        let mut qualities: Vec<Vec<Option<f64>>> =
            part.cells.iter().map(|c| c.quality.clone()).collect();
        routec_opt::recorded::estimate_quality(policy, bound, &part.row_cells, &mut qualities);
        for (c, q) in part.cells.iter_mut().zip(qualities) {
            c.quality = q;
        }
    }
    if cancelled() {
        return None;
    }
    let mut ev = Evaluator::new(policy, traffic.output_dist());
    let problem = Problem::build(policy, &part, &mut ev, traffic.qps);
    if cancelled() {
        return None;
    }
    let table = &compiled.table;
    let same = part.cells.len() == compiled.cells.len()
        && part
            .cells
            .iter()
            .zip(&compiled.cells)
            .all(|(a, b)| a.rule == b.rule);
    // Per cell: (weight of the split, index into problem.evals).
    let mut parts_of: Vec<Vec<(f64, usize)>> = vec![Vec::new(); compiled.cells.len()];
    if same {
        for (c, info) in compiled.cells.iter().enumerate() {
            let (Some(rule), Some(options)) = (policy.rules.get(info.rule), problem.options.get(c))
            else {
                continue;
            };
            for split in &info.splits {
                let Some(plan) = table.plans.get(split.plan as usize) else {
                    continue;
                };
                let option = options.iter().find(|o| {
                    let def = match (&rule.plan, o.candidate) {
                        (PlanDef::Optimize { candidates, .. }, Some(i)) => candidates.get(i),
                        (plan, None) => Some(plan),
                        _ => None,
                    };
                    def.is_some_and(|d| plan_text(policy, d) == plan.text)
                });
                if let Some(o) = option {
                    parts_of[c].push((split.share, o.eval));
                }
            }
        }
    }

    // Rules.
    let cells_out = table
        .assumed
        .as_ref()
        .map(|a| a.cells.as_slice())
        .unwrap_or(&[]);
    for (r, rule) in policy.rules.iter().enumerate() {
        let (mut w, mut k, mut q) = (0.0, 0.0, 0.0);
        let mut mixture: Vec<(f64, f64, &PlanEval)> = Vec::new();
        let mut bound: f64 = 0.0;
        for (c, info) in compiled.cells.iter().enumerate() {
            if info.rule != r {
                continue;
            }
            w += info.weight;
            k += info.weight * info.cost;
            q += info.weight * info.quality;
            if let Some(cell) = cells_out.get(c) {
                bound = bound.max(cell.predicted.latency.p95);
            }
            if let Some(def) = part.cells.get(c) {
                for (share, e) in &parts_of[c] {
                    if let Some(e) = problem.evals.get(*e) {
                        mixture.push((info.weight * share, def.shift, e));
                    }
                }
            }
        }
        let p95 = if same && !mixture.is_empty() {
            ev.mixture_quantile(&mixture, 0.95, false)
        } else {
            bound
        };
        let per = |x: f64| if w > 0.0 { x / w } else { 0.0 };
        sim.rules.push(RuleFigures {
            rule: r,
            span: rule.span,
            share: w,
            p95,
            cost_per_1k: per(k) * 1000.0,
            quality: per(q),
        });
    }

    // Models: expected calls per request, the measure of `share MODEL` SLOs.
    let mut calls = vec![0.0; policy.models.len()];
    for (c, info) in compiled.cells.iter().enumerate() {
        for (share, e) in &parts_of[c] {
            if let Some(e) = problem.evals.get(*e) {
                for (m, n) in e.calls.iter().enumerate() {
                    if let Some(slot) = calls.get_mut(m) {
                        *slot += info.weight * share * n;
                    }
                }
            }
        }
    }
    sim.models = policy
        .models
        .iter()
        .zip(calls)
        .map(|(m, share)| ModelFigures {
            model: m.name.clone(),
            share,
        })
        .collect();

    // Slices.
    sim.slices = policy
        .slices
        .iter()
        .enumerate()
        .map(|(s, def)| SliceFigures {
            slice: def.name.clone(),
            share: problem.slice_weight.get(s).copied().unwrap_or(0.0),
        })
        .collect();

    // SLO rows: the table's statuses are in the problem's row order, like
    // the sensitivities.
    if let Some(assumed) = &table.assumed {
        for (k, status) in assumed.slos.iter().enumerate() {
            let row = problem.rows.get(k);
            let span = row
                .and_then(|r| policy.slos.get(r.slo))
                .map(|s| s.span)
                .unwrap_or_default();
            let slice = row
                .and_then(|r| r.slice)
                .and_then(|s| policy.slices.get(s.index()))
                .map(|s| s.name.clone());
            let tightening = compiled.sensitivity.get(k).and_then(|x| x.2.clone());
            sim.slos.push(SloFigures {
                span,
                slice,
                value: status.value,
                limit: status.limit,
                ok: status.ok,
                tightening,
            });
        }
    }
    Some(())
}

/// What a hint is about: a rule, or a line of the `slo` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Rule,
    Slo,
}

/// The hints of `analysis`'s text from `sim` (computed for that text), each
/// with the span of the item it follows. `range`: only items touching it.
fn hint_items(analysis: &Analysis, sim: &Simulation, range: Span) -> Vec<(Item, Span, InlayHint)> {
    let policy = analysis.policy();
    let mut out = Vec::new();
    let traffic = match (sim.traffic(), sim.recorded_requests()) {
        (Some(t), Some(n)) => format!(" under traffic `{t}` ({n} recorded requests)"),
        (Some(t), None) => format!(" under traffic `{t}`"),
        _ => String::new(),
    };
    for f in sim.rules() {
        if !touches(f.span, range) {
            continue;
        }
        let label = if f.share > 0.0 {
            format!(
                "{} · p95 {} · {}/1k",
                percent(f.share),
                duration(f.p95),
                money(f.cost_per_1k)
            )
        } else {
            "no traffic".to_owned()
        };
        out.push((
            Item::Rule,
            f.span,
            InlayHint {
                offset: f.span.end as usize,
                label,
                tooltip: Some(format!(
                    "rule {}: share of traffic, latency p95 and cost per 1k requests predicted{traffic}",
                    f.rule + 1
                )),
            },
        ));
    }
    for slo in &policy.slos {
        if !touches(slo.span, range) || slo.span.is_empty() {
            continue;
        }
        let rows: Vec<&SloFigures> = sim.slos().iter().filter(|r| r.span == slo.span).collect();
        if rows.is_empty() {
            continue;
        }
        let fmt = |r: &SloFigures| {
            let v = metric_value(&slo.metric, r.value);
            let mark = if r.ok { "" } else { " ✗" };
            match &r.slice {
                Some(s) => format!("{s} {v}{mark}"),
                None => format!("{v}{mark}"),
            }
        };
        out.push((
            Item::Slo,
            slo.span,
            InlayHint {
                offset: slo.span.end as usize,
                label: format!(
                    "= {}",
                    rows.iter().map(|r| fmt(r)).collect::<Vec<_>>().join(", ")
                ),
                tooltip: Some(format!("predicted value{traffic}")),
            },
        ));
    }
    out.sort_by_key(|(_, _, h)| h.offset);
    out
}

pub(crate) fn inlay_hints(analysis: &Analysis, sim: &Simulation, range: Span) -> Vec<InlayHint> {
    hint_items(analysis, sim, range)
        .into_iter()
        .map(|(_, _, h)| h)
        .collect()
}

/// The tokens of `text` other than comments and line breaks, each as
/// written, joined by one space: what the compiler reads of it, so two
/// texts with the same key compile the same way.
fn key(text: &str) -> String {
    lex(text)
        .into_iter()
        .filter(|(t, _)| !matches!(t, Token::Comment(_) | Token::DocComment(_) | Token::Newline))
        .map(|(_, span)| span.text(text))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Hints for `analysis` from `sim`, the simulation of an `earlier` text of
/// the same document (the last one that compiled), for the rules and SLO
/// lines whose tokens are unchanged since (matched by their text, in order
/// among equal ones, wherever they moved).
///
/// When the two texts differ in more than comments and whitespace, the
/// figures are labelled `was ...` and the tooltip says they are from an
/// earlier version: an edit elsewhere (a model's price, an earlier rule)
/// can change a rule's figures even though its text did not change. Items
/// whose text changed get no hint.
pub(crate) fn earlier_inlay_hints(
    analysis: &Analysis,
    earlier: &Analysis,
    sim: &Simulation,
    range: Span,
) -> Vec<InlayHint> {
    if !sim.is_for(earlier) {
        return Vec::new();
    }
    let same = key(analysis.text()) == key(earlier.text());
    let old_text = earlier.text();
    let old = hint_items(earlier, sim, Span::new(0, old_text.len()));
    let mut taken = vec![false; old.len()];
    let text = analysis.text();
    let policy = analysis.policy();
    let items = policy
        .rules
        .iter()
        .map(|r| (Item::Rule, r.span))
        .chain(policy.slos.iter().map(|s| (Item::Slo, s.span)));
    let mut out = Vec::new();
    for (item, span) in items {
        if span.is_empty() {
            continue;
        }
        let k = key(span.text(text));
        // The first unmatched earlier item of the same kind and text.
        let Some(i) = old
            .iter()
            .enumerate()
            .position(|(i, (it, sp, _))| !taken[i] && *it == item && key(sp.text(old_text)) == k)
        else {
            continue;
        };
        taken[i] = true;
        if !touches(span, range) {
            continue;
        }
        let hint = &old[i].2;
        let (label, tooltip) = if same {
            (hint.label.clone(), hint.tooltip.clone())
        } else {
            let figures = hint.label.strip_prefix("= ").unwrap_or(&hint.label);
            (
                format!("was {figures}"),
                Some(format!(
                    "{}, for an earlier version of this file (the last one simulated): \
                     this {} is unchanged since, but edits elsewhere can change its figures; \
                     fresh figures replace these once the current text compiles",
                    hint.tooltip.as_deref().unwrap_or("predicted"),
                    match item {
                        Item::Rule => "rule",
                        Item::Slo => "SLO",
                    }
                )),
            )
        };
        out.push(InlayHint {
            offset: span.end as usize,
            label,
            tooltip,
        });
    }
    out.sort_by_key(|h| h.offset);
    out
}

pub(crate) fn code_lenses(analysis: &Analysis) -> Vec<CodeLens> {
    let Some(span) = analysis
        .parse
        .file
        .items
        .iter()
        .find_map(|item| match item.kind {
            ItemKind::Policy(_) => Some(item.span),
            _ => None,
        })
    else {
        return Vec::new();
    };
    let mut out = vec![CodeLens {
        span,
        title: "▶ Simulate".to_owned(),
        command: COMMAND_SIMULATE,
    }];
    let tests = analysis.policy().tests.len();
    if tests > 0 {
        out.push(CodeLens {
            span,
            title: format!("▶ Run tests ({tests})"),
            command: COMMAND_RUN_TESTS,
        });
    }
    out
}
