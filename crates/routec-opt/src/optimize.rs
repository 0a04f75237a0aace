//! The optimization proper: per-cell options and their estimates, SLO rows,
//! the LP, cleaning of the interior-point solution, sensitivities and the
//! diagnosis of infeasible policies.

use std::collections::HashMap;

use routec_check::ir::{
    BoundDef, MetricDef, ObjectiveDef, PlanDef, Policy, SliceId, SloDef, SloScope,
};
use routec_syntax::ast::CmpOp;

use crate::cells::{CellDef, Partition};
use crate::eval::{Evaluator, PlanEval};
use crate::lp::{Lp, LpResult};
use crate::model;

/// Shares below this are snapped to 0 after solving.
pub const SNAP: f64 = 1e-5;
/// Tolerance when checking a constraint on a cleaned solution.
pub const FEAS_TOL: f64 = 1e-7;

/// One plan a cell may use: for fixed rules the rule's plan, for
/// `optimize` a candidate.
#[derive(Clone, Debug)]
pub struct Opt {
    /// `None`: the rule's own plan; `Some(i)`: candidate `i`.
    pub candidate: Option<usize>,
    /// Index into [`Problem::evals`].
    pub eval: usize,
}

/// A linear functional's per-option value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Coef {
    /// `P(L > t)` (E2E, or TTFT when `ttft`).
    Exceed {
        t: f64,
        ttft: bool,
    },
    Cost,
    /// `cost − x · quality`.
    CostMinusQuality(f64),
    Quality,
    /// `quality − k·w·var − shift`: a quality floor at a confidence
    /// (`slo { confidence ... }`), `w` the cell's weight and `var` the
    /// option's [`PlanEval::quality_var`] (see `floor_at_confidence`).
    QualityLow {
        k: f64,
        shift: f64,
    },
    Calls(usize),
}

/// One term of a row: `scale × [cell in scope] × coef`.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub coef: Coef,
    pub scale: f64,
    pub scope: Option<SliceId>,
}

/// `Σ_c w_c Σ_p x_cp Σ_terms term(c, p) <= rhs`.
#[derive(Clone, Debug, PartialEq)]
pub struct RowDef {
    /// Index into `policy.slos`.
    pub slo: usize,
    /// `for each slice`: the slice of this row.
    pub slice: Option<SliceId>,
    pub terms: Vec<Term>,
    pub rhs: f64,
    /// Natural units: how to turn the row back into the metric.
    pub kind: RowKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RowKind {
    /// Percentile `q` of E2E (or TTFT) over `scope` at most/least `t`.
    Percentile {
        q: f64,
        t: f64,
        ttft: bool,
        scope: Option<SliceId>,
        upper: bool,
    },
    /// A linear metric: `value = row sum` (sign already applied: the
    /// natural value is `sign × row sum`), limit in natural units.
    Linear { sign: f64, limit: f64 },
    /// Cost per success over scope at most `limit`.
    CostPerSuccess { limit: f64, scope: Option<SliceId> },
    /// Quality for A ≥ quality for B + offset.
    Parity { a: SliceId, b: SliceId, offset: f64 },
}

/// Everything the LP and the reports need.
#[derive(Clone, Debug)]
pub struct Problem {
    pub evals: Vec<PlanEval>,
    /// Per eval: the first eval with the same latency distribution (the
    /// same plan for other qualities), or itself. Latency figures of one
    /// are those of the other.
    pub latency_of: Vec<usize>,
    /// Per cell: its options.
    pub options: Vec<Vec<Opt>>,
    /// Per cell: the baseline's estimate (if the policy has a baseline).
    pub baseline: Vec<Option<usize>>,
    /// Per cell and option: the objective coefficient per unit weight (minimized).
    pub objective: Vec<Vec<f64>>,
    pub rows: Vec<RowDef>,
    /// Slice weights.
    pub slice_weight: Vec<f64>,
    /// SLOs that cannot be enforced, with why: errors (`E0517`).
    pub warnings: Vec<(usize, String)>,
}

/// The coefficient of a quality floor over `scope` (weight `ws`). Without
/// `slo { confidence C }` or without estimated qualities, the quality.
/// With them, the floor must hold on `Q − z·sd`, `z = Φ⁻¹(C)`, where
/// `sd² = V ≤ Σ_c (w_c/ws)² Σ_o x_co var_co` (the cells' and models'
/// estimates independent; `var_co` the option's [`PlanEval::quality_var`]).
/// `√V ≤ V/(2s₀) + s₀/2` for any `s₀ > 0` (equal at `V = s₀²`), so the
/// linear row `Σ_c (w_c/ws) Σ_o x_co (q_co − k·w_c·var_co − z·s₀/2) ≥
/// floor`, `k = z/(2·s₀·ws)`, implies it. `s₀` is the largest `sd` any
/// assignment can have (`max_o var_co` in each cell), so the row is at
/// most `z·s₀` tighter than the floor; its value is the quality's lower
/// bound at `C`.
fn floor_at_confidence(
    policy: &Policy,
    part: &Partition,
    options: &[Vec<Opt>],
    evals: &[PlanEval],
    scope: Option<SliceId>,
    ws: f64,
) -> Coef {
    let Some(confidence) = policy.slo_settings.confidence else {
        return Coef::Quality;
    };
    let s0_squared: f64 = part
        .cells
        .iter()
        .zip(options)
        .filter(|(cell, _)| {
            scope.is_none_or(|s| cell.slices.get(s.index()).copied().unwrap_or(false))
        })
        .map(|(cell, opts)| {
            let worst = opts
                .iter()
                .map(|o| evals[o.eval].quality_var)
                .fold(0.0, f64::max);
            (cell.weight / ws).powi(2) * worst
        })
        .sum();
    if !(s0_squared > 0.0 && ws > 0.0) {
        return Coef::Quality;
    }
    let s0 = s0_squared.sqrt();
    let z = crate::model::norm_inv(confidence);
    Coef::QualityLow {
        k: z / (2.0 * s0 * ws),
        shift: z * s0 / 2.0,
    }
}

/// A choice per cell: shares over its options.
pub type Assignment = Vec<Vec<f64>>;

fn plan_key(p: &PlanDef) -> String {
    format!("{p:?}")
}

/// Numbers distinct plans (by their text), so that cells look their plans
/// up by number instead of formatting them.
#[derive(Default)]
struct PlanIds {
    ids: HashMap<String, usize>,
}

impl PlanIds {
    fn id(&mut self, plan: &PlanDef) -> usize {
        let next = self.ids.len();
        *self.ids.entry(plan_key(plan)).or_insert(next)
    }
}

impl Problem {
    pub fn build(
        policy: &Policy,
        part: &Partition,
        ev: &mut Evaluator,
        qps: Option<f64>,
    ) -> Problem {
        // Per rule: the plan id of its plan (or of each candidate).
        let mut ids = PlanIds::default();
        let rule_plans: Vec<Vec<usize>> = policy
            .rules
            .iter()
            .map(|r| match &r.plan {
                PlanDef::Optimize { candidates, .. } => {
                    candidates.iter().map(|c| ids.id(c)).collect()
                }
                plan => vec![ids.id(plan)],
            })
            .collect();
        let baseline_plan = policy.baseline.map(|b| {
            let plan = PlanDef::Target(b);
            (ids.id(&plan), plan)
        });
        let mut evals: Vec<PlanEval> = Vec::new();
        let mut latency_of: Vec<usize> = Vec::new();
        // Cells with the same `quality_id` have the same qualities; a plan
        // whose latency does not depend on them is evaluated once and
        // requalified per quality vector.
        let mut memo: HashMap<(usize, usize), usize> = HashMap::new();
        let mut shapes: HashMap<usize, usize> = HashMap::new();
        let mut eval_of = |id: usize, plan: &PlanDef, c: &CellDef, ev: &mut Evaluator| -> usize {
            if let Some(&e) = memo.get(&(id, c.quality_id)) {
                return e;
            }
            let (mut e, first) = match shapes.get(&id) {
                Some(&first) => (ev.requalify(&evals[first], &c.quality), first),
                None => (ev.eval(plan, &c.quality), evals.len()),
            };
            e.quality_var = c.quality_var.as_ref().map_or(0.0, |v| e.variance_of(v));
            latency_of.push(first);
            if Evaluator::quality_free(plan) {
                shapes.entry(id).or_insert(evals.len());
            }
            evals.push(e);
            memo.insert((id, c.quality_id), evals.len() - 1);
            evals.len() - 1
        };
        let mut options = Vec::with_capacity(part.cells.len());
        let mut baseline = Vec::with_capacity(part.cells.len());
        for c in &part.cells {
            let rule = &policy.rules[c.rule];
            let ids = &rule_plans[c.rule];
            let opts = match &rule.plan {
                PlanDef::Optimize { candidates, .. } => c
                    .candidates
                    .iter()
                    .map(|&i| Opt {
                        candidate: Some(i),
                        eval: eval_of(ids[i], &candidates[i], c, ev),
                    })
                    .collect(),
                plan => vec![Opt {
                    candidate: None,
                    eval: eval_of(ids[0], plan, c, ev),
                }],
            };
            options.push(opts);
            baseline.push(
                baseline_plan
                    .as_ref()
                    .map(|(id, plan)| eval_of(*id, plan, c, ev)),
            );
        }
        let mut slice_weight = vec![0.0; policy.slices.len()];
        for c in &part.cells {
            for (s, inside) in c.slices.iter().enumerate() {
                if *inside {
                    slice_weight[s] += c.weight;
                }
            }
        }
        let mut p = Problem {
            evals,
            latency_of,
            options,
            baseline,
            objective: Vec::new(),
            rows: Vec::new(),
            slice_weight,
            warnings: Vec::new(),
        };
        p.objective = p.objective_coefs(policy, part, ev);
        for (i, slo) in policy.slos.iter().enumerate() {
            p.add_slo_rows(policy, part, i, slo, qps);
        }
        p
    }

    /// Mean E2E, cost and quality of an option in a cell.
    pub fn lcq(&self, part: &Partition, c: usize, eval: usize) -> (f64, f64, f64) {
        let e = &self.evals[eval];
        let cell = &part.cells[c];
        (e.mean_e2e + cell.shift, e.cost(cell.prompt_mean), e.quality)
    }

    fn objective_coefs(&self, policy: &Policy, part: &Partition, _ev: &Evaluator) -> Vec<Vec<f64>> {
        let obj = policy.objective.clone().unwrap_or(ObjectiveDef::Weighted {
            latency: 1.0 / 3.0,
            cost: 1.0 / 3.0,
            quality: 1.0 / 3.0,
        });
        (0..part.cells.len())
            .map(|c| {
                self.options[c]
                    .iter()
                    .map(|o| {
                        let (l, k, q) = self.lcq(part, c, o.eval);
                        let e = &self.evals[o.eval];
                        match &obj {
                            ObjectiveDef::Weighted {
                                latency,
                                cost,
                                quality,
                            } => {
                                let base = self.baseline[c]
                                    .map(|b| self.lcq(part, c, b))
                                    .unwrap_or((1.0, 1.0, 1.0));
                                -model::composite_score(
                                    (*latency, *cost, *quality),
                                    (l, k, q),
                                    base,
                                )
                            }
                            // A slice's quality: only its cells count; the
                            // rest take their cheapest options (a vanishing
                            // cost term breaks their ties).
                            ObjectiveDef::Minimize(MetricDef::Quality(Some(s)))
                            | ObjectiveDef::Maximize(MetricDef::Quality(Some(s))) => {
                                let inside = part.cells[c]
                                    .slices
                                    .get(s.index())
                                    .copied()
                                    .unwrap_or(false);
                                let sign = if matches!(obj, ObjectiveDef::Minimize(_)) {
                                    1.0
                                } else {
                                    -1.0
                                };
                                (if inside { sign * q } else { 0.0 }) + 1e-9 * k
                            }
                            ObjectiveDef::Minimize(m) => metric_proxy(m, e, l, k, q),
                            ObjectiveDef::Maximize(m) => -metric_proxy(m, e, l, k, q),
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn scope_weight(&self, scope: Option<SliceId>) -> f64 {
        match scope {
            Some(s) => self.slice_weight.get(s.index()).copied().unwrap_or(0.0),
            None => 1.0,
        }
    }

    fn add_slo_rows(
        &mut self,
        policy: &Policy,
        part: &Partition,
        i: usize,
        slo: &SloDef,
        qps: Option<f64>,
    ) {
        let scopes: Vec<(Option<SliceId>, Option<SliceId>)> = match (&slo.scope, &slo.metric) {
            (SloScope::EachSlice, _) => (0..policy.slices.len())
                .map(|s| (Some(SliceId(s as u32)), Some(SliceId(s as u32))))
                .collect(),
            (SloScope::Slice(s), _) => vec![(Some(*s), None)],
            (SloScope::All, MetricDef::Quality(Some(s))) => vec![(Some(*s), None)],
            (SloScope::All, _) => vec![(None, None)],
        };
        let upper = matches!(slo.op, CmpOp::Le | CmpOp::Lt | CmpOp::Eq);
        let sign = if upper { 1.0 } else { -1.0 };
        // The `margin`: rows are built on the tightened limit; their kinds
        // keep the declared one (reports compare with what the user wrote).
        let margin = policy.slo_settings.margin;
        let tight = |x: f64| {
            if upper {
                x * (1.0 - margin)
            } else {
                x * (1.0 + margin)
            }
        };
        // A quality floor allows `1 − q` failures: the margin tightens that.
        let tight_quality = |q: f64| {
            if upper {
                q * (1.0 - margin)
            } else {
                1.0 - (1.0 - q) * (1.0 - margin)
            }
        };
        for (scope, slice) in scopes {
            let ws = self.scope_weight(scope);
            if ws <= 0.0 {
                continue;
            }
            let floor_coef = |scope: Option<SliceId>, ws: f64| {
                floor_at_confidence(policy, part, &self.options, &self.evals, scope, ws)
            };
            let slice_weight = &self.slice_weight;
            let sw = |s: SliceId| slice_weight.get(s.index()).copied().unwrap_or(0.0);
            let rows = &mut self.rows;
            let warnings = &mut self.warnings;
            let mut push = |terms: Vec<Term>, rhs: f64, kind: RowKind| {
                rows.push(RowDef {
                    slo: i,
                    slice,
                    terms,
                    rhs,
                    kind,
                })
            };
            match (&slo.metric, &slo.bound) {
                (MetricDef::Ttft(q) | MetricDef::Latency(q), BoundDef::Value(t)) => {
                    let ttft = matches!(slo.metric, MetricDef::Ttft(_));
                    push(
                        vec![Term {
                            coef: Coef::Exceed { t: tight(*t), ttft },
                            scale: sign / ws,
                            scope,
                        }],
                        sign * (1.0 - q),
                        RowKind::Percentile {
                            q: *q,
                            t: *t,
                            ttft,
                            scope,
                            upper,
                        },
                    );
                }
                (MetricDef::Cost(model_basis), BoundDef::Value(x)) => match model_basis {
                    routec_check::ir::CostBasis::PerRequests(n) => {
                        let n = *n as f64;
                        push(
                            vec![Term {
                                coef: Coef::Cost,
                                scale: sign * n / ws,
                                scope,
                            }],
                            sign * tight(*x),
                            RowKind::Linear { sign, limit: *x },
                        );
                    }
                    routec_check::ir::CostBasis::PerSuccess => {
                        push(
                            vec![Term {
                                coef: Coef::CostMinusQuality(tight(*x)),
                                scale: sign / ws,
                                scope,
                            }],
                            0.0,
                            RowKind::CostPerSuccess { limit: *x, scope },
                        );
                    }
                },
                (MetricDef::Quality(_), BoundDef::Value(x)) => push(
                    vec![Term {
                        coef: if upper {
                            Coef::Quality
                        } else {
                            floor_coef(scope, ws)
                        },
                        scale: sign / ws,
                        scope,
                    }],
                    sign * tight_quality(*x),
                    RowKind::Linear { sign, limit: *x },
                ),
                (
                    MetricDef::Quality(left),
                    BoundDef::Metric {
                        metric: MetricDef::Quality(Some(b)),
                        offset,
                    },
                ) if left.or(scope).is_some() => {
                    // `quality for A >= quality for B - x`, or per slice:
                    // `quality >= quality for B - x for each slice`.
                    let Some(a) = left.as_ref().or(scope.as_ref()) else {
                        continue;
                    };
                    if a == b {
                        continue;
                    }
                    let (wa, wb) = (sw(*a), sw(*b));
                    if wa <= 0.0 || wb <= 0.0 {
                        continue;
                    }
                    // upper: A <= B + off  ⇔  A/wa·Σ − B/wb·Σ <= off.
                    // With a margin m, the limit B + off is tightened like
                    // any limit: upper A <= (1−m)(B + off); lower, A's
                    // failures at most (1−m) of those B + off allows:
                    // 1 − A <= (1−m)(1 − B − off).
                    let keep = 1.0 - margin;
                    let rhs = if upper {
                        keep * offset
                    } else {
                        -margin - keep * offset
                    };
                    push(
                        vec![
                            Term {
                                coef: Coef::Quality,
                                scale: sign / wa,
                                scope: Some(*a),
                            },
                            Term {
                                coef: Coef::Quality,
                                scale: -sign * keep / wb,
                                scope: Some(*b),
                            },
                        ],
                        rhs,
                        RowKind::Parity {
                            a: *a,
                            b: *b,
                            offset: *offset,
                        },
                    );
                }
                (MetricDef::Share(m), BoundDef::Value(x)) => push(
                    vec![Term {
                        coef: Coef::Calls(m.index()),
                        scale: sign / ws,
                        scope,
                    }],
                    sign * tight(*x),
                    RowKind::Linear { sign, limit: *x },
                ),
                (MetricDef::Spend(period), BoundDef::Value(x)) => {
                    let Some(qps) = qps else {
                        warnings.push((
                            i,
                            "spend cannot be predicted: the traffic profile declares no `qps`"
                                .to_string(),
                        ));
                        continue;
                    };
                    push(
                        vec![Term {
                            coef: Coef::Cost,
                            scale: sign * qps * period.seconds(),
                            scope,
                        }],
                        sign * tight(*x),
                        RowKind::Linear { sign, limit: *x },
                    );
                }
                _ => {
                    let on = slice
                        .and_then(|s| policy.slices.get(s.index()))
                        .map(|d| format!(" (for slice `{}`)", d.name))
                        .unwrap_or_default();
                    warnings.push((
                        i,
                        format!(
                            "this slo cannot be enforced{on}: only quality can be bounded by another slice's quality"
                        ),
                    ));
                }
            }
        }
    }

    /// The value of a coefficient for option `o` of cell `c`.
    pub fn coef(&self, ev: &Evaluator, part: &Partition, c: usize, o: &Opt, coef: Coef) -> f64 {
        let e = &self.evals[o.eval];
        let cell = &part.cells[c];
        match coef {
            Coef::Exceed { t, ttft } => ev.exceedance(e, t - cell.shift, ttft),
            Coef::Cost => e.cost(cell.prompt_mean),
            Coef::CostMinusQuality(x) => e.cost(cell.prompt_mean) - x * e.quality,
            Coef::Quality => e.quality,
            Coef::QualityLow { k, shift } => e.quality - k * cell.weight * e.quality_var - shift,
            Coef::Calls(m) => e.calls.get(m).copied().unwrap_or(0.0),
        }
    }

    /// The row's per-unit-weight value for one option (before `x`).
    pub fn row_coef(
        &self,
        ev: &Evaluator,
        part: &Partition,
        row: &RowDef,
        c: usize,
        o: &Opt,
    ) -> f64 {
        let cell = &part.cells[c];
        row.terms
            .iter()
            .filter(|t| {
                t.scope
                    .is_none_or(|s| cell.slices.get(s.index()).copied().unwrap_or(false))
            })
            .map(|t| t.scale * self.coef(ev, part, c, o, t.coef))
            .sum()
    }
}

/// A metric's value for one option of one cell: what cells outside the LP
/// (no traffic, or a single option) are chosen by, and the linear
/// objectives' coefficients. Percentile objectives rank a cell's options
/// by their mean; cost per success by the cell's own ratio (a large finite
/// number when the option never succeeds).
fn metric_proxy(m: &MetricDef, e: &PlanEval, l: f64, k: f64, q: f64) -> f64 {
    match m {
        MetricDef::Cost(routec_check::ir::CostBasis::PerSuccess) => {
            model::cost_per_success(k, q).min(1e12)
        }
        MetricDef::Cost(_) | MetricDef::Spend(_) => k,
        MetricDef::Latency(_) => l,
        MetricDef::Ttft(_) => e.mean_ttft,
        MetricDef::Quality(_) => q,
        MetricDef::Share(mid) => e.calls.get(mid.index()).copied().unwrap_or(0.0),
    }
}

/// The variables of the LP: `(cell, option)` for weighted optimize cells.
#[derive(Debug)]
pub struct Vars {
    pub list: Vec<(usize, usize)>,
    /// Per cell: the first variable, when the cell is a variable cell.
    pub first: Vec<Option<usize>>,
}

impl Vars {
    pub fn new(part: &Partition, p: &Problem) -> Vars {
        let mut list = Vec::new();
        let mut first = vec![None; part.cells.len()];
        for (c, cell) in part.cells.iter().enumerate() {
            if p.options[c].len() > 1 && cell.weight > 0.0 {
                first[c] = Some(list.len());
                for o in 0..p.options[c].len() {
                    list.push((c, o));
                }
            }
        }
        Vars { list, first }
    }
}

/// Cached row coefficients: `coefs[row][cell][option]` (per unit weight).
pub fn row_coefs(
    p: &Problem,
    ev: &Evaluator,
    part: &Partition,
    rows: &[RowDef],
) -> Vec<Vec<Vec<f64>>> {
    rows.iter()
        .map(|r| {
            (0..part.cells.len())
                .map(|c| {
                    p.options[c]
                        .iter()
                        .map(|o| p.row_coef(ev, part, r, c, o))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The default choice of a cell outside the LP: its best option by the
/// objective (ties: the first).
pub fn best_option(p: &Problem, c: usize) -> usize {
    let mut best = 0;
    for (o, v) in p.objective[c].iter().enumerate() {
        if *v < p.objective[c][best] - 1e-12 {
            best = o;
        }
    }
    best
}

/// Builds the LP over `active` rows with right-hand sides `rhs`,
/// minimizing `objective` (per cell and option, per unit weight) when
/// given, else only testing feasibility.
pub fn build_lp(
    p: &Problem,
    part: &Partition,
    vars: &Vars,
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
    active: &[usize],
    objective: Option<&[Vec<f64>]>,
) -> Lp {
    let n = vars.list.len();
    let mut lp = Lp {
        vars: n,
        objective: vec![0.0; n],
        le: Vec::new(),
        eq: Vec::new(),
    };
    if let Some(obj) = objective {
        for (j, &(c, o)) in vars.list.iter().enumerate() {
            lp.objective[j] = part.cells[c].weight * obj[c][o];
        }
    }
    for (c, f) in vars.first.iter().enumerate() {
        if let Some(f) = f {
            let row = (0..p.options[c].len()).map(|o| (f + o, 1.0)).collect();
            lp.eq.push((row, 1.0));
        }
    }
    for &r in active {
        let mut row = Vec::new();
        let mut constant = 0.0;
        for (c, cell) in part.cells.iter().enumerate() {
            match vars.first[c] {
                Some(f) => {
                    for (o, v) in coefs[r][c].iter().enumerate() {
                        if *v != 0.0 {
                            row.push((f + o, cell.weight * v));
                        }
                    }
                }
                None => {
                    let o = fixed_choice(p, c);
                    constant += cell.weight * coefs[r][c][o];
                }
            }
        }
        lp.le.push((row, rhs[r] - constant));
    }
    lp
}

/// The option a non-variable cell uses.
pub fn fixed_choice(p: &Problem, c: usize) -> usize {
    if p.options[c].len() == 1 {
        0
    } else {
        best_option(p, c)
    }
}

/// Expands an LP solution into per-cell shares.
pub fn assignment(p: &Problem, vars: &Vars, x: &[f64]) -> Assignment {
    (0..p.options.len())
        .map(|c| {
            let k = p.options[c].len();
            match vars.first[c] {
                Some(f) => (0..k)
                    .map(|o| x.get(f + o).copied().unwrap_or(0.0).max(0.0))
                    .collect(),
                None => {
                    let mut v = vec![0.0; k];
                    v[fixed_choice(p, c)] = 1.0;
                    v
                }
            }
        })
        .collect()
}

/// `Σ_c w_c Σ_o a_co coef_co` for one row.
pub fn row_value(part: &Partition, coefs: &[Vec<f64>], a: &Assignment) -> f64 {
    let mut s = 0.0;
    for (c, cell) in part.cells.iter().enumerate() {
        for (o, x) in a[c].iter().enumerate() {
            if *x != 0.0 {
                s += cell.weight * x * coefs[c][o];
            }
        }
    }
    s
}

/// `Σ_c w_c Σ_o a_co objective_co`.
pub fn linear_value(objective: &[Vec<f64>], part: &Partition, a: &Assignment) -> f64 {
    let mut s = 0.0;
    for (c, cell) in part.cells.iter().enumerate() {
        for (o, x) in a[c].iter().enumerate() {
            s += cell.weight * x * objective[c][o];
        }
    }
    s
}

/// Snaps tiny shares, renormalises, then makes fractional cells pure on
/// their best option by `objective` when every row still holds.
pub fn clean(
    part: &Partition,
    objective: &[Vec<f64>],
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
    a: &mut Assignment,
) {
    for shares in a.iter_mut() {
        for x in shares.iter_mut() {
            if *x < SNAP {
                *x = 0.0;
            }
            if *x > 1.0 - SNAP {
                *x = 1.0;
            }
        }
        let total: f64 = shares.iter().sum();
        if total > 0.0 {
            shares.iter_mut().for_each(|x| *x /= total);
        }
    }
    let mut values: Vec<f64> = coefs.iter().map(|r| row_value(part, r, a)).collect();
    let mut fractional: Vec<usize> = (0..a.len())
        .filter(|&c| a[c].iter().filter(|x| **x > 0.0).count() > 1)
        .collect();
    fractional.sort_by(|x, y| part.cells[*y].weight.total_cmp(&part.cells[*x].weight));
    for c in fractional {
        let w = part.cells[c].weight;
        let mut support: Vec<usize> = (0..a[c].len()).filter(|&o| a[c][o] > 0.0).collect();
        support.sort_by(|x, y| objective[c][*x].total_cmp(&objective[c][*y]));
        for o in support {
            let delta: Vec<f64> = coefs
                .iter()
                .map(|r| {
                    let new = w * r[c][o];
                    let old: f64 = a[c].iter().enumerate().map(|(k, x)| w * x * r[c][k]).sum();
                    new - old
                })
                .collect();
            let ok = values
                .iter()
                .zip(&delta)
                .zip(rhs)
                .all(|((v, d), b)| v + d <= b + FEAS_TOL || *d <= 0.0);
            let obj_old: f64 = a[c]
                .iter()
                .enumerate()
                .map(|(k, x)| x * objective[c][k])
                .sum();
            if ok && objective[c][o] <= obj_old + 1e-9 {
                for (v, d) in values.iter_mut().zip(&delta) {
                    *v += d;
                }
                a[c].iter_mut().for_each(|x| *x = 0.0);
                a[c][o] = 1.0;
                break;
            }
        }
    }
}

/// Minimizes the linear `objective` under the rows; returns the cleaned
/// assignment.
pub fn solve_linear(
    p: &Problem,
    part: &Partition,
    vars: &Vars,
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
    objective: &[Vec<f64>],
) -> Result<Assignment, LpResult> {
    let active: Vec<usize> = (0..coefs.len()).collect();
    let lp = build_lp(p, part, vars, coefs, rhs, &active, Some(objective));
    match lp.solve() {
        LpResult::Optimal { x, .. } => {
            let mut a = assignment(p, vars, &x);
            clean(part, objective, coefs, rhs, &mut a);
            Ok(a)
        }
        other => Err(other),
    }
}

/// Whether the rows in `subset` can hold together.
pub fn feasible(
    p: &Problem,
    part: &Partition,
    vars: &Vars,
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
    subset: &[usize],
) -> bool {
    let lp = build_lp(p, part, vars, coefs, rhs, subset, None);
    !matches!(lp.solve(), LpResult::Infeasible)
}

/// A minimal set of rows among `rows` that cannot hold together
/// (deletion filter).
pub fn conflict(
    p: &Problem,
    part: &Partition,
    vars: &Vars,
    coefs: &[Vec<Vec<f64>>],
    rhs: &[f64],
    rows: &[usize],
) -> Vec<usize> {
    let mut set: Vec<usize> = rows.to_vec();
    let mut i = 0;
    while i < set.len() {
        let mut without = set.clone();
        without.remove(i);
        if !feasible(p, part, vars, coefs, rhs, &without) {
            set = without;
        } else {
            i += 1;
        }
    }
    set
}
