//! What a compiled table was optimized for, in a few figures: the overall
//! predicted metrics, the quality of each slice and each SLO with its slack
//! (and, when binding, what tightening it costs). `routec compile` prints
//! it; the values are the table's own `assumed` figures and the compiler's
//! SLO rows, raw in base units (renderers round).

use routec_syntax::ast::CmpOp;

use crate::CompiledPolicy;
use crate::explain::{SloSensitivity, slo_sensitivities};

/// The figures a table was optimized for.
#[derive(Clone, Debug, PartialEq)]
pub struct Predicted {
    /// The traffic profile the table was compiled for.
    pub traffic: String,
    pub metrics: routec_table::Metrics,
    /// Every slice with traffic, in declaration order.
    pub slices: Vec<SliceQuality>,
    pub slos: Vec<SloSlack>,
    /// The budget's pacing ladder, when the table has one.
    pub pacing: Option<PacingLadder>,
    /// The judge's part of the predicted cost, when the policy declares one.
    pub judge: Option<JudgeCost>,
}

/// What the policy's judge costs (`docs/semantics.md`, "The judge").
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeCost {
    /// The judge model.
    pub model: String,
    /// The share of answered requests judged at the profile's `qps`.
    pub share: f64,
    /// Expected USD per request, included in the predicted cost.
    pub cost_per_request: f64,
}

/// The rungs of a pacing ladder, for a summary.
#[derive(Clone, Debug, PartialEq)]
pub struct PacingLadder {
    /// The SLO as written, and its line.
    pub constraint: String,
    pub line: u32,
    /// Rung 0 (the table) first: predicted cost per request (USD), quality,
    /// and the SLOs the rung misses on the assumed mix.
    pub rungs: Vec<(f64, f64, Vec<String>)>,
}

/// A slice's share of traffic and its predicted quality.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceQuality {
    pub name: String,
    pub share: f64,
    pub quality: f64,
}

/// One SLO row with how far its predicted value is from its limit.
#[derive(Clone, Debug, PartialEq)]
pub struct SloSlack {
    pub slo: SloSensitivity,
    /// `limit - value` for `<=` and `<`, `value - limit` otherwise:
    /// positive when met with room to spare, 0 when binding, negative when
    /// missed (base units).
    pub slack: f64,
}

/// The figures `p`'s table was optimized for (`None`: the table carries no
/// predictions, as for a policy without traffic).
pub fn predicted(p: &CompiledPolicy) -> Option<Predicted> {
    let assumed = p.compiled.table.assumed.as_ref()?;
    let slices = p
        .compiled
        .slices()
        .into_iter()
        .filter_map(|s| {
            let quality = s.quality?;
            Some(SliceQuality {
                name: p.policy.slices.get(s.slice)?.name.clone(),
                share: s.share,
                quality,
            })
        })
        .collect();
    let slos = slo_sensitivities(p)
        .into_iter()
        .zip(p.compiled.slos())
        .map(|(slo, row)| {
            let upper = p
                .policy
                .slos
                .get(row.slo)
                .is_none_or(|d| matches!(d.op, CmpOp::Lt | CmpOp::Le));
            let slack = if upper {
                slo.limit - slo.value
            } else {
                slo.value - slo.limit
            };
            // A binding SLO's solver tolerance is not a miss.
            let tolerance = 1e-9 * slo.limit.abs().max(1.0);
            let slack = if slack.abs() <= tolerance || (slo.ok && slack < 0.0) {
                0.0
            } else {
                slack
            };
            SloSlack { slo, slack }
        })
        .collect();
    let pacing = p.compiled.table.pacing.as_ref().map(|pacing| {
        let missed = |a: Option<&routec_table::Assumed>| -> Vec<String> {
            a.map(|a| {
                a.slos
                    .iter()
                    .filter(|s| !s.ok)
                    .map(|s| s.constraint.clone())
                    .collect()
            })
            .unwrap_or_default()
        };
        let top = (
            pacing.cost_per_request,
            assumed.predicted.quality,
            missed(Some(assumed)),
        );
        PacingLadder {
            constraint: pacing.constraint.clone(),
            line: pacing.line,
            rungs: std::iter::once(top)
                .chain(
                    pacing
                        .steps
                        .iter()
                        .map(|s| (s.cost_per_request, s.quality, missed(s.assumed.as_ref()))),
                )
                .collect(),
        }
    });
    let judge = p.policy.learn.judge.as_ref().and_then(|j| {
        Some(JudgeCost {
            model: p.policy.models.get(j.model.index())?.name.clone(),
            share: p.compiled.judge_share()?,
            cost_per_request: p.compiled.judge_cost()?,
        })
    });
    Some(Predicted {
        traffic: assumed.traffic.clone(),
        metrics: assumed.predicted.clone(),
        slices,
        slos,
        pacing,
        judge,
    })
}
