//! The cost-quality frontier of a policy: the optimum as a quality floor
//! sweeps from the cheapest routing the policy allows to its best quality,
//! each point a full re-solve of the linear program ([`compile_recorded`])
//! with the objective `minimize cost`, the policy's own SLOs except its
//! floors on overall quality (which the sweep replaces), and the
//! constraint `quality >= floor` over all traffic. Only the cells of
//! `optimize` rules move; fixed rules are constants, as in every compile.
//! Also the predicted figures of each single model routed all traffic.
//!
//! Pure: no IO; the same inputs give the same points.

use routec_check::ir::{
    BoundDef, Cond, MetricDef, ModelId, ObjectiveDef, PlanDef, Policy, RuleDef, SloDef, SloScope,
};
use routec_syntax::ast::CmpOp;
use routec_table::Table;
use routec_traffic::BoundTraffic;

use crate::{CompileOptions, Compiled, compile_recorded};

/// One point of the frontier: predicted figures of the optimal table under
/// a quality floor.
#[derive(Clone, Debug)]
pub struct FrontierPoint {
    /// The floor imposed (ratio); `None` for the two end points (minimum
    /// cost without a floor, maximum quality).
    pub floor: Option<f64>,
    /// Predicted cost per request, USD.
    pub cost: f64,
    /// Predicted quality (ratio).
    pub quality: f64,
    /// The table of this point (to replay or simulate it).
    pub table: Table,
}

/// A single model routed all traffic, as the model predicts it.
#[derive(Clone, Debug, PartialEq)]
pub struct SinglePoint {
    pub model: String,
    pub cost: f64,
    pub quality: f64,
}

/// Predicted cost per request and quality of a compiled table: the cells'
/// figures weighted by their traffic shares.
pub fn predicted(compiled: &Compiled) -> (f64, f64) {
    let (mut w, mut cost, mut quality) = (0.0, 0.0, 0.0);
    for c in &compiled.cells {
        w += c.weight;
        cost += c.weight * c.cost;
        quality += c.weight * c.quality;
    }
    if w > 0.0 {
        (cost / w, quality / w)
    } else {
        (0.0, 0.0)
    }
}

fn with_objective(policy: &Policy, objective: ObjectiveDef, floor: Option<f64>) -> Policy {
    let mut p = policy.clone();
    p.objective = Some(objective);
    // The sweep's floor replaces the policy's own floors on overall
    // quality; every other SLO (latency, cost, slices, shares) stays.
    p.slos.retain(|slo| {
        !(slo.metric == MetricDef::Quality(None)
            && slo.scope == SloScope::All
            && matches!(slo.bound, BoundDef::Value(_)))
    });
    if let Some(q) = floor {
        p.slos.push(SloDef {
            metric: MetricDef::Quality(None),
            op: CmpOp::Ge,
            bound: BoundDef::Value(q),
            scope: SloScope::All,
            span: policy.slos.last().map_or_else(Default::default, |s| s.span),
        });
    }
    p
}

fn point(
    policy: &Policy,
    source: &str,
    options: &CompileOptions,
    recorded: Option<&BoundTraffic>,
    floor: Option<f64>,
    objective: ObjectiveDef,
) -> Option<FrontierPoint> {
    let p = with_objective(policy, objective, floor);
    let compiled = compile_recorded(&p, source, options, recorded).ok()?;
    let (cost, quality) = predicted(&compiled);
    Some(FrontierPoint {
        floor,
        cost,
        quality,
        table: compiled.table,
    })
}

/// The frontier with `points` floors evenly spaced strictly between the
/// two end points (which are included), sorted by cost. Floors no routing
/// can meet under the policy's SLOs are left out; an empty result means
/// the policy does not compile.
pub fn frontier(
    policy: &Policy,
    source: &str,
    options: &CompileOptions,
    recorded: Option<&BoundTraffic>,
    points: usize,
) -> Vec<FrontierPoint> {
    let cheapest = point(
        policy,
        source,
        options,
        recorded,
        None,
        ObjectiveDef::Minimize(MetricDef::Cost(routec_check::ir::CostBasis::PerRequests(1))),
    );
    let best = point(
        policy,
        source,
        options,
        recorded,
        None,
        ObjectiveDef::Maximize(MetricDef::Quality(None)),
    );
    let mut out: Vec<FrontierPoint> = Vec::new();
    if let (Some(lo), Some(hi)) = (&cheapest, &best) {
        let (q0, q1) = (lo.quality, hi.quality);
        if q1 > q0 {
            for k in 1..=points {
                let floor = q0 + (q1 - q0) * k as f64 / (points + 1) as f64;
                if let Some(p) = point(
                    policy,
                    source,
                    options,
                    recorded,
                    Some(floor),
                    ObjectiveDef::Minimize(MetricDef::Cost(
                        routec_check::ir::CostBasis::PerRequests(1),
                    )),
                ) {
                    out.push(p);
                }
            }
        }
    }
    out.extend(cheapest);
    out.extend(best);
    out.sort_by(|a, b| {
        a.cost
            .total_cmp(&b.cost)
            .then(a.quality.total_cmp(&b.quality))
    });
    out
}

/// Each model routed all traffic (`route { otherwise => MODEL }`), as the
/// model predicts it; models the policy cannot compile with are left out.
pub fn single_models(
    policy: &Policy,
    source: &str,
    options: &CompileOptions,
    recorded: Option<&BoundTraffic>,
) -> Vec<SinglePoint> {
    let Some(last) = policy.rules.last() else {
        return Vec::new();
    };
    (0..policy.models.len())
        .filter_map(|m| {
            let mut p = policy.clone();
            // A single model's own figures, whatever the SLOs say.
            p.slos.clear();
            p.rules = vec![RuleDef {
                cond: Cond::Const(true),
                plan: PlanDef::Target(ModelId(m as u32)),
                span: last.span,
                cond_span: last.cond_span,
                otherwise: true,
            }];
            let compiled = compile_recorded(&p, source, options, recorded).ok()?;
            let (cost, quality) = predicted(&compiled);
            Some(SinglePoint {
                model: policy.models[m].name.clone(),
                cost,
                quality,
            })
        })
        .collect()
}
