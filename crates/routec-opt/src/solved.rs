//! The model a table was optimized with, kept with the table: the policy
//! as modelled (a recorded profile's outcomes re-estimate its models), the
//! traffic, the cell partition, the evaluator and per-plan estimates, the
//! linear program and its solution. Every figure consumers show (per rule,
//! model, slice and SLO; the frontier) is read from here, joined by
//! indices, never rebuilt and never matched by printed text.

use crate::cells::Partition;
use crate::eval::{Evaluator, PlanEval};
use crate::objective::{Goal, Space};
use crate::optimize::{self, Assignment, Coef, Problem, RowDef, RowKind, Term, Vars};
use crate::traffic::Traffic;
use routec_check::ir::{
    BoundDef, MetricDef, ModelId, ObjectiveDef, PlanDef, Policy, SliceId, SloScope,
};

/// The optimizer's state after a successful solve (see the module docs).
#[derive(Debug)]
pub(crate) struct Solved {
    /// The policy the estimates were made with: the checked policy, or with
    /// a labeled recorded profile, its models re-estimated from outcomes.
    pub policy: Policy,
    pub traffic: Traffic,
    pub part: Partition,
    pub ev: Evaluator,
    pub problem: Problem,
    pub vars: Vars,
    /// `coefs[row][cell][option]`.
    pub coefs: Vec<Vec<Vec<f64>>>,
    pub rhs: Vec<f64>,
    pub assign: Assignment,
    /// What the solution optimizes.
    pub goal: Goal,
    /// The capacity rows (after the SLO rows in `coefs` and `rhs`) and the
    /// load model.
    pub caps: crate::capacity::Capacities,
    /// Each model's load at the profile's qps under `assign` (empty when
    /// load is not modelled).
    pub load: Vec<crate::load::ModelLoad>,
}

/// The compiler's figures for one rule of the `route` block.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleFigures {
    /// 0-based index into `policy.rules`.
    pub rule: usize,
    /// Share of all traffic the rule takes (0..=1).
    pub share: f64,
    /// 95th percentile of the end-to-end latency of the rule's traffic
    /// (the exact mixture of its cells' plans), seconds; 0 without traffic.
    pub p95: f64,
    /// Expected cost per request of the rule's traffic, USD.
    pub cost: f64,
    /// Expected quality of the rule's traffic (0..=1).
    pub quality: f64,
}

/// The compiler's figures for one slice.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceFigures {
    /// 0-based index into `policy.slices`.
    pub slice: usize,
    /// Share of all traffic inside the slice.
    pub share: f64,
    /// Expected quality of the slice's traffic; `None` without traffic.
    pub quality: Option<f64>,
}

/// One SLO row: a line of the `slo` block, once per slice for `for each
/// slice`. Rows are in the table's order (`table.assumed.slos`).
#[derive(Clone, Debug, PartialEq)]
pub struct SloRow {
    /// 0-based index into `policy.slos`.
    pub slo: usize,
    /// The slice of a `for each slice` row.
    pub slice: Option<SliceId>,
    /// Predicted value and limit in base units (seconds, USD, ratio).
    pub value: f64,
    pub limit: f64,
    pub ok: bool,
    /// What tightening the SLO by one step costs, when it is binding.
    pub tightening: Option<Tightening>,
    /// The objective's change per unit of tightening (a finite difference
    /// over [`Tightening::step`]); `None` when tightening is infeasible.
    pub dual: Option<f64>,
}

/// The price of tightening a binding SLO by one step.
#[derive(Clone, Debug, PartialEq)]
pub struct Tightening {
    /// The step, in the language's words: `latency p95 -100ms`,
    /// `tightening by 1%`, `cost per success -10%`, `parity +1%`.
    pub step: String,
    /// The re-solved optimum's change: `(cost per 1k requests in USD,
    /// quality as a ratio)`; `None` when no routing meets the tighter SLO.
    pub change: Option<(f64, f64)>,
}

impl std::fmt::Display for Tightening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.change {
            Some((dc, dq)) => write!(
                f,
                "{} costs {}{}/1k, quality {}{}%",
                self.step,
                if dc >= 0.0 { "+$" } else { "-$" },
                money(dc.abs()),
                if dq >= 0.0 { "+" } else { "-" },
                crate::cells::trim((dq.abs() * 1000.0).round() / 10.0),
            ),
            None => write!(f, "{} cannot be met", self.step),
        }
    }
}

/// Money in a sensitivity: two decimals from a cent, else four.
pub(crate) fn money(x: f64) -> String {
    if x >= 0.00995 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// A single model routed all traffic, as the model predicts it.
#[derive(Clone, Debug, PartialEq)]
pub struct SinglePoint {
    pub model: String,
    /// Predicted cost per request, USD.
    pub cost: f64,
    /// Predicted quality (ratio).
    pub quality: f64,
}

impl Solved {
    /// The state the objective is optimized over.
    pub fn space(&self) -> Space<'_> {
        Space {
            problem: &self.problem,
            part: &self.part,
            ev: &self.ev,
            vars: &self.vars,
        }
    }

    /// The estimate of option `o` of cell `c`.
    fn eval(&self, c: usize, o: usize) -> &PlanEval {
        &self.problem.evals[self.problem.options[c][o].eval]
    }

    /// `(weight × share, cell, option)` of every chosen option of the cells
    /// `keep` accepts.
    fn chosen(&self, a: &Assignment, keep: impl Fn(usize) -> bool) -> Vec<(f64, usize, usize)> {
        let mut out = Vec::new();
        for (c, cell) in self.part.cells.iter().enumerate() {
            if !keep(c) {
                continue;
            }
            for (o, x) in a[c].iter().enumerate() {
                if *x > 0.0 {
                    out.push((cell.weight * x, c, o));
                }
            }
        }
        out
    }

    /// Expected cost per request and quality under `a`, over the cells with
    /// traffic (the table's `predicted` figures).
    pub fn overall(&self, a: &Assignment) -> (f64, f64) {
        let (mut w, mut k, mut q) = (0.0, 0.0, 0.0);
        for (c, cell) in self.part.cells.iter().enumerate() {
            if cell.weight <= 0.0 {
                continue;
            }
            w += cell.weight;
            for (o, x) in a[c].iter().enumerate() {
                let e = self.eval(c, o);
                k += cell.weight * x * e.cost(cell.prompt_mean);
                q += cell.weight * x * e.quality;
            }
        }
        if w > 0.0 { (k / w, q / w) } else { (0.0, 0.0) }
    }

    /// The judge's expected cost per request under the table (USD; part
    /// of [`Solved::overall`]'s cost), over the cells with traffic; `None`
    /// when the policy declares no judge.
    pub fn judge_cost(&self) -> Option<f64> {
        self.policy.learn.judge.as_ref()?;
        let (mut w, mut k) = (0.0, 0.0);
        for (c, cell) in self.part.cells.iter().enumerate() {
            if cell.weight <= 0.0 {
                continue;
            }
            w += cell.weight;
            for (o, x) in self.assign[c].iter().enumerate() {
                k += cell.weight * x * self.eval(c, o).judge_cost(cell.prompt_mean);
            }
        }
        Some(if w > 0.0 { k / w } else { 0.0 })
    }

    pub fn rules(&self) -> Vec<RuleFigures> {
        (0..self.policy.rules.len())
            .map(|r| {
                let parts = self.chosen(&self.assign, |c| self.part.cells[c].rule == r);
                let (mut k, mut q) = (0.0, 0.0);
                for &(w, c, o) in &parts {
                    let e = self.eval(c, o);
                    k += w * e.cost(self.part.cells[c].prompt_mean);
                    q += w * e.quality;
                }
                let share: f64 = self
                    .part
                    .cells
                    .iter()
                    .filter(|c| c.rule == r)
                    .map(|c| c.weight)
                    .sum();
                let mixture: Vec<(f64, f64, &PlanEval)> = parts
                    .iter()
                    .map(|&(w, c, o)| (w, self.part.cells[c].shift, self.eval(c, o)))
                    .collect();
                let per = |x: f64| if share > 0.0 { x / share } else { 0.0 };
                RuleFigures {
                    rule: r,
                    share,
                    p95: self.ev.mixture_quantile(&mixture, 0.95, false),
                    cost: per(k),
                    quality: per(q),
                }
            })
            .collect()
    }

    /// Expected calls per request to each model (cascade escalations,
    /// fallbacks and retries included): the measure of `share MODEL` SLOs.
    pub fn model_calls(&self) -> Vec<f64> {
        let mut calls = vec![0.0; self.policy.models.len()];
        let mut total = 0.0;
        for (w, c, o) in self.chosen(&self.assign, |c| self.part.cells[c].weight > 0.0) {
            total += w;
            for (m, n) in self.eval(c, o).calls.iter() {
                if let Some(slot) = calls.get_mut(m) {
                    *slot += w * n;
                }
            }
        }
        if total > 0.0 {
            calls.iter_mut().for_each(|x| *x /= total);
        }
        calls
    }

    /// Expected cost per request paid to each model (USD; failed
    /// attempts' prompts and hedged duplicates included).
    pub fn model_costs(&self) -> Vec<f64> {
        let mut costs = vec![0.0; self.policy.models.len()];
        let mut total = 0.0;
        for (w, c, o) in self.chosen(&self.assign, |c| self.part.cells[c].weight > 0.0) {
            total += w;
            let prompt = self.part.cells[c].prompt_mean;
            for (m, slot) in costs.iter_mut().enumerate() {
                *slot += w * self.eval(c, o).cost_of(m, prompt);
            }
        }
        if total > 0.0 {
            costs.iter_mut().for_each(|x| *x /= total);
        }
        costs
    }

    pub fn slices(&self) -> Vec<SliceFigures> {
        (0..self.policy.slices.len())
            .map(|s| {
                let inside = |c: usize| self.part.cells[c].slices.get(s).copied().unwrap_or(false);
                let (mut w, mut q) = (0.0, 0.0);
                for (c, cell) in self.part.cells.iter().enumerate() {
                    if inside(c) && cell.weight > 0.0 {
                        w += cell.weight;
                    }
                }
                for (x, c, o) in self.chosen(&self.assign, inside) {
                    q += x * self.eval(c, o).quality;
                }
                SliceFigures {
                    slice: s,
                    share: self.problem.slice_weight.get(s).copied().unwrap_or(0.0),
                    quality: (w > 0.0).then(|| q / w),
                }
            })
            .collect()
    }

    /// Each model routed all traffic: the per-cell estimates of the plan
    /// `MODEL` over this partition (cost and quality are linear in the
    /// cells, so the partition's refinement does not change them).
    pub fn single_models(&self) -> Vec<SinglePoint> {
        let mut ev = Evaluator::new(&self.policy, self.traffic.output_dist(), self.traffic.qps);
        let mut out = Vec::new();
        for m in 0..self.policy.models.len() {
            let plan = PlanDef::Target(ModelId(m as u32));
            let (mut w, mut k, mut q) = (0.0, 0.0, 0.0);
            for cell in &self.part.cells {
                if cell.weight <= 0.0 {
                    continue;
                }
                let e = ev.eval(&plan, &cell.quality);
                w += cell.weight;
                k += cell.weight * e.cost(cell.prompt_mean);
                q += cell.weight * e.quality;
            }
            if w > 0.0 {
                out.push(SinglePoint {
                    model: self.policy.models[m].name.clone(),
                    cost: k / w,
                    quality: q / w,
                });
            }
        }
        out
    }

    /// The optimum of `objective` (cost or quality) under the policy's SLOs
    /// except its floors on overall quality, plus `quality >= floor` when
    /// given: an assignment, or `None` when no routing meets the rows.
    pub fn resolve(&self, objective: FrontierObjective, floor: Option<f64>) -> Option<Assignment> {
        let mut problem = self.problem.clone();
        problem.objective = (0..self.part.cells.len())
            .map(|c| {
                (0..problem.options[c].len())
                    .map(|o| {
                        let (_, k, q) = problem.lcq(&self.part, c, problem.options[c][o].eval);
                        match objective {
                            FrontierObjective::MinimizeCost => k,
                            FrontierObjective::MaximizeQuality => -q,
                        }
                    })
                    .collect()
            })
            .collect();
        let keep: Vec<usize> = (0..problem.rows.len())
            .filter(|&k| !is_overall_quality_floor(&self.policy, &problem.rows[k]))
            .collect();
        let mut coefs: Vec<Vec<Vec<f64>>> = keep.iter().map(|&k| self.coefs[k].clone()).collect();
        let mut rhs: Vec<f64> = keep.iter().map(|&k| self.rhs[k]).collect();
        problem.rows = keep.iter().map(|&k| problem.rows[k].clone()).collect();
        if let Some(floor) = floor {
            let row = RowDef {
                slo: usize::MAX,
                slice: None,
                terms: vec![Term {
                    coef: Coef::Quality,
                    scale: -1.0,
                    scope: None,
                }],
                rhs: -floor,
                kind: RowKind::Linear {
                    sign: -1.0,
                    limit: floor,
                },
            };
            coefs.extend(optimize::row_coefs(
                &problem,
                &self.ev,
                &self.part,
                std::slice::from_ref(&row),
            ));
            rhs.push(row.rhs);
            problem.rows.push(row);
        }
        // The capacity rows (after the SLO rows) always hold.
        let slo_rows = self.problem.rows.len();
        coefs.extend(self.coefs.iter().skip(slo_rows).cloned());
        rhs.extend(self.rhs.iter().skip(slo_rows).copied());
        let objective = problem.objective.clone();
        optimize::solve_linear(&problem, &self.part, &self.vars, &coefs, &rhs, &objective).ok()
    }
}

/// What a frontier point optimizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontierObjective {
    MinimizeCost,
    MaximizeQuality,
}

/// A floor on the quality of all traffic (`quality >= X`), which the
/// frontier's sweep replaces.
fn is_overall_quality_floor(policy: &Policy, row: &RowDef) -> bool {
    policy.slos.get(row.slo).is_some_and(|slo| {
        slo.metric == MetricDef::Quality(None)
            && slo.scope == SloScope::All
            && matches!(slo.bound, BoundDef::Value(_))
    })
}

/// The table's weights of the composite score (equal thirds unless the
/// objective is `weighted`).
pub(crate) fn score_weights(policy: &Policy) -> (f64, f64, f64) {
    match &policy.objective {
        Some(ObjectiveDef::Weighted {
            latency,
            cost,
            quality,
        }) => (*latency, *cost, *quality),
        _ => (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0),
    }
}
