//! The heavy half: [`Figures::compute`] compiles the policy with
//! `routec-opt` under its first traffic profile and aggregates the
//! compiler's predictions per rule, model, slice and SLO (see the crate
//! docs for the exact aggregation). Inlay hints and code lenses live here.
//!
//! A recorded first profile (`traffic NAME = file "x.jsonl"`) is compiled
//! with the records the caller read ([`RecordedInput`], through
//! [`Figures::compute_with`]), exactly as the CLI compiles it: the same
//! parsing and binding (`routec_opt::recorded::file_diagnostics`), the same
//! `E0515`/`W0513`, and `routec_opt::compile_cancellable`, which stops as
//! soon as `cancelled()` turns true.

use routec_check::Policy;
use routec_check::ir::TrafficSource;
use routec_opt::{CompileOptions, Compiled, Failure, codes};
use routec_syntax::{Diagnostic, FileId, LineIndex, Span};

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
/// compiler constrains in `share MODEL <= x` SLOs; what it costs; and,
/// when load is modelled (the model declares a capacity, a rate limit or
/// latency at a load, and the profile a `qps`), its load.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFigures {
    pub model: String,
    pub share: f64,
    /// Expected cost per 1,000 requests paid to this model, USD.
    pub cost_per_1k: f64,
    /// Its load at the profile's qps; `None` when load is not modelled.
    pub load: Option<ModelLoadFigures>,
}

/// A model's load at the profile's qps (`docs/semantics.md`, "Load").
#[derive(Clone, Debug, PartialEq)]
pub struct ModelLoadFigures {
    /// Calls per second offered to it.
    pub calls_per_second: f64,
    /// Offered calls over what its capacity sustains (0 without one).
    pub utilization: f64,
    /// Offered calls over its provider's rate limit (0 without one).
    pub rate_limit_utilization: f64,
    /// The share of its calls refused.
    pub refused: f64,
    /// Mean wait for a slot of an admitted call, seconds.
    pub mean_wait: f64,
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

/// The [`FileId`] of the first profile's recorded file in the diagnostics
/// of [`Figures::recorded_diagnostics`].
pub const RECORDED_FILE: FileId = FileId(1);

/// A diagnostic located in the recorded file, moved to the profile's
/// declaration in the policy (where its secondary label points), its
/// message prefixed with `` `path`:LINE:COL: ``.
fn at_declaration(d: &Diagnostic, path: &str, text: &str) -> Diagnostic {
    let (line, col) = LineIndex::new(text).line_col_human(d.span.start as usize);
    let span = d
        .labels
        .iter()
        .find(|l| l.file == FileId::MAIN)
        .map_or_else(Span::default, |l| l.span);
    let moved = Diagnostic::new(
        d.severity,
        d.code,
        span,
        format!("`{path}`:{line}:{col}: {}", d.message),
    );
    match &d.help {
        Some(h) => moved.with_help(h.clone()),
        None => moved,
    }
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
pub struct Figures {
    text: String,
    traffic: Option<String>,
    /// Requests in the recorded file the figures were computed on.
    recorded: Option<usize>,
    diagnostics: Vec<Diagnostic>,
    recorded_diagnostics: Vec<Diagnostic>,
    rules: Vec<RuleFigures>,
    models: Vec<ModelFigures>,
    slices: Vec<SliceFigures>,
    slos: Vec<SloFigures>,
}

impl Figures {
    /// Compiles `analysis`'s policy under its first traffic profile, without
    /// recorded traffic: a recorded first profile is compiled with its
    /// declared defaults and warning `W0512`. See [`Figures::compute_with`].
    pub fn compute(analysis: &Analysis, cancelled: &dyn Fn() -> bool) -> Option<Figures> {
        Figures::compute_with(analysis, None, cancelled)
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
    ) -> Option<Figures> {
        if cancelled() || !analysis.checks() {
            return None;
        }
        let policy = analysis.policy();
        let text = analysis.text();
        let options = CompileOptions {
            traffic: None,
            compiler_version: env!("CARGO_PKG_VERSION").to_owned(),
            slo_margin: None,
        };
        let mut sim = Figures {
            text: text.to_owned(),
            traffic: None,
            recorded: None,
            diagnostics: Vec::new(),
            recorded_diagnostics: Vec::new(),
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
            match routec_opt::recorded::file_diagnostics(policy, 0, RECORDED_FILE, text) {
                Some((Some(b), warnings)) => {
                    bound = Some(b);
                    file_warnings = warnings;
                }
                Some((None, errors)) => {
                    // In the policy, each bad line at the declaration; in
                    // the file itself, where it is.
                    sim.diagnostics = errors
                        .iter()
                        .map(|d| at_declaration(d, &input.path_shown, text))
                        .collect();
                    sim.recorded_diagnostics = errors;
                    return (!cancelled()).then_some(sim);
                }
                None => {}
            }
            if cancelled() {
                return None;
            }
        }
        let compiled = match routec_opt::compile_cancellable(
            policy,
            text,
            &options,
            bound.as_ref(),
            cancelled,
        ) {
            Ok(c) => c,
            Err(Failure::Cancelled) => return None,
            Err(Failure::Errors(mut errors)) => {
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
        figures(policy, &compiled, &mut sim);
        (!cancelled()).then_some(sim)
    }

    /// The compiler's diagnostics (infeasible SLOs, warnings), located in
    /// the policy.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.diagnostics.clone()
    }

    /// The diagnostics located in the recorded traffic file of the first
    /// profile ([`RECORDED_FILE`]; byte spans into the text the caller
    /// supplied in [`RecordedInput`]): one per bad line, for an editor
    /// that has that file open.
    pub fn recorded_diagnostics(&self) -> &[Diagnostic] {
        &self.recorded_diagnostics
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

/// Reads the compiler's figures per rule, model, slice and SLO row from the
/// compiled model (joined by index: rule, model, slice and SLO indices are
/// the policy's).
fn figures(policy: &Policy, compiled: &Compiled, sim: &mut Figures) {
    sim.rules = compiled
        .rules()
        .into_iter()
        .filter_map(|f| {
            let rule = policy.rules.get(f.rule)?;
            Some(RuleFigures {
                rule: f.rule,
                span: rule.span,
                share: f.share,
                p95: f.p95,
                cost_per_1k: f.cost * 1000.0,
                quality: f.quality,
            })
        })
        .collect();
    let costs = compiled.model_costs();
    let load = compiled.load();
    sim.models = policy
        .models
        .iter()
        .zip(compiled.model_calls())
        .enumerate()
        .map(|(i, (m, share))| ModelFigures {
            model: m.name.clone(),
            share,
            cost_per_1k: costs.get(i).copied().unwrap_or(0.0) * 1000.0,
            load: load.get(i).map(|l| ModelLoadFigures {
                calls_per_second: l.demand.calls,
                utilization: l.utilization,
                rate_limit_utilization: l.limit_utilization,
                refused: l.throttle,
                mean_wait: l.mean_wait,
            }),
        })
        .collect();
    sim.slices = policy
        .slices
        .iter()
        .zip(compiled.slices())
        .map(|(def, f)| SliceFigures {
            slice: def.name.clone(),
            share: f.share,
        })
        .collect();
    sim.slos = compiled
        .slos()
        .iter()
        .map(|row| SloFigures {
            span: policy.slos.get(row.slo).map(|s| s.span).unwrap_or_default(),
            slice: row
                .slice
                .and_then(|s| policy.slices.get(s.index()))
                .map(|s| s.name.clone()),
            value: row.value,
            limit: row.limit,
            ok: row.ok,
            tightening: row.tightening.as_ref().map(ToString::to_string),
        })
        .collect();
}

/// What a hint is about: a rule, a line of the `slo` block, or a model
/// whose load is modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Rule,
    Slo,
    Model,
}

/// A model's load hint: `34% of capacity · 0.80 calls/request · $0.07/1k`
/// (the rate limit's share when it binds more, refusals when any).
pub(crate) fn load_label(f: &ModelFigures) -> Option<String> {
    let l = f.load.as_ref()?;
    let mut parts = Vec::new();
    if l.utilization > 0.0 {
        parts.push(format!("{} of capacity", percent(l.utilization)));
    }
    if l.rate_limit_utilization > 0.0 {
        parts.push(format!(
            "{} of rate limit",
            percent(l.rate_limit_utilization)
        ));
    }
    parts.push(format!("{} calls/request", crate::show::num(f.share, 2)));
    parts.push(format!("{}/1k", money(f.cost_per_1k)));
    if l.refused > 0.0005 {
        parts.push(format!("{} refused", percent(l.refused)));
    }
    Some(parts.join(" · "))
}

/// The hints of `analysis`'s text from `sim` (computed for that text), each
/// with the span of the item it follows. `range`: only items touching it.
fn hint_items(analysis: &Analysis, sim: &Figures, range: Span) -> Vec<(Item, Span, InlayHint)> {
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
    for (m, def) in policy.models.iter().enumerate() {
        if !touches(def.span, range) || def.span.is_empty() || !def.load_aware() {
            continue;
        }
        let Some(label) = sim.models().get(m).and_then(load_label) else {
            continue;
        };
        out.push((
            Item::Model,
            def.span,
            InlayHint {
                offset: def.span.end as usize,
                label,
                tooltip: Some(format!(
                    "`{}`: utilization of its capacity and rate limit, calls per request and cost per 1k requests predicted{traffic}",
                    def.name
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

pub(crate) fn inlay_hints(analysis: &Analysis, sim: &Figures, range: Span) -> Vec<InlayHint> {
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
    sim: &Figures,
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
                        Item::Model => "model",
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
