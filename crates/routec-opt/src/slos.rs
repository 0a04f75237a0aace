//! SLO rows after the solve: their natural values (the table's
//! statuses), what tightening each binding one costs (a re-solve per row),
//! the diagnosis of SLOs no routing can meet, and cascade warnings.

use routec_check::ir::{MetricDef, PlanDef, Policy, SignalType, SliceId};
use routec_syntax::{Diagnostic, Span};

use crate::cells::{self, Partition};
use crate::codes;
use crate::eval::{Evaluator, PlanEval};
use crate::model;
use crate::objective;
use crate::optimize::{self, Assignment, Problem, RowDef, RowKind, Vars};
use crate::solved::{SloRow, Solved, Tightening};

/// An SLO row's value and limit under an assignment, in natural units, and
/// whether it holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Status {
    pub value: f64,
    pub limit: f64,
    pub ok: bool,
}

/// Every row's [`Status`] under `a`.
pub(crate) fn statuses(s: &Solved, a: &Assignment) -> Vec<Status> {
    s.problem
        .rows
        .iter()
        .enumerate()
        .map(|(k, row)| {
            let (value, limit) = row_natural(&s.part, &s.problem, &s.ev, &s.coefs[k], row, a);
            let lhs = optimize::row_value(&s.part, &s.coefs[k], a);
            Status {
                value: if value.is_finite() { value } else { 0.0 },
                limit,
                ok: lhs <= row.rhs + 1e-5 * row.rhs.abs().max(1.0),
            }
        })
        .collect()
}

/// The typed rows: statuses of the solution and the prices of tightening.
pub(crate) fn rows(s: &Solved, prices: Vec<(Option<Tightening>, Option<f64>)>) -> Vec<SloRow> {
    statuses(s, &s.assign)
        .into_iter()
        .zip(prices)
        .zip(&s.problem.rows)
        .map(|((st, (tightening, dual)), row)| SloRow {
            slo: row.slo,
            slice: row.slice,
            value: st.value,
            limit: st.limit,
            ok: st.ok,
            tightening,
            dual,
        })
        .collect()
}

/// Per row: what tightening it by one step costs (`None` when it is not
/// binding) and the objective's finite-difference dual (0 when not
/// binding, `None` when the tighter row cannot be met). `None` when
/// `cancelled()` turned true.
pub(crate) fn sensitivities(
    s: &Solved,
    cancelled: &dyn Fn() -> bool,
) -> Option<Vec<(Option<Tightening>, Option<f64>)>> {
    let (problem, part) = (&s.problem, &s.part);
    let space = s.space();
    let objective = objective::value(&space, &s.goal, &s.assign);
    let (base_cost, base_quality) = totals(s, &s.assign);
    let mut out = Vec::with_capacity(problem.rows.len());
    for (k, row) in problem.rows.iter().enumerate() {
        if cancelled() {
            return None;
        }
        let value = optimize::row_value(part, &s.coefs[k], &s.assign);
        let binding = value >= s.rhs[k] - 1e-6 * s.rhs[k].abs().max(1e-3);
        if !binding {
            out.push((None, Some(0.0)));
            continue;
        }
        let (step, step_text) = step_of(row);
        let mut rows2 = problem.rows.clone();
        let mut rhs2 = s.rhs.clone();
        let mut coefs2 = s.coefs.clone();
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
                coefs2[k] = optimize::row_coefs(problem, &s.ev, part, &rows2[k..=k]).remove(0);
            }
            RowKind::CostPerSuccess { limit, .. } => {
                let new = *limit - step;
                for term in rows2[k].terms.iter_mut() {
                    if let optimize::Coef::CostMinusQuality(x) = &mut term.coef {
                        *x = new;
                    }
                }
                coefs2[k] = optimize::row_coefs(problem, &s.ev, part, &rows2[k..=k]).remove(0);
            }
            _ => {
                rhs2[k] -= step;
            }
        }
        out.push(match objective::solve(&space, &s.goal, &coefs2, &rhs2) {
            Ok(a2) => {
                let obj2 = objective::value(&space, &s.goal, &a2);
                let (cost, quality) = totals(s, &a2);
                (
                    Some(Tightening {
                        step: step_text,
                        change: Some(((cost - base_cost) * 1000.0, quality - base_quality)),
                    }),
                    Some((obj2 - objective).abs() / step),
                )
            }
            Err(_) => (
                Some(Tightening {
                    step: step_text,
                    change: None,
                }),
                None,
            ),
        });
    }
    Some(out)
}

/// Expected cost and quality per request under `a`, over all cells.
fn totals(s: &Solved, a: &Assignment) -> (f64, f64) {
    let (mut k, mut q) = (0.0, 0.0);
    for (c, cell) in s.part.cells.iter().enumerate() {
        for (o, x) in a[c].iter().enumerate() {
            if *x > 0.0 {
                let e = &s.problem.evals[s.problem.options[c][o].eval];
                k += cell.weight * x * e.cost(cell.prompt_mean);
                q += cell.weight * x * e.quality;
            }
        }
    }
    (k, q)
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

/// The constraint as written, with the slice of a `for each slice` row:
/// `quality >= 75% for each slice: english`.
pub(crate) fn slo_label(policy: &Policy, source: &str, row: &RowDef) -> String {
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
    part: &Partition,
    p: &Problem,
    ev: &Evaluator,
    coefs: &[Vec<f64>],
    row: &RowDef,
    a: &Assignment,
) -> (f64, f64) {
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
pub(crate) fn infeasible(
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
            let (v, _) = row_natural(part, p, ev, &coefs[k], row, &a);
            show(policy, row, v)
        }
    }
}

/// Warns when the cells of a fixed cascade rule alone exceed a latency SLO.
pub(crate) fn cascade_warnings(solved: &Solved) -> Vec<Diagnostic> {
    let (policy, part, p, coefs, a) = (
        &solved.policy,
        &solved.part,
        &solved.problem,
        &solved.coefs,
        &solved.assign,
    );
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

/// The text a span covers, whitespace runs collapsed.
pub(crate) fn text_of(source: &str, span: Span) -> String {
    let s = source.get(span.range()).unwrap_or("");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
