//! SLO rows after the solve: their natural values (the table's
//! statuses), what tightening each binding one costs (a re-solve per row),
//! the diagnosis of SLOs no routing can meet, and cascade warnings.

use routec_check::ir::{MetricDef, PlanDef, Policy, SignalType, SliceId};
use routec_syntax::ast::CmpOp;
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
            RowKind::CostPerSuccess { .. } => {
                for term in rows2[k].terms.iter_mut() {
                    if let optimize::Coef::CostMinusQuality(x) = &mut term.coef {
                        *x -= step;
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

/// At most this many independent conflicting sets are reported in one run.
const MAX_CONFLICT_SETS: usize = 8;

/// A fixed rule is named as the cause of a conflict when, at the best
/// routing for the SLO, its requests alone use at least this share of what
/// the SLO allows.
const FIXED_RULE_CAUSE: f64 = 0.5;

/// The diagnosis of SLOs no routing can meet. Every independent
/// conflicting set is found in one run (a minimal set by the deletion
/// filter, its rows set aside, again while the rest is infeasible); each
/// SLO of a set gets one located `E0510` (a `for each slice` SLO once,
/// naming its slices) with the best value its metric reaches while the
/// other SLOs are kept (the rows outside every set, and the rest of its
/// own set), and, when there is one, the cause: a fixed rule whose requests
/// alone use up the SLO (a cascade's gets `W0510` on the rule), or a
/// timeout that cuts answers (`timeouts`: the compile's `W0601` warnings,
/// reported beside).
#[expect(clippy::too_many_arguments, reason = "the solved problem's parts")]
pub(crate) fn infeasible(
    policy: &Policy,
    source: &str,
    part: &Partition,
    p: &Problem,
    ev: &Evaluator,
    vars: &Vars,
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
    timeouts: &[Diagnostic],
) -> Vec<Diagnostic> {
    let space = objective::Space {
        problem: p,
        part,
        ev,
        vars,
    };
    let mut remaining: Vec<usize> = (0..coefs.len()).collect();
    let mut sets: Vec<Vec<usize>> = Vec::new();
    while sets.len() < MAX_CONFLICT_SETS
        && !optimize::feasible(p, part, vars, coefs, rhs, &remaining)
    {
        let set = optimize::conflict(p, part, vars, coefs, rhs, &remaining);
        if set.is_empty() {
            break;
        }
        remaining.retain(|k| !set.contains(k));
        sets.push(set);
    }
    // A total `timeout` that cuts answers counts against latency, quality
    // and cost; a `ttft timeout` against every metric.
    let timeout_note = |row: &RowDef| -> String {
        let ttft_row = matches!(row.kind, RowKind::Percentile { ttft: true, .. });
        timeouts
            .iter()
            .filter(|t| !ttft_row || t.message.starts_with("`ttft timeout"))
            .map(|t| {
                format!(
                    "; on line {}, {} (W0601): those attempts fail or fall back, which lowers quality and adds latency and cost",
                    crate::compile::line_of(source, t.span.start),
                    t.message
                )
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut cascades_named: Vec<(usize, usize)> = Vec::new();
    for set in &sets {
        // The set's rows grouped by SLO, in order.
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for &k in set {
            let slo = p.rows[k].slo;
            match groups.iter_mut().find(|(s, _)| *s == slo) {
                Some((_, rows)) => rows.push(k),
                None => groups.push((slo, vec![k])),
            }
        }
        let labels: Vec<String> = groups
            .iter()
            .map(|(_, rows)| group_label(policy, source, p, rows))
            .collect();
        for (i, (slo_index, rows)) in groups.iter().enumerate() {
            let Some(slo) = policy.slos.get(*slo_index) else {
                continue;
            };
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
            // The other SLOs kept: everything outside the sets, and the
            // rest of this set.
            let kept: Vec<usize> = remaining
                .iter()
                .copied()
                .chain(set.iter().copied().filter(|k| !rows.contains(k)))
                .collect();
            let mut bests = Vec::new();
            let mut causes = Vec::new();
            for &k in rows {
                let row = &p.rows[k];
                let best = best_kept(&space, coefs, rhs, &kept, k);
                let (value, assign) = match best {
                    Some((v, a)) => (show(policy, row, v), Some(a)),
                    None => (best_alone(policy, part, p, ev, vars, coefs, k), None),
                };
                let slice = row
                    .slice
                    .and_then(|s| policy.slices.get(s.index()))
                    .map(|s| s.name.as_str());
                bests.push((slice, value, assign.is_some()));
                if let Some(a) = assign
                    && let Some((rule, share)) = fixed_cause(policy, part, vars, coefs, rhs, k, &a)
                    && !causes.iter().any(|(r, _)| *r == rule)
                {
                    causes.push((rule, share));
                }
            }
            let kept_note = if bests.iter().all(|(_, _, kept)| *kept) {
                if others.is_empty() && kept.is_empty() {
                    "the best value any routing reaches is"
                } else {
                    "with the other SLOs kept, the best value any routing reaches is"
                }
            } else {
                "alone, the best value any routing reaches is"
            };
            let best_text = match bests.as_slice() {
                [(_, v, _)] => format!("{kept_note} {v}"),
                _ => format!(
                    "{kept_note}: {}",
                    bests
                        .iter()
                        .map(|(s, v, _)| format!("{} {v}", s.unwrap_or("all")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let mut help = best_text;
            if let (Some(c), MetricDef::Quality(_), CmpOp::Ge | CmpOp::Gt, true) = (
                policy.slo_settings.confidence,
                &slo.metric,
                slo.op,
                part.cells.iter().any(|c| c.quality_var.is_some()),
            ) {
                help.push_str(&format!(
                    " at {}% confidence on the recorded qualities (`confidence` in the slo block)",
                    cells::trim(c * 100.0)
                ));
            }
            for (rule, share) in &causes {
                let r = &policy.rules[*rule];
                help.push_str(&format!(
                    "; the fixed rule on line {} (`{}`) alone uses {} what this SLO allows",
                    crate::compile::line_of(source, r.span.start),
                    text_of(source, r.span),
                    share_of(*share)
                ));
            }
            if let Some(&k) = rows.first() {
                help.push_str(&timeout_note(&p.rows[k]));
            }
            let mut d = Diagnostic::error(codes::SLOS_CONFLICT, slo.span, message)
                .with_label(if others.is_empty() {
                    "no assignment meets this".to_string()
                } else {
                    "cannot hold together with the others".to_string()
                })
                .with_help(help);
            for (j, (o, _)) in groups.iter().enumerate() {
                if j != i
                    && let Some(o) = policy.slos.get(*o)
                    && o.span != slo.span
                {
                    d = d.with_secondary(o.span, "conflicts with this");
                }
            }
            for (rule, _) in &causes {
                d = d.with_secondary(policy.rules[*rule].span, "a fixed rule that uses it up");
            }
            out.push(d);
            for (rule, share) in causes {
                let r = &policy.rules[rule];
                if matches!(r.plan, PlanDef::Cascade { .. })
                    && !cascades_named.contains(&(rule, *slo_index))
                {
                    cascades_named.push((rule, *slo_index));
                    out.push(
                        Diagnostic::warning(
                            codes::CASCADE_BREAKS_SLO,
                            r.span,
                            format!(
                                "this cascade makes `{}` unmeetable: its requests alone use {} what it allows",
                                labels[i],
                                share_of(share)
                            ),
                        )
                        .with_label("escalated requests pay every stage's latency and cost")
                        .with_secondary(slo.span, "the slo it breaks")
                        .with_help(
                            "lower the cascade's `accept when confidence >=` (fewer escalations), \
                             route part of its traffic elsewhere, or relax the slo",
                        ),
                    );
                }
            }
        }
    }
    // In source order, errors first.
    out.sort_by_key(|d| (d.code != codes::SLOS_CONFLICT, d.span.start));
    out.extend(timeouts.iter().cloned());
    if out.iter().all(|d| d.code != codes::SLOS_CONFLICT) {
        out.push(Diagnostic::error(
            codes::SLOS_CONFLICT,
            Span::new(0, 0),
            "slos cannot all be met",
        ));
    }
    out
}

/// `text` of an SLO, with the slices of a `for each slice` group.
fn group_label(policy: &Policy, source: &str, p: &Problem, rows: &[usize]) -> String {
    let Some(first) = rows.first().map(|&k| &p.rows[k]) else {
        return String::new();
    };
    if rows.len() == 1 {
        return slo_label(policy, source, first);
    }
    let text = policy
        .slos
        .get(first.slo)
        .map(|s| text_of(source, s.span))
        .unwrap_or_default();
    let names: Vec<&str> = rows
        .iter()
        .filter_map(|&k| p.rows[k].slice)
        .filter_map(|s| policy.slices.get(s.index()))
        .map(|s| s.name.as_str())
        .collect();
    format!("{text}: {}", names.join(", "))
}

/// The best value of row `k`'s metric while the rows `kept` hold, and the
/// routing that reaches it; `None` when they cannot hold.
fn best_kept(
    space: &objective::Space,
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
    kept: &[usize],
    k: usize,
) -> Option<(f64, Assignment)> {
    let c: Vec<Vec<Vec<f64>>> = kept.iter().map(|&j| coefs[j].clone()).collect();
    let r: Vec<f64> = kept.iter().map(|&j| rhs[j]).collect();
    let row = &space.problem.rows[k];
    let goal = match &row.kind {
        RowKind::Percentile {
            q,
            ttft,
            scope,
            upper: true,
            ..
        } => Some(objective::Goal::Percentile {
            q: *q,
            ttft: *ttft,
            scope: *scope,
        }),
        RowKind::CostPerSuccess { scope, .. } if row.terms.iter().all(|t| t.scale > 0.0) => {
            Some(objective::Goal::CostPerSuccess { scope: *scope })
        }
        _ => None,
    };
    let a = match goal {
        Some(goal) => objective::solve(space, &goal, &c, &r).ok()?,
        // The row's own left-hand side, minimized.
        None => space.linear(&c, &r, &coefs[k]).ok()?,
    };
    let (v, _) = row_natural(space.part, space.problem, space.ev, &coefs[k], row, &a);
    Some((v, a))
}

/// The fixed rule whose requests alone use the largest share of what row
/// `k` allows under `a`, when that share is at least [`FIXED_RULE_CAUSE`]
/// (upper limits with room only: latency tails, cost, share, spend).
fn fixed_cause(
    policy: &Policy,
    part: &Partition,
    vars: &Vars,
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
    k: usize,
    a: &Assignment,
) -> Option<(usize, f64)> {
    // Without any choice to make, every rule is fixed: no rule is the cause.
    if rhs[k] <= 0.0 || vars.first.iter().all(Option::is_none) {
        return None;
    }
    let mut by_rule = vec![0.0; policy.rules.len()];
    for (c, cell) in part.cells.iter().enumerate() {
        if vars.first[c].is_some() {
            continue;
        }
        for (o, x) in a[c].iter().enumerate() {
            if let Some(s) = by_rule.get_mut(cell.rule) {
                *s += cell.weight * x * coefs[k][c][o];
            }
        }
    }
    by_rule
        .iter()
        .enumerate()
        .map(|(r, s)| (r, s / rhs[k]))
        .filter(|(_, share)| *share >= FIXED_RULE_CAUSE)
        .max_by(|x, y| x.1.total_cmp(&y.1))
}

/// A share of an SLO's allowance, to precede "what it allows": `45% of`,
/// or `14.8 times` from twice on.
fn share_of(x: f64) -> String {
    if x >= 2.0 {
        format!("{} times", cells::trim((x * 10.0).round() / 10.0))
    } else {
        format!("{}% of", cells::trim((x * 1000.0).round() / 10.0))
    }
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

/// A cascade is named beside a binding SLO when its requests use at least
/// this share of what the SLO allows.
const CASCADE_BINDING_SHARE: f64 = 0.25;

/// `W0510` on a fixed cascade rule whose requests use a large share
/// ([`CASCADE_BINDING_SHARE`]) of what a binding SLO allows (an upper limit:
/// a latency tail, cost, share or spend), naming the SLO and what
/// tightening it costs (`prices`, per row, from [`sensitivities`]). The
/// cascades that make an SLO unmeetable are named by [`infeasible`].
pub(crate) fn cascade_warnings(
    solved: &Solved,
    source: &str,
    prices: &[(Option<Tightening>, Option<f64>)],
) -> Vec<Diagnostic> {
    let (policy, part, p, coefs, a) = (
        &solved.policy,
        &solved.part,
        &solved.problem,
        &solved.coefs,
        &solved.assign,
    );
    let mut out = Vec::new();
    for (k, row) in p.rows.iter().enumerate() {
        if row.rhs <= 0.0 {
            continue;
        }
        let lhs = optimize::row_value(part, &coefs[k], a);
        let binding = lhs >= row.rhs - 1e-6 * row.rhs.abs().max(1e-3);
        if !binding {
            continue;
        }
        let Some(slo) = policy.slos.get(row.slo) else {
            continue;
        };
        for (ri, rule) in policy.rules.iter().enumerate() {
            if !matches!(rule.plan, PlanDef::Cascade { .. }) {
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
            let share = s / row.rhs;
            if share < CASCADE_BINDING_SHARE {
                continue;
            }
            let label = slo_label(policy, source, row);
            let cost = match prices.get(k).and_then(|t| t.0.as_ref()) {
                Some(Tightening {
                    step,
                    change: Some((dcost, dq)),
                }) => format!(
                    "the slo is binding: {step} would change cost by {}{}/1k requests and quality by {:+} points",
                    if *dcost < 0.0 { "-$" } else { "+$" },
                    money_plain(dcost.abs()),
                    (dq * 1000.0).round() / 10.0
                ),
                Some(Tightening { step, change: None }) => {
                    format!("the slo is binding: {step} would leave no routing")
                }
                None => "the slo is binding".to_string(),
            };
            out.push(
                Diagnostic::warning(
                    codes::CASCADE_BREAKS_SLO,
                    rule.span,
                    format!(
                        "this cascade uses {} what `{label}` allows, and that slo is binding",
                        share_of(share)
                    ),
                )
                .with_label("escalated requests pay every stage's latency and cost")
                .with_secondary(slo.span, "the binding slo")
                .with_help(format!(
                    "{cost}; a lower `accept when confidence >=` escalates less, or route part of this traffic elsewhere"
                )),
            );
        }
    }
    out
}

/// The text a span covers, whitespace runs collapsed.
pub(crate) fn text_of(source: &str, span: Span) -> String {
    let s = source.get(span.range()).unwrap_or("");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
