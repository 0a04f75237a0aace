//! What the optimizer optimizes: the policy's `objective`, exactly as the
//! table and the simulator report it (`docs/semantics.md`, "Objectives").
//!
//! - A linear metric (`minimize cost`, `maximize quality [for S]`,
//!   `minimize share M`, `minimize spend`) is one LP.
//! - `minimize cost per success` is the ratio `E[cost] / E[quality]` of two
//!   linear functions of the shares: Dinkelbach's method, a few LPs, each
//!   minimizing `cost − λ·quality` at the current ratio `λ`; it ends at the
//!   exact optimum.
//! - `minimize latency pQ` (or `ttft pQ`) is the percentile itself:
//!   bisection on the bound `T`, each step an LP feasibility test of
//!   `Σ w·x·P(L > T) <= 1 − Q` beside the SLOs; then, at the least feasible
//!   `T`, mean latency breaks ties.
//! - `weighted { latency a, cost b, quality g }` is the documented
//!   composite score of the whole mix, `S = a·L_base/L + b·C_base/C +
//!   g·Q/Q_base` (each ratio capped at [`model::SCORE_RATIO_CAP`]), where
//!   `L`, `C`, `Q` are the mix's mean latency, cost and quality. `S` is a
//!   convex function of the shares (a sum of `1/linear` and linear terms),
//!   so its maximum is at a vertex of the feasible set; it is found by
//!   sequential linearization (each LP maximizes the tangent of `S`, which
//!   never lowers `S` because a convex function lies above its tangents)
//!   from several starts (the optimum of each term alone, and the
//!   per-cell score), keeping the best.

use routec_check::ir::{CostBasis, MetricDef, ObjectiveDef, Policy, SliceId};

use crate::cells::Partition;
use crate::eval::Evaluator;
use crate::lp::LpResult;
use crate::model;
use crate::optimize::{self, Assignment, Coef, Problem, RowDef, RowKind, Term, Vars};

/// The objective in the optimizer's terms.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Goal {
    /// Minimize `Σ w·x·problem.objective` (a linear metric, sign applied).
    Linear,
    /// Minimize `E[cost] / E[quality]` over the scope.
    CostPerSuccess { scope: Option<SliceId> },
    /// Minimize the `q`-quantile of latency (TTFT when `ttft`) over the
    /// scope.
    Percentile {
        q: f64,
        ttft: bool,
        scope: Option<SliceId>,
    },
    /// Maximize the composite score against the baseline.
    Score { weights: (f64, f64, f64) },
}

impl Goal {
    pub fn of(policy: &Policy) -> Goal {
        match &policy.objective {
            None => Goal::Score {
                weights: (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0),
            },
            Some(ObjectiveDef::Weighted {
                latency,
                cost,
                quality,
            }) => Goal::Score {
                weights: (*latency, *cost, *quality),
            },
            Some(ObjectiveDef::Minimize(MetricDef::Cost(CostBasis::PerSuccess))) => {
                Goal::CostPerSuccess { scope: None }
            }
            Some(ObjectiveDef::Minimize(MetricDef::Latency(q))) => Goal::Percentile {
                q: *q,
                ttft: false,
                scope: None,
            },
            Some(ObjectiveDef::Minimize(MetricDef::Ttft(q))) => Goal::Percentile {
                q: *q,
                ttft: true,
                scope: None,
            },
            Some(_) => Goal::Linear,
        }
    }
}

/// The largest number of LPs one nonlinear objective may take.
const MAX_STEPS: usize = 60;

/// The state an objective is optimized over.
pub(crate) struct Space<'a> {
    pub problem: &'a Problem,
    pub part: &'a Partition,
    pub ev: &'a Evaluator,
    pub vars: &'a Vars,
}

impl Space<'_> {
    fn in_scope(&self, c: usize, scope: Option<SliceId>) -> bool {
        scope.is_none_or(|s| {
            self.part.cells[c]
                .slices
                .get(s.index())
                .copied()
                .unwrap_or(false)
        })
    }

    /// Per cell and option: `f(mean latency, cost, quality)` for cells in
    /// `scope`, 0 elsewhere. Only the LP's variable cells have
    /// coefficients (an objective reads no others: the other cells' choice
    /// is fixed), the others an empty list: a policy of thousands of fixed
    /// rules and a small `optimize` pays for the `optimize`.
    pub(crate) fn coefs(
        &self,
        scope: Option<SliceId>,
        f: impl Fn(f64, f64, f64) -> f64,
    ) -> Vec<Vec<f64>> {
        let p = self.problem;
        (0..self.part.cells.len())
            .map(|c| {
                if self.vars.first[c].is_none() {
                    return Vec::new();
                }
                p.options[c]
                    .iter()
                    .map(|o| {
                        if self.in_scope(c, scope) {
                            let (l, k, q) = p.lcq(self.part, c, o.eval);
                            f(l, k, q)
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Mean latency, cost and quality of the traffic in `scope` under `a`.
    pub fn means(&self, a: &Assignment, scope: Option<SliceId>) -> (f64, f64, f64) {
        let (mut w, mut l, mut k, mut q) = (0.0, 0.0, 0.0, 0.0);
        for (c, cell) in self.part.cells.iter().enumerate() {
            if !self.in_scope(c, scope) || cell.weight <= 0.0 {
                continue;
            }
            w += cell.weight;
            for (o, x) in a[c].iter().enumerate() {
                let (ll, kk, qq) = self
                    .problem
                    .lcq(self.part, c, self.problem.options[c][o].eval);
                l += cell.weight * x * ll;
                k += cell.weight * x * kk;
                q += cell.weight * x * qq;
            }
        }
        if w > 0.0 {
            (l / w, k / w, q / w)
        } else {
            (0.0, 0.0, 0.0)
        }
    }

    /// The baseline's mean latency, cost and quality over all traffic.
    fn baseline(&self) -> (f64, f64, f64) {
        let (mut w, mut l, mut k, mut q) = (0.0, 0.0, 0.0, 0.0);
        for (c, cell) in self.part.cells.iter().enumerate() {
            if cell.weight <= 0.0 {
                continue;
            }
            if let Some(b) = self.problem.baseline[c] {
                let (ll, kk, qq) = self.problem.lcq(self.part, c, b);
                w += cell.weight;
                l += cell.weight * ll;
                k += cell.weight * kk;
                q += cell.weight * qq;
            }
        }
        if w > 0.0 {
            (l / w, k / w, q / w)
        } else {
            (1.0, 1.0, 1.0)
        }
    }

    /// The `q`-quantile of latency over `scope` under `a`.
    fn quantile(&self, a: &Assignment, q: f64, ttft: bool, scope: Option<SliceId>) -> f64 {
        let p = self.problem;
        let mut parts = Vec::new();
        for (c, cell) in self.part.cells.iter().enumerate() {
            if !self.in_scope(c, scope) || cell.weight <= 0.0 {
                continue;
            }
            for (o, x) in a[c].iter().enumerate() {
                if *x > 0.0 {
                    parts.push((cell.weight * x, cell.shift, &p.evals[p.options[c][o].eval]));
                }
            }
        }
        self.ev.mixture_quantile(&parts, q, ttft)
    }

    pub(crate) fn linear(
        &self,
        coefs: &[Vec<Vec<f64>>],
        rhs: &[f64],
        objective: &[Vec<f64>],
    ) -> Result<Assignment, LpResult> {
        optimize::solve_linear(self.problem, self.part, self.vars, coefs, rhs, objective)
    }
}

/// The value `goal` minimizes under `a` (the score is negated).
pub(crate) fn value(space: &Space, goal: &Goal, a: &Assignment) -> f64 {
    match goal {
        Goal::Linear => optimize::linear_value(&space.problem.objective, space.part, a),
        Goal::CostPerSuccess { scope } => {
            let (_, k, q) = space.means(a, *scope);
            model::cost_per_success(k, q)
        }
        Goal::Percentile { q, ttft, scope } => space.quantile(a, *q, *ttft, *scope),
        Goal::Score { weights } => {
            -model::composite_score(*weights, space.means(a, None), space.baseline())
        }
    }
}

/// The optimum of `goal` under the rows `coefs <= rhs`; `Err` when no
/// assignment meets them (or the solver fails).
pub(crate) fn solve(
    space: &Space,
    goal: &Goal,
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
) -> Result<Assignment, LpResult> {
    match goal {
        Goal::Linear => space.linear(coefs, rhs, &space.problem.objective),
        Goal::CostPerSuccess { scope } => cost_per_success(space, *scope, coefs, rhs),
        Goal::Percentile { q, ttft, scope } => percentile(space, *q, *ttft, *scope, coefs, rhs),
        Goal::Score { weights } => score(space, *weights, coefs, rhs),
    }
}

/// Dinkelbach: `λ ← C(x)/Q(x)` at the minimizer of `C − λ·Q`, until `λ`
/// stops moving. Cells outside the scope are left to their cheapest
/// options (a vanishing cost term breaks their ties).
fn cost_per_success(
    space: &Space,
    scope: Option<SliceId>,
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
) -> Result<Assignment, LpResult> {
    let tie = space.coefs(None, |_, k, _| 1e-9 * k);
    let with = |obj: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        obj.into_iter()
            .zip(&tie)
            .map(|(row, t)| row.iter().zip(t).map(|(x, y)| x + y).collect())
            .collect()
    };
    // Start from the most successful routing: a ratio that is finite.
    let mut a = space.linear(coefs, rhs, &with(space.coefs(scope, |_, _, q| -q)))?;
    let mut lambda = {
        let (_, k, q) = space.means(&a, scope);
        model::cost_per_success(k, q)
    };
    if !lambda.is_finite() {
        return Ok(a);
    }
    for _ in 0..MAX_STEPS {
        let obj = with(space.coefs(scope, |_, k, q| k - lambda * q));
        let next = space.linear(coefs, rhs, &obj)?;
        let (_, k, q) = space.means(&next, scope);
        let ratio = model::cost_per_success(k, q);
        // NaN counts as no improvement.
        let improved = ratio < lambda - 1e-12 * lambda.abs().max(1e-12);
        if !improved {
            if ratio <= lambda {
                a = next;
            }
            break;
        }
        lambda = ratio;
        a = next;
    }
    Ok(a)
}

/// The row `P(L > t) <= 1 − q` over `scope`, with its coefficients.
fn percentile_row(
    space: &Space,
    q: f64,
    ttft: bool,
    scope: Option<SliceId>,
    t: f64,
) -> (Vec<Vec<f64>>, f64) {
    let ws = match scope {
        Some(s) => space
            .problem
            .slice_weight
            .get(s.index())
            .copied()
            .unwrap_or(0.0),
        None => 1.0,
    };
    let row = RowDef {
        slo: usize::MAX,
        slice: scope,
        terms: vec![Term {
            coef: Coef::Exceed { t, ttft },
            scale: 1.0 / ws.max(1e-300),
            scope,
        }],
        rhs: 1.0 - q,
        kind: RowKind::Percentile {
            q,
            t,
            ttft,
            scope,
            upper: true,
        },
    };
    let c = optimize::row_coefs(
        space.problem,
        space.ev,
        space.part,
        std::slice::from_ref(&row),
    )
    .remove(0);
    (c, row.rhs)
}

/// The least `T` whose percentile row holds beside the SLOs (bisection in
/// log-time between the best per-cell quantile bound and the quantile of
/// the mean-latency optimum), then mean latency at that `T`.
fn percentile(
    space: &Space,
    q: f64,
    ttft: bool,
    scope: Option<SliceId>,
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
) -> Result<Assignment, LpResult> {
    let mean = space.coefs(None, |l, _, _| l);
    let start = space.linear(coefs, rhs, &mean)?;
    let hi0 = space.quantile(&start, q, ttft, scope);
    if !(hi0.is_finite() && hi0 > 0.0) {
        return Ok(start);
    }
    let active: Vec<usize> = (0..=coefs.len()).collect();
    let feasible = |t: f64| -> bool {
        let (row, bound) = percentile_row(space, q, ttft, scope, t);
        let mut all = coefs.to_vec();
        all.push(row);
        let mut bounds = rhs.to_vec();
        bounds.push(bound);
        let lp = optimize::build_lp(
            space.problem,
            space.part,
            space.vars,
            &all,
            &bounds,
            &active,
            None,
        );
        !matches!(lp.solve(), LpResult::Infeasible)
    };
    let (mut lo, mut hi) = ((hi0 * 1e-3).ln(), hi0.ln());
    if feasible(lo.exp()) {
        hi = lo;
    } else {
        for _ in 0..40 {
            if hi - lo < 1e-6 {
                break;
            }
            let mid = 0.5 * (lo + hi);
            if feasible(mid.exp()) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
    }
    let (row, bound) = percentile_row(space, q, ttft, scope, hi.exp());
    let mut all = coefs.to_vec();
    all.push(row);
    let mut bounds = rhs.to_vec();
    bounds.push(bound);
    let best = space.linear(&all, &bounds, &mean).unwrap_or(start.clone());
    // The bisection's answer, unless the start was better (numerical ties).
    if space.quantile(&best, q, ttft, scope) <= space.quantile(&start, q, ttft, scope) {
        Ok(best)
    } else {
        Ok(start)
    }
}

/// Sequential linearization of the composite score from several starts.
fn score(
    space: &Space,
    weights: (f64, f64, f64),
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
) -> Result<Assignment, LpResult> {
    let base = space.baseline();
    let s_of = |a: &Assignment| model::composite_score(weights, space.means(a, None), base);
    let (a_w, b_w, g_w) = weights;
    let per_cell: Vec<Vec<f64>> = space
        .problem
        .objective
        .iter()
        .zip(&space.vars.first)
        .map(|(o, first)| {
            if first.is_some() {
                o.clone()
            } else {
                Vec::new()
            }
        })
        .collect();
    let starts: Vec<Vec<Vec<f64>>> = vec![
        per_cell,
        space.coefs(None, |l, _, _| l),
        space.coefs(None, |_, k, _| k),
        space.coefs(None, |_, _, q| -q),
    ];
    let mut best: Option<(f64, Assignment)> = None;
    for objective in starts {
        let Ok(mut a) = space.linear(coefs, rhs, &objective) else {
            continue;
        };
        let mut s = s_of(&a);
        for _ in 0..MAX_STEPS / 4 {
            let (l, k, q) = space.means(&a, None);
            // The tangent of S at `a` (a capped ratio is flat).
            let dl = if l > 0.0 && base.0 / l < model::SCORE_RATIO_CAP {
                a_w * base.0 / (l * l)
            } else {
                0.0
            };
            let dk = if k > 0.0 && base.1 / k < model::SCORE_RATIO_CAP {
                b_w * base.1 / (k * k)
            } else {
                0.0
            };
            let dq = if base.2 > 0.0 && q / base.2 < model::SCORE_RATIO_CAP {
                g_w / base.2
            } else {
                0.0
            };
            let tangent = space.coefs(None, |ll, kk, qq| dl * ll + dk * kk - dq * qq);
            let Ok(next) = space.linear(coefs, rhs, &tangent) else {
                break;
            };
            let s_next = s_of(&next);
            if s_next <= s + 1e-12 * s.abs().max(1e-12) {
                break;
            }
            a = next;
            s = s_next;
        }
        if best.as_ref().is_none_or(|(b, _)| s > *b) {
            best = Some((s, a));
        }
    }
    best.map(|(_, a)| a).ok_or(LpResult::Infeasible)
}
