//! `compile`: from a checked policy to a decision table.

use std::collections::{BTreeMap, HashMap};

use routec_check::ir::{
    self, DriftAction, MetricDef, ModelId, ParamValue, PlanDef, Policy, RetryOn, SignalSource,
    SignalType, SliceId, StrOrEnv, Value,
};
use routec_check::space::{Atom, Cube};
use routec_syntax::{Diagnostic, Span};
use routec_table as t;

use crate::cells::{self, Partition};
use crate::codes;
use crate::eval::{Evaluator, PlanEval};
use crate::model;
use crate::optimize::{self, Assignment, Problem, RowDef, RowKind, Vars};
use crate::traffic::{Marginal, Traffic};

/// Options of [`compile`].
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// The traffic profile to optimize for; default: the first one declared.
    /// Without any profile, enums and bools are uniform over their values,
    /// ratios uniform over `[0, 1]` and other numbers take their default
    /// (see `docs/semantics.md`).
    pub traffic: Option<String>,
    /// Written into the table.
    pub compiler_version: String,
}

/// A set of values of one signal inside a cell's box.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueSet {
    /// Enum variant indices or bool values (`0`, `1`).
    Values(Vec<usize>),
    /// Numeric ranges in base units: `(lo, lo inclusive, hi, hi inclusive)`,
    /// `None` = unbounded.
    Ranges(Vec<(Option<f64>, bool, Option<f64>, bool)>),
}

/// One optimized or predicted cell, for differential tests and reports.
#[derive(Clone, Debug, PartialEq)]
pub struct CellInfo {
    /// 0-based rule index.
    pub rule: usize,
    pub predicate: String,
    /// Share of traffic.
    pub weight: f64,
    /// The plan shares (indices into `table.plans`).
    pub splits: Vec<t::Split>,
    /// Disjoint boxes whose union is the cell: per constrained signal (index
    /// into `table.signals`) its value set; unlisted signals are free.
    pub boxes: Vec<Vec<(usize, ValueSet)>>,
    /// One concrete request per box: `(signal index, value in base units)`.
    pub examples: Vec<Vec<(usize, f64)>>,
    /// Predicted figures of the cell under its splits.
    pub cost: f64,
    pub quality: f64,
}

/// The result of [`compile`].
#[derive(Clone, Debug)]
pub struct Compiled {
    pub table: t::Table,
    /// Warnings.
    pub diagnostics: Vec<Diagnostic>,
    pub cells: Vec<CellInfo>,
    /// Per SLO row, what tightening it by one step would cost, e.g.
    /// `latency p95 -100ms costs +$0.31/1k`; `None` when not binding.
    pub sensitivity: Vec<(u32, String, Option<String>)>,
    /// For a recorded profile compiled with its records: what the outcomes
    /// changed.
    pub recorded: Option<RecordedEstimates>,
}

/// What a recorded file's outcomes changed in the model the table was
/// optimized with (`docs/semantics.md`, "Recorded outcomes").
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEstimates {
    /// The traffic profile.
    pub profile: String,
    pub requests: usize,
    /// Requests with at least one outcome.
    pub labeled: usize,
    /// Per (cell, model) with outcomes: the shrunk success rate and its
    /// interval. `cell` indexes [`Compiled::cells`].
    pub quality: Vec<crate::recorded::CellQuality>,
    /// Per model with outcomes: latency and cost estimates.
    pub models: Vec<crate::recorded::ModelEstimate>,
}

/// The 1-based line of a byte offset: the `line` by which a table names its
/// rules and SLOs (consumers find a table's SLO in the policy with it).
pub fn line_of(source: &str, offset: u32) -> u32 {
    let end = (offset as usize).min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u32
        + 1
}

fn text_of(source: &str, span: Span) -> String {
    let s = source.get(span.range()).unwrap_or("");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Compiles a checked policy. `source` is the policy's text (for line
/// numbers, rule and SLO texts and the source hash). A recorded profile
/// (`traffic NAME = file ...`) is compiled with its declared defaults and
/// warning `W0512`: use [`compile_recorded`] to supply its records.
pub fn compile(
    policy: &Policy,
    source: &str,
    options: &CompileOptions,
) -> Result<Compiled, Vec<Diagnostic>> {
    compile_recorded(policy, source, options, None)
}

/// [`compile`], with the records of the selected profile when it is a
/// recorded file (`recorded` is ignored for a declared profile): the mix is
/// the records' empirical distribution, and their outcomes re-estimate
/// quality per cell and model, and latency and cost per model.
pub fn compile_recorded(
    policy: &Policy,
    source: &str,
    options: &CompileOptions,
    recorded: Option<&routec_traffic::BoundTraffic>,
) -> Result<Compiled, Vec<Diagnostic>> {
    let whole = Span::new(0, 0);
    let mut warnings = Vec::new();
    if policy.rules.is_empty()
        || policy
            .rules
            .iter()
            .any(|r| r.plan.has_error() || r.cond.has_unknown())
    {
        return Err(vec![
            Diagnostic::error(
                codes::UNRESOLVED,
                whole,
                "the policy has errors, so it cannot be compiled",
            )
            .with_help("run `routec check` and fix the errors first"),
        ]);
    }
    let mut traffic = Traffic::for_policy(policy, options.traffic.as_deref()).map_err(|name| {
        vec![Diagnostic::error(
            codes::UNKNOWN_TRAFFIC_PROFILE,
            whole,
            format!("no traffic profile is named `{name}`"),
        )]
    })?;
    // A recorded profile with its records: the models re-estimated from the
    // outcomes replace the declared ones from here on.
    let adjusted;
    let mut estimates = None;
    // (An empty file has no mix: it is treated as not read.)
    let recorded = recorded.filter(|b| traffic.unreadable_file && !b.records.is_empty());
    let policy = match recorded {
        Some(bound) => {
            let rows = crate::recorded::Rows::of(policy, bound);
            let (p, models) = crate::recorded::adjust_models(policy, bound, &rows);
            adjusted = p;
            traffic = traffic.with_recorded(&adjusted, bound);
            if let Some(d) = adjusted
                .traffic
                .iter()
                .find(|d| Some(&d.name) == traffic.name.as_ref())
            {
                warnings.extend(crate::recorded::sample_warnings(
                    &adjusted, &d.name, d.span, bound,
                ));
            }
            estimates = Some(RecordedEstimates {
                profile: traffic.name.clone().unwrap_or_default(),
                requests: bound.records.len(),
                labeled: bound.labeled(),
                quality: Vec::new(),
                models,
            });
            &adjusted
        }
        None => policy,
    };
    if traffic.unreadable_file
        && let Some(d) = policy
            .traffic
            .iter()
            .find(|d| Some(&d.name) == traffic.name.as_ref())
    {
        warnings.push(
            Diagnostic::warning(
                codes::TRAFFIC_FILE_IGNORED,
                d.span,
                format!("the recorded traffic of `{}` was not read", d.name),
            )
            .with_help(
                "signals take their declared defaults; compile with `routec compile`, which reads the file",
            ),
        );
    }
    let mut part = match cells::partition(policy, &traffic) {
        Ok(p) => p,
        Err(cells::PartitionError::Unresolved) => {
            return Err(vec![Diagnostic::error(
                codes::UNRESOLVED,
                whole,
                "a rule or slice condition could not be resolved",
            )]);
        }
        Err(cells::PartitionError::TooManyPieces(n)) => {
            return Err(vec![
                Diagnostic::error(
                    codes::TOO_MANY_CELLS,
                    whole,
                    format!(
                        "the request space has more than {} cells ({n} so far)",
                        cells::MAX_PIECES
                    ),
                )
                .with_help("use fewer `by` dimensions or thresholds in `optimize`"),
            ]);
        }
    };
    if let (Some(bound), Some(est)) = (recorded, estimates.as_mut()) {
        let mut qualities: Vec<Vec<Option<f64>>> =
            part.cells.iter().map(|c| c.quality.clone()).collect();
        est.quality =
            crate::recorded::estimate_quality(policy, bound, &part.row_cells, &mut qualities);
        for (c, q) in part.cells.iter_mut().zip(qualities) {
            c.quality = q;
        }
    }
    let mut ev = Evaluator::new(policy, traffic.output_dist());
    let problem = Problem::build(policy, &part, &mut ev, traffic.qps);
    for (slo, why) in &problem.warnings {
        if let Some(s) = policy.slos.get(*slo) {
            warnings.push(Diagnostic::warning(
                codes::SLO_NOT_MODELLED,
                s.span,
                why.clone(),
            ));
        }
    }
    let vars = Vars::new(&part, &problem);
    let coefs = optimize::row_coefs(&problem, &ev, &part, &problem.rows);
    let rhs: Vec<f64> = problem.rows.iter().map(|r| r.rhs).collect();

    let (assign, objective, duals) = match optimize::solve(&problem, &part, &vars, &coefs, &rhs) {
        Ok(s) => s,
        Err(crate::lp::LpResult::Infeasible) => {
            return Err(infeasible(
                policy, source, &part, &problem, &ev, &vars, &coefs, &rhs,
            ));
        }
        Err(_) => {
            return Err(vec![
                Diagnostic::error(
                    codes::SOLVER_FAILED,
                    whole,
                    "the optimizer did not converge on this policy",
                )
                .with_help("this is a bug in routec; please report it with the policy"),
            ]);
        }
    };
    warnings.extend(cascade_warnings(policy, &part, &problem, &coefs, &assign));

    // Sensitivities: re-solve binding rows tightened by one step.
    let mut sensitivity = Vec::new();
    let mut fd_duals = Vec::new();
    let base_cost = overall_cost(&problem, &part, &assign);
    let base_quality = overall_quality(&problem, &part, &assign);
    for (k, row) in problem.rows.iter().enumerate() {
        let value = optimize::row_value(&part, &coefs[k], &assign);
        let binding = value >= rhs[k] - 1e-6 * rhs[k].abs().max(1e-3);
        let line = policy
            .slos
            .get(row.slo)
            .map_or(0, |s| line_of(source, s.span.start));
        if !binding {
            sensitivity.push((line, slo_label(policy, source, row), None));
            fd_duals.push(Some(0.0));
            continue;
        }
        let (step, step_text) = step_of(row);
        let mut rows2 = problem.rows.clone();
        let mut rhs2 = rhs.clone();
        let mut coefs2 = coefs.clone();
        match &mut rows2[k].kind {
            RowKind::Percentile { t, .. } => {
                let sign = if matches!(row.kind, RowKind::Percentile { upper: true, .. }) {
                    -1.0
                } else {
                    1.0
                };
                *t += sign * step;
                for term in rows2[k].terms.iter_mut() {
                    if let optimize::Coef::Exceed { t, .. } = &mut term.coef {
                        *t += sign * step;
                    }
                }
                coefs2[k] = optimize::row_coefs(&problem, &ev, &part, &rows2[k..=k]).remove(0);
            }
            RowKind::CostPerSuccess { limit, .. } => {
                let new = *limit - step;
                for term in rows2[k].terms.iter_mut() {
                    if let optimize::Coef::CostMinusQuality(x) = &mut term.coef {
                        *x = new;
                    }
                }
                coefs2[k] = optimize::row_coefs(&problem, &ev, &part, &rows2[k..=k]).remove(0);
            }
            _ => {
                rhs2[k] -= step;
            }
        }
        let text = match optimize::solve(&problem, &part, &vars, &coefs2, &rhs2) {
            Ok((a2, obj2, _)) => {
                let dc = (overall_cost(&problem, &part, &a2) - base_cost) * 1000.0;
                let dq = overall_quality(&problem, &part, &a2) - base_quality;
                fd_duals.push(Some((obj2 - objective).abs() / step));
                format!(
                    "{step_text} costs {}{}/1k, quality {}{}%",
                    if dc >= 0.0 { "+$" } else { "-$" },
                    money(dc.abs()),
                    if dq >= 0.0 { "+" } else { "-" },
                    cells::trim((dq.abs() * 1000.0).round() / 10.0),
                )
            }
            Err(_) => {
                fd_duals.push(None);
                format!("{step_text} cannot be met")
            }
        };
        sensitivity.push((line, slo_label(policy, source, row), Some(text)));
    }
    let _ = duals;

    let table = build_table(
        policy, source, options, &traffic, &part, &problem, &ev, &assign, &coefs, &fd_duals,
    );
    let cells_info = cell_infos(policy, &part, &problem, &assign, &table);
    if let Err(e) = table.validate() {
        return Err(vec![
            Diagnostic::error(
                codes::SOLVER_FAILED,
                whole,
                format!("the compiled table is inconsistent: {e}"),
            )
            .with_help("this is a bug in routec; please report it with the policy"),
        ]);
    }
    Ok(Compiled {
        table,
        diagnostics: warnings,
        cells: cells_info,
        sensitivity,
        recorded: estimates,
    })
}

fn money(x: f64) -> String {
    if x >= 0.00995 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// The tightening step of a row in its natural units, and how to say it.
fn step_of(row: &RowDef) -> (f64, String) {
    match &row.kind {
        RowKind::Percentile { q, ttft, upper, .. } => (
            0.1,
            format!(
                "{} p{} {}100ms",
                if *ttft { "ttft" } else { "latency" },
                cells::trim(q * 100.0),
                if *upper { "-" } else { "+" }
            ),
        ),
        RowKind::Linear { limit, .. } => {
            // The row is in the metric's units already.
            (0.01 * limit.abs().max(1e-9), "tightening by 1%".to_string())
        }
        RowKind::CostPerSuccess { limit, .. } => (0.1 * limit, "cost per success -10%".into()),
        RowKind::Parity { .. } => (0.01, "parity +1%".to_string()),
    }
}

fn overall_cost(p: &Problem, part: &Partition, a: &Assignment) -> f64 {
    let mut s = 0.0;
    for (c, cell) in part.cells.iter().enumerate() {
        for (o, x) in a[c].iter().enumerate() {
            if *x > 0.0 {
                s += cell.weight * x * p.evals[p.options[c][o].eval].cost(cell.prompt_mean);
            }
        }
    }
    s
}

fn overall_quality(p: &Problem, part: &Partition, a: &Assignment) -> f64 {
    let mut s = 0.0;
    for (c, cell) in part.cells.iter().enumerate() {
        for (o, x) in a[c].iter().enumerate() {
            if *x > 0.0 {
                s += cell.weight * x * p.evals[p.options[c][o].eval].quality;
            }
        }
    }
    s
}

fn slo_label(policy: &Policy, source: &str, row: &RowDef) -> String {
    let text = policy
        .slos
        .get(row.slo)
        .map(|s| text_of(source, s.span))
        .unwrap_or_default();
    match row.slice {
        Some(s) => format!("{text}: {}", policy.slice(s).name),
        None => text,
    }
}

/// The natural value of a row under an assignment.
fn row_natural(
    policy: &Policy,
    part: &Partition,
    p: &Problem,
    ev: &Evaluator,
    coefs: &[Vec<f64>],
    row: &RowDef,
    a: &Assignment,
) -> (f64, f64) {
    let _ = policy;
    match &row.kind {
        RowKind::Percentile {
            q, t, ttft, scope, ..
        } => {
            let mut parts: Vec<(f64, f64, &PlanEval)> = Vec::new();
            for (c, cell) in part.cells.iter().enumerate() {
                if let Some(s) = scope
                    && !cell.slices.get(s.index()).copied().unwrap_or(false)
                {
                    continue;
                }
                for (o, x) in a[c].iter().enumerate() {
                    if *x > 0.0 && cell.weight > 0.0 {
                        parts.push((cell.weight * x, cell.shift, &p.evals[p.options[c][o].eval]));
                    }
                }
            }
            (ev.mixture_quantile(&parts, *q, *ttft), *t)
        }
        RowKind::Linear { sign, limit } => (sign * optimize::row_value(part, coefs, a), *limit),
        RowKind::CostPerSuccess { limit, scope } => {
            let (mut k, mut q) = (0.0, 0.0);
            for (c, cell) in part.cells.iter().enumerate() {
                if let Some(s) = scope
                    && !cell.slices.get(s.index()).copied().unwrap_or(false)
                {
                    continue;
                }
                for (o, x) in a[c].iter().enumerate() {
                    let e = &p.evals[p.options[c][o].eval];
                    k += cell.weight * x * e.cost(cell.prompt_mean);
                    q += cell.weight * x * e.quality;
                }
            }
            (model::cost_per_success(k, q), *limit)
        }
        RowKind::Parity {
            a: sa,
            b: sb,
            offset,
        } => {
            let qa = slice_quality(part, p, a, *sa);
            let qb = slice_quality(part, p, a, *sb);
            (qa, qb + offset)
        }
    }
}

fn slice_quality(part: &Partition, p: &Problem, a: &Assignment, s: SliceId) -> f64 {
    let (mut q, mut w) = (0.0, 0.0);
    for (c, cell) in part.cells.iter().enumerate() {
        if !cell.slices.get(s.index()).copied().unwrap_or(false) {
            continue;
        }
        w += cell.weight;
        for (o, x) in a[c].iter().enumerate() {
            q += cell.weight * x * p.evals[p.options[c][o].eval].quality;
        }
    }
    if w > 0.0 { q / w } else { 0.0 }
}

/// Shows a metric value in the SLO's unit.
fn show(policy: &Policy, row: &RowDef, v: f64) -> String {
    let slo = &policy.slos[row.slo];
    match (&slo.metric, &row.kind) {
        (_, RowKind::Percentile { .. }) => cells::number(&SignalType::Duration, v),
        (MetricDef::Cost(_) | MetricDef::Spend(_), _) => format!("${}", money_plain(v)),
        (MetricDef::Quality(_) | MetricDef::Share(_), _) => {
            format!("{}%", cells::trim((v * 1000.0).round() / 10.0))
        }
        _ => cells::trim(v),
    }
}

fn money_plain(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

#[expect(clippy::too_many_arguments, reason = "the whole problem")]
fn infeasible(
    policy: &Policy,
    source: &str,
    part: &Partition,
    p: &Problem,
    ev: &Evaluator,
    vars: &Vars,
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
) -> Vec<Diagnostic> {
    let set = optimize::conflict(p, part, vars, coefs, rhs);
    let labels: Vec<String> = set
        .iter()
        .map(|&k| slo_label(policy, source, &p.rows[k]))
        .collect();
    let mut out = Vec::new();
    for (i, &k) in set.iter().enumerate() {
        let row = &p.rows[k];
        let Some(slo) = policy.slos.get(row.slo) else {
            continue;
        };
        let best = best_alone(policy, part, p, ev, vars, coefs, k);
        let others: Vec<String> = labels
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, l)| format!("`{l}`"))
            .collect();
        let message = if others.is_empty() {
            format!("`{}` cannot be met by any routing", labels[i])
        } else {
            format!(
                "slos cannot all be met: `{}` conflicts with {}",
                labels[i],
                others.join(" and ")
            )
        };
        let mut d = Diagnostic::error(codes::SLOS_CONFLICT, slo.span, message)
            .with_label(if others.is_empty() {
                "no assignment meets this".to_string()
            } else {
                "cannot hold together with the others".to_string()
            })
            .with_help(format!(
                "alone, the best value any routing reaches is {best}"
            ));
        for &j in &set {
            if j != k
                && let Some(o) = policy.slos.get(p.rows[j].slo)
                && o.span != slo.span
            {
                d = d.with_secondary(o.span, "conflicts with this");
            }
        }
        out.push(d);
    }
    if out.is_empty() {
        out.push(Diagnostic::error(
            codes::SLOS_CONFLICT,
            Span::new(0, 0),
            "slos cannot all be met",
        ));
    }
    out
}

/// The best value of a row's metric alone (every cell picks its best option).
fn best_alone(
    policy: &Policy,
    part: &Partition,
    p: &Problem,
    ev: &Evaluator,
    vars: &Vars,
    coefs: &[Vec<Vec<f64>>],
    k: usize,
) -> String {
    let row = &p.rows[k];
    // The assignment minimizing the row.
    let greedy = |c_of: &dyn Fn(usize, usize) -> f64| -> Assignment {
        (0..part.cells.len())
            .map(|c| {
                let n = p.options[c].len();
                let mut v = vec![0.0; n];
                let o = if vars.first[c].is_some() {
                    (0..n)
                        .min_by(|a, b| c_of(c, *a).total_cmp(&c_of(c, *b)))
                        .unwrap_or(0)
                } else {
                    optimize::fixed_choice(p, c)
                };
                v[o] = 1.0;
                v
            })
            .collect()
    };
    match &row.kind {
        RowKind::Percentile {
            q,
            upper,
            ttft,
            scope,
            ..
        } => {
            // Bisection on the threshold: the least T whose best exceedance
            // is within 1 − q.
            let mut lo = 1e-4f64.ln();
            let mut hi = 1e6f64.ln();
            let ws = match scope {
                Some(s) => p.slice_weight[s.index()],
                None => 1.0,
            };
            let in_scope = |c: usize| {
                scope.is_none_or(|s| {
                    part.cells[c]
                        .slices
                        .get(s.index())
                        .copied()
                        .unwrap_or(false)
                })
            };
            let best_exceed = |t: f64| -> f64 {
                let mut s = 0.0;
                for (c, cell) in part.cells.iter().enumerate() {
                    if !in_scope(c) || cell.weight <= 0.0 {
                        continue;
                    }
                    let vals = p.options[c]
                        .iter()
                        .map(|o| ev.exceedance(&p.evals[o.eval], t - cell.shift, *ttft));
                    let v = if vars.first[c].is_some() {
                        if *upper {
                            vals.fold(f64::INFINITY, f64::min)
                        } else {
                            vals.fold(0.0, f64::max)
                        }
                    } else {
                        ev.exceedance(
                            &p.evals[p.options[c][optimize::fixed_choice(p, c)].eval],
                            t - cell.shift,
                            *ttft,
                        )
                    };
                    s += cell.weight * v;
                }
                s / ws
            };
            for _ in 0..40 {
                let mid = (lo + hi) / 2.0;
                if best_exceed(mid.exp()) > 1.0 - q {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            show(policy, row, ((lo + hi) / 2.0).exp())
        }
        _ => {
            let a = greedy(&|c, o| coefs[k][c][o]);
            let (v, _) = row_natural(policy, part, p, ev, &coefs[k], row, &a);
            show(policy, row, v)
        }
    }
}

/// Warns when the cells of a fixed cascade rule alone exceed a latency SLO.
fn cascade_warnings(
    policy: &Policy,
    part: &Partition,
    p: &Problem,
    coefs: &[Vec<Vec<f64>>],
    a: &Assignment,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (k, row) in p.rows.iter().enumerate() {
        if !matches!(row.kind, RowKind::Percentile { upper: true, .. }) {
            continue;
        }
        for (ri, rule) in policy.rules.iter().enumerate() {
            let is_cascade = matches!(rule.plan, PlanDef::Cascade { .. });
            if !is_cascade {
                continue;
            }
            let mut s = 0.0;
            for (c, cell) in part.cells.iter().enumerate() {
                if cell.rule == ri {
                    for (o, x) in a[c].iter().enumerate() {
                        s += cell.weight * x * coefs[k][c][o];
                    }
                }
            }
            if s > row.rhs + 1e-12
                && let Some(slo) = policy.slos.get(row.slo)
            {
                {
                    out.push(
                        Diagnostic::warning(
                            codes::CASCADE_BREAKS_SLO,
                            rule.span,
                            "this cascade alone breaks a latency slo",
                        )
                        .with_label("escalated requests pay both latencies")
                        .with_secondary(slo.span, "the slo it breaks"),
                    );
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------- the table

struct Plans {
    list: Vec<t::Plan>,
    by_text: HashMap<String, u32>,
}

impl Plans {
    fn add(&mut self, policy: &Policy, plan: &PlanDef) -> Option<u32> {
        let (text, kind) = match plan {
            PlanDef::Target(m) => (
                policy.model(*m).name.clone(),
                t::PlanKind::Target { model: m.0 },
            ),
            PlanDef::Chain(ps) => {
                let mut idx = Vec::new();
                for p in ps {
                    idx.push(self.add(policy, p)?);
                }
                let text = ps
                    .iter()
                    .map(|p| plan_text(policy, p))
                    .collect::<Vec<_>>()
                    .join(" else ");
                (text, t::PlanKind::Chain { plans: idx })
            }
            PlanDef::Cascade { stages, accept } => (
                plan_text(policy, plan),
                t::PlanKind::Cascade {
                    models: stages.iter().map(|m| m.0).collect(),
                    accept: accept.as_ref().map_or(0.0, |a| a.threshold),
                },
            ),
            PlanDef::Split(_) | PlanDef::Optimize { .. } | PlanDef::Error => return None,
        };
        if let Some(&i) = self.by_text.get(&text) {
            return Some(i);
        }
        let i = self.list.len() as u32;
        self.list.push(t::Plan {
            text: text.clone(),
            kind,
        });
        self.by_text.insert(text, i);
        Some(i)
    }

    /// The leaf splits of choosing `plan` with share `share`.
    fn splits(&mut self, policy: &Policy, plan: &PlanDef, share: f64, out: &mut Vec<t::Split>) {
        match plan {
            PlanDef::Split(es) => {
                for (m, s) in es {
                    self.splits(policy, &PlanDef::Target(*m), share * s, out);
                }
            }
            p => {
                if let Some(i) = self.add(policy, p) {
                    match out.iter_mut().find(|s| s.plan == i) {
                        Some(s) => s.share += share,
                        None => out.push(t::Split { plan: i, share }),
                    }
                }
            }
        }
    }
}

/// A plan in the language's syntax.
pub fn plan_text(policy: &Policy, plan: &PlanDef) -> String {
    let name = |m: &ModelId| policy.model(*m).name.clone();
    match plan {
        PlanDef::Target(m) => name(m),
        PlanDef::Chain(ps) => ps
            .iter()
            .map(|p| plan_text(policy, p))
            .collect::<Vec<_>>()
            .join(" else "),
        PlanDef::Cascade { stages, accept } => {
            let chain = stages.iter().map(name).collect::<Vec<_>>().join(" -> ");
            match accept {
                Some(a) => format!(
                    "cascade {chain} accept when {} {} {}%",
                    a.measure,
                    cmp_text(a.op),
                    cells::trim(a.threshold * 100.0)
                ),
                None => format!("cascade {chain}"),
            }
        }
        PlanDef::Split(es) => format!(
            "split {{ {} }}",
            es.iter()
                .map(|(m, s)| format!("{} {}%", name(m), cells::trim(s * 100.0)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PlanDef::Optimize { candidates, .. } => format!(
            "optimize [{}]",
            candidates
                .iter()
                .map(|p| plan_text(policy, p))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PlanDef::Error => "?".to_string(),
    }
}

fn cmp_text(op: routec_syntax::ast::CmpOp) -> &'static str {
    use routec_syntax::ast::CmpOp::*;
    match op {
        Eq => "==",
        Ne => "!=",
        Lt => "<",
        Le => "<=",
        Gt => ">",
        Ge => ">=",
    }
}

fn value_f64(v: &Value) -> f64 {
    match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Enum(i) => *i as f64,
        Value::Number(x) => *x,
    }
}

fn fault_settings(f: &ir::FaultSettings) -> t::FaultSettings {
    t::FaultSettings {
        timeout: f.timeout,
        ttft_timeout: f.ttft_timeout,
        retry: f.retry.as_ref().map(|r| t::Retry {
            attempts: r.count,
            on: r
                .on
                .iter()
                .map(|o| match o {
                    RetryOn::Status(s) => s.to_string(),
                    RetryOn::Class(c) => format!("{c}xx"),
                    RetryOn::Timeout => "timeout".to_string(),
                })
                .collect(),
            backoff: r.backoff.unwrap_or(0.0),
        }),
        cooldown: f.cooldown.map(|(d, n)| t::Cooldown {
            duration: d,
            after_failures: n,
        }),
        hedge_after: f.hedge,
    }
}

fn period_name(p: ir::Period) -> &'static str {
    match p {
        ir::Period::Hour => "hour",
        ir::Period::Day => "day",
        ir::Period::Week => "week",
        ir::Period::Month => "month",
    }
}

/// The splits of every cell under an assignment.
fn cell_splits(
    policy: &Policy,
    part: &Partition,
    p: &Problem,
    a: &Assignment,
    plans: &mut Plans,
) -> Vec<Vec<t::Split>> {
    part.cells
        .iter()
        .enumerate()
        .map(|(c, cell)| {
            let rule = &policy.rules[cell.rule];
            let mut out = Vec::new();
            for (o, x) in a[c].iter().enumerate() {
                if *x <= 0.0 {
                    continue;
                }
                let plan = match (&rule.plan, p.options[c][o].candidate) {
                    (PlanDef::Optimize { candidates, .. }, Some(i)) => &candidates[i],
                    (plan, _) => plan,
                };
                plans.splits(policy, plan, *x, &mut out);
            }
            if out.is_empty() {
                // Unreachable for a checked policy; keep the table valid.
                if let Some(i) = policy
                    .baseline
                    .and_then(|b| plans.add(policy, &PlanDef::Target(b)))
                {
                    out.push(t::Split {
                        plan: i,
                        share: 1.0,
                    });
                }
            }
            let total: f64 = out.iter().map(|s| s.share).sum();
            if total > 0.0 {
                out.iter_mut().for_each(|s| s.share /= total);
            }
            out
        })
        .collect()
}

struct MetricsCx<'a> {
    part: &'a Partition,
    p: &'a Problem,
    ev: &'a Evaluator<'a>,
    weights: (f64, f64, f64),
}

impl MetricsCx<'_> {
    /// Metrics of a set of cells under `a`; `quantiles` reuses known
    /// latency quantiles (they do not depend on prompt lengths).
    fn metrics(
        &self,
        cellset: &[usize],
        a: &Assignment,
        quantiles: Option<(t::Quantiles, t::Quantiles)>,
    ) -> t::Metrics {
        let mut parts: Vec<(f64, f64, &PlanEval)> = Vec::new();
        let (mut w, mut l, mut k, mut q) = (0.0, 0.0, 0.0, 0.0);
        let (mut bl, mut bk, mut bq) = (0.0, 0.0, 0.0);
        for &c in cellset {
            let cell = &self.part.cells[c];
            // Cells without traffic are still described by their own figures.
            let cw = if cellset.len() == 1 {
                cell.weight.max(1e-300)
            } else {
                cell.weight
            };
            if cw <= 0.0 {
                continue;
            }
            w += cw;
            for (o, x) in a[c].iter().enumerate() {
                if *x <= 0.0 {
                    continue;
                }
                let e = &self.p.evals[self.p.options[c][o].eval];
                parts.push((cw * x, cell.shift, e));
                let (ll, kk, qq) = self.p.lcq(self.part, c, self.p.options[c][o].eval);
                l += cw * x * ll;
                k += cw * x * kk;
                q += cw * x * qq;
            }
            if let Some(b) = self.p.baseline[c] {
                let (ll, kk, qq) = self.p.lcq(self.part, c, b);
                bl += cw * ll;
                bk += cw * kk;
                bq += cw * qq;
            }
        }
        if w <= 0.0 {
            return t::Metrics::default();
        }
        let quant = |ttft: bool| t::Quantiles {
            p50: self.ev.mixture_quantile(&parts, 0.5, ttft),
            p95: self.ev.mixture_quantile(&parts, 0.95, ttft),
            p99: self.ev.mixture_quantile(&parts, 0.99, ttft),
        };
        let (ttft, latency) = quantiles.unwrap_or_else(|| (quant(true), quant(false)));
        let (l, k, q) = (l / w, k / w, q / w);
        let score = if bl > 0.0 {
            model::composite_score(self.weights, (l, k, q), (bl / w, bk / w, bq / w))
        } else {
            0.0
        };
        let cps = model::cost_per_success(k, q);
        t::Metrics {
            ttft,
            latency,
            cost_per_1k_requests: k * 1000.0,
            cost_per_success: if cps.is_finite() { cps } else { 0.0 },
            quality: q,
            score,
        }
    }
}

#[expect(clippy::too_many_arguments, reason = "the whole compilation")]
fn build_table(
    policy: &Policy,
    source: &str,
    options: &CompileOptions,
    traffic: &Traffic,
    part: &Partition,
    p: &Problem,
    ev: &Evaluator,
    a: &Assignment,
    coefs: &[Vec<Vec<f64>>],
    fd_duals: &[Option<f64>],
) -> t::Table {
    let signals = policy
        .signals
        .iter()
        .map(|s| t::Signal {
            name: s.name.clone(),
            kind: match &s.ty {
                SignalType::Bool => t::SignalKind::Bool,
                SignalType::Int => t::SignalKind::Int,
                SignalType::Tokens => t::SignalKind::Tokens,
                SignalType::Ratio => t::SignalKind::Ratio,
                SignalType::Duration => t::SignalKind::Duration,
                SignalType::Money => t::SignalKind::Money,
                SignalType::Enum(vs) => t::SignalKind::Enum {
                    variants: vs.clone(),
                },
            },
            source: match &s.source {
                SignalSource::Header(h) => t::Source::Header { name: h.clone() },
                SignalSource::Metadata(k) => t::Source::Metadata { key: k.clone() },
                SignalSource::Classifier { name, cost } => t::Source::Classifier {
                    name: name.clone(),
                    cost: cost.unwrap_or(0.0),
                },
                SignalSource::Builtin | SignalSource::Unknown => t::Source::Builtin,
            },
            default: s.default.as_ref().map_or(0.0, value_f64),
        })
        .collect();
    let models = policy
        .models
        .iter()
        .map(|m| t::Model {
            name: m.name.clone(),
            provider: m.provider.clone(),
            endpoint: m.endpoint.as_ref().map(|e| match e {
                StrOrEnv::Str(u) => t::Endpoint::Url { url: u.clone() },
                StrOrEnv::Env(v) => t::Endpoint::Env { var: v.clone() },
            }),
            upstream: m.upstream.clone(),
            api_key_env: match &m.api_key {
                Some(StrOrEnv::Env(v)) => Some(v.clone()),
                _ => None,
            },
            params: m
                .params
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        match v {
                            ParamValue::Str(s) | ParamValue::Word(s) => t::Param::String(s.clone()),
                            ParamValue::Number(x) => t::Param::Number(*x),
                            ParamValue::Bool(b) => t::Param::Bool(*b),
                            ParamValue::Env(v) => t::Param::String(format!("env(\"{v}\")")),
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            context_tokens: m.context,
            fallback: m.fallback.map(|f| f.0),
        })
        .collect();
    let mut plans = Plans {
        list: Vec::new(),
        by_text: HashMap::new(),
    };
    // Every rule's plans first, in order, so indices read naturally.
    for rule in &policy.rules {
        match &rule.plan {
            PlanDef::Optimize { candidates, .. } => {
                for c in candidates {
                    let mut v = Vec::new();
                    plans.splits(policy, c, 1.0, &mut v);
                }
            }
            plan => {
                let mut v = Vec::new();
                plans.splits(policy, plan, 1.0, &mut v);
            }
        }
    }
    let splits = cell_splits(policy, part, p, a, &mut plans);
    let rules = policy
        .rules
        .iter()
        .map(|r| t::Rule {
            line: line_of(source, r.span.start),
            text: text_of(source, r.span),
        })
        .collect();

    // Leaves: one per (rule, splits); the cell when only one cell uses it.
    let mut leaf_of: HashMap<(usize, Vec<(u32, u64)>), u32> = HashMap::new();
    let mut leaves: Vec<t::Leaf> = Vec::new();
    let mut leaf_cells: Vec<Vec<usize>> = Vec::new();
    let mut cell_leaf = Vec::with_capacity(part.cells.len());
    for (c, cell) in part.cells.iter().enumerate() {
        let key = (
            cell.rule,
            splits[c]
                .iter()
                .map(|s| (s.plan, s.share.to_bits()))
                .collect(),
        );
        let l = *leaf_of.entry(key).or_insert_with(|| {
            leaves.push(t::Leaf {
                rule: cell.rule as u32,
                cell: None,
                splits: splits[c].clone(),
            });
            leaf_cells.push(Vec::new());
            (leaves.len() - 1) as u32
        });
        leaf_cells[l as usize].push(c);
        cell_leaf.push(l);
    }
    for (l, cs) in leaf_cells.iter().enumerate() {
        if cs.len() == 1 {
            leaves[l].cell = Some(cs[0] as u32);
        }
    }
    let pieces: Vec<(Cube, u32)> = part
        .pieces
        .iter()
        .map(|pc| (pc.cube.clone(), cell_leaf[pc.cell]))
        .collect();
    let (root, nodes) = crate::diagram::build(&part.space, &part.order, pieces);

    let weights = match &policy.objective {
        Some(ir::ObjectiveDef::Weighted {
            latency,
            cost,
            quality,
        }) => (*latency, *cost, *quality),
        _ => (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0),
    };
    let mcx = MetricsCx {
        part,
        p,
        ev,
        weights,
    };
    type Mix = Vec<(usize, u64, u64)>;
    let mut quantile_memo: HashMap<Mix, (t::Quantiles, t::Quantiles)> = HashMap::new();
    let cells_out: Vec<t::Cell> = part
        .cells
        .iter()
        .enumerate()
        .map(|(c, cell)| {
            let key: Vec<(usize, u64, u64)> = a[c]
                .iter()
                .enumerate()
                .filter(|(_, x)| **x > 0.0)
                .map(|(o, x)| (p.options[c][o].eval, x.to_bits(), cell.shift.to_bits()))
                .collect();
            let known = quantile_memo.get(&key).cloned();
            let m = mcx.metrics(&[c], a, known);
            quantile_memo
                .entry(key)
                .or_insert_with(|| (m.ttft.clone(), m.latency.clone()));
            t::Cell {
                predicate: cells::predicate(policy, &part.space, &cell.key),
                rule: cell.rule as u32,
                share: cell.weight,
                splits: splits[c].clone(),
                predicted: m,
            }
        })
        .collect();
    let all: Vec<usize> = (0..part.cells.len()).collect();
    let predicted = mcx.metrics(&all, a, None);

    let slos = p
        .rows
        .iter()
        .enumerate()
        .map(|(k, row)| {
            let (value, limit) = row_natural(policy, part, p, ev, &coefs[k], row, a);
            let lhs = optimize::row_value(part, &coefs[k], a);
            let ok = lhs <= row.rhs + 1e-5 * row.rhs.abs().max(1.0);
            let slo = &policy.slos[row.slo];
            t::SloStatus {
                constraint: slo_label(policy, source, row),
                line: line_of(source, slo.span.start),
                value: if value.is_finite() { value } else { 0.0 },
                limit,
                ok,
                dual: fd_duals.get(k).copied().flatten(),
            }
        })
        .collect();

    let marginals = part
        .space
        .dims
        .iter()
        .map(|dim| marginal(dim, traffic))
        .collect();

    let faults = t::Faults {
        defaults: fault_settings(&policy.faults.defaults),
        per_model: policy
            .faults
            .overrides
            .iter()
            .map(|(m, f)| (policy.model(*m).name.clone(), fault_settings(f)))
            .collect(),
    };
    let learn = t::Learn {
        explore: policy.learn.explore.as_ref().map(|e| t::Explore {
            share: e.share,
            budget: e.budget.map(|b| b.0),
            period: e.budget.map(|b| period_name(b.1).to_string()),
        }),
        drift: policy
            .learn
            .drift
            .iter()
            .map(|d| t::Drift {
                measure: d.measure.clone(),
                threshold: d.threshold,
                window: d.window,
                action: match d.action {
                    DriftAction::Alert => "alert",
                    DriftAction::Freeze => "freeze",
                    DriftAction::Rollback => "rollback",
                }
                .to_string(),
            })
            .collect(),
    };
    t::Table {
        schema_version: t::SCHEMA_VERSION,
        language_version: t::LANGUAGE_VERSION.to_string(),
        compiler_version: options.compiler_version.clone(),
        source_hash: t::source_hash(source),
        policy: t::PolicyInfo {
            name: policy.name.clone().unwrap_or_else(|| "policy".to_string()),
            owner: policy.owner.clone(),
            baseline: policy.baseline.map(|b| b.0),
        },
        signals,
        models,
        plans: plans.list,
        rules,
        diagram: t::Diagram { root, nodes },
        leaves,
        faults,
        learn,
        assumed: Some(t::Assumed {
            traffic: traffic
                .name
                .clone()
                .unwrap_or_else(|| "uniform".to_string()),
            marginals,
            cells: cells_out,
            predicted,
            slos,
        }),
    }
}

/// The share of each bin of a dimension: from the recorded requests when
/// the profile is recorded, else from the signal's marginal.
fn marginal(dim: &routec_check::space::Dim, traffic: &Traffic) -> t::Marginal {
    let signal = dim.signal.0;
    let m = &traffic.marginals[dim.signal.index()];
    let column: Option<Vec<f64>> = traffic.rows.as_ref().map(|rows| {
        rows.values
            .iter()
            .filter_map(|r| r.get(dim.signal.index()).copied())
            .collect()
    });
    let share = |ok: &dyn Fn(f64) -> bool| -> Option<f64> {
        let col = column.as_ref()?;
        let n = col.len().max(1) as f64;
        Some(col.iter().filter(|x| ok(**x)).count() as f64 / n)
    };
    if !dim.ty.is_numeric() {
        return t::Marginal {
            signal,
            cuts: Vec::new(),
            shares: dim
                .atoms
                .iter()
                .map(|a| match a {
                    Atom::Value(v) => share(&|x| x == *v as f64).unwrap_or_else(|| m.atom(a)),
                    _ => m.atom(a),
                })
                .collect(),
        };
    }
    // Bins between the finite cut points of the atoms.
    let mut cuts: Vec<f64> = Vec::new();
    for a in &dim.atoms {
        match a {
            Atom::Int { hi: Some(h), .. } => cuts.push(*h as f64),
            Atom::Open { hi: Some(h), .. } => cuts.push(*h),
            _ => {}
        }
    }
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let (lo, hi) = dim.ty.domain();
    cuts.retain(|c| lo.is_none_or(|l| *c > l) && hi.is_none_or(|h| *c < h));
    let mut shares = Vec::with_capacity(cuts.len() + 1);
    let mut prev: Option<f64> = None;
    for c in cuts.iter().copied().map(Some).chain(std::iter::once(None)) {
        let p = share(&|x| prev.is_none_or(|l| x >= l) && c.is_none_or(|h| x < h))
            .unwrap_or_else(|| interval_mass(m, prev, c));
        shares.push(p);
        prev = c;
    }
    let total: f64 = shares.iter().sum();
    if total > 0.0 {
        shares.iter_mut().for_each(|s| *s /= total);
    }
    t::Marginal {
        signal,
        cuts,
        shares,
    }
}

fn interval_mass(m: &Marginal, lo: Option<f64>, hi: Option<f64>) -> f64 {
    // `[lo, hi)` as an open interval plus the point `lo`.
    let open = m.atom(&Atom::Open { lo, hi });
    let point = lo.map_or(0.0, |l| m.atom(&Atom::Point(l)));
    open + point
}

fn cell_infos(
    policy: &Policy,
    part: &Partition,
    p: &Problem,
    a: &Assignment,
    table: &t::Table,
) -> Vec<CellInfo> {
    let mut boxes: Vec<Vec<Vec<(usize, ValueSet)>>> = vec![Vec::new(); part.cells.len()];
    let mut examples: Vec<Vec<Vec<(usize, f64)>>> = vec![Vec::new(); part.cells.len()];
    for pc in &part.pieces {
        let mut b = Vec::new();
        for (d, set) in &pc.cube.dims {
            let dim = part.space.dim(*d);
            let vs = if dim.ty.is_numeric() {
                ValueSet::Ranges(
                    set.iter()
                        .map(|i| match dim.atoms[i] {
                            Atom::Int { lo, hi } => (
                                (lo != i64::MIN).then_some(lo as f64),
                                true,
                                hi.map(|h| h as f64),
                                false,
                            ),
                            Atom::Point(x) => (Some(x), true, Some(x), true),
                            Atom::Open { lo, hi } => (lo, false, hi, false),
                            Atom::Value(v) => (Some(v as f64), true, Some(v as f64), true),
                        })
                        .collect(),
                )
            } else {
                ValueSet::Values(set.iter().collect())
            };
            b.push((dim.signal.index(), vs));
        }
        boxes[pc.cell].push(b);
        examples[pc.cell].push(
            cells::example(&part.space, &pc.cube)
                .into_iter()
                .map(|(s, v)| (s.index(), value_f64(&v)))
                .collect(),
        );
    }
    let cells_out = table.assumed.as_ref().map(|x| &x.cells);
    part.cells
        .iter()
        .enumerate()
        .map(|(c, cell)| {
            let (mut k, mut q) = (0.0, 0.0);
            for (o, x) in a[c].iter().enumerate() {
                let e = &p.evals[p.options[c][o].eval];
                k += x * e.cost(cell.prompt_mean);
                q += x * e.quality;
            }
            CellInfo {
                rule: cell.rule,
                predicate: cells::predicate(policy, &part.space, &cell.key),
                weight: cell.weight,
                splits: cells_out
                    .and_then(|cs| cs.get(c))
                    .map(|x| x.splits.clone())
                    .unwrap_or_default(),
                boxes: std::mem::take(&mut boxes[c]),
                examples: std::mem::take(&mut examples[c]),
                cost: k,
                quality: q,
            }
        })
        .collect()
}
