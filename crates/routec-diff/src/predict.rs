//! The predicted metrics of one side, and the SLO changes between two.
//!
//! Overall figures and SLO statuses are the table's own (`table.assumed`,
//! computed by the optimizer). Per-slice quality and calls per model are not
//! in the table; [`aggregate`] reads them from the compiled model, which
//! aggregates the optimizer's own per-plan estimates of each cell's chosen
//! plans (a test checks that its overall quality and cost equal the
//! table's).

use routec_check::ir::MetricDef;
use routec_syntax::ast::CmpOp;

use crate::{DiffError, Side};

/// The unit of an SLO's value and limit (base units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Usd,
    Ratio,
}

/// One SLO on one side.
#[derive(Clone, Debug, PartialEq)]
pub struct SloSide {
    /// 1-based line in the side's source.
    pub line: u32,
    pub value: f64,
    pub limit: f64,
    pub ok: bool,
    /// How far the value is inside its limit (negative: missed), in the
    /// SLO's unit.
    pub slack: f64,
}

/// One SLO on both sides, matched by its text.
#[derive(Clone, Debug, PartialEq)]
pub struct SloDelta {
    /// The constraint as written (`quality >= 75% for each slice: english`),
    /// the new side's when both have it.
    pub constraint: String,
    /// The old side's text when it differs (a changed bound).
    pub old_constraint: Option<String>,
    pub unit: Unit,
    pub old: Option<SloSide>,
    pub new: Option<SloSide>,
}

impl SloDelta {
    /// Whether the status or the slack changed (an SLO on one side only
    /// always changed).
    pub fn changed(&self) -> bool {
        match (&self.old, &self.new) {
            (Some(a), Some(b)) => {
                if self.old_constraint.is_some() {
                    return true;
                }
                let scale = a
                    .limit
                    .abs()
                    .max(b.limit.abs())
                    .max(a.value.abs())
                    .max(1e-9);
                a.ok != b.ok || (a.slack - b.slack).abs() > 1e-6 * scale
            }
            _ => true,
        }
    }
}

/// What the compiler predicts for one side under its traffic profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The profile's name (`uniform` when the policy declares none).
    pub traffic: String,
    /// The table's overall prediction.
    pub metrics: routec_table::Metrics,
    /// Quality per slice; `None` for a slice without traffic.
    pub slices: Vec<(String, Option<f64>)>,
    /// Calls per request per model.
    pub models: Vec<(String, f64)>,
    /// Whether `slices` and `models` could be computed (they are empty
    /// otherwise): their aggregation must reproduce the table's overall
    /// quality and cost.
    pub breakdown: bool,
    slos: Vec<(String, Unit, SloSide)>,
}

/// Figures aggregated over the cells of a compiled policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    pub quality: f64,
    pub cost_per_1k_requests: f64,
    pub slices: Vec<(String, Option<f64>)>,
    pub models: Vec<(String, f64)>,
}

/// Per-slice quality and calls per model (and, as a check, overall quality
/// and cost), as the optimizer aggregates its own per-plan estimates of
/// each cell's chosen plans (`routec_opt::Compiled`).
pub fn aggregate(side: &Side) -> Aggregate {
    let compiled = side.compiled;
    let (cost, quality) = compiled.overall();
    Aggregate {
        quality,
        cost_per_1k_requests: cost * 1000.0,
        slices: side
            .policy
            .slices
            .iter()
            .zip(compiled.slices())
            .map(|(def, f)| (def.name.clone(), f.quality))
            .collect(),
        models: side
            .policy
            .models
            .iter()
            .zip(compiled.model_calls())
            .map(|(m, calls)| (m.name.clone(), calls))
            .collect(),
    }
}

/// A side's prediction: the table's figures and SLO statuses, and
/// [`aggregate`]'s slices and models.
pub fn predict(side: &Side) -> Result<Prediction, DiffError> {
    let assumed = side
        .compiled
        .table
        .assumed
        .as_ref()
        .ok_or_else(|| DiffError::Mismatch("the table carries no predictions".to_owned()))?;
    // The breakdown must reproduce the table's own overall figures; if it
    // does not (a profile this crate cannot rebuild), it is left out rather
    // than shown wrong.
    let agg = aggregate(side);
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-6 * y.abs().max(1e-3);
    let consistent = close(agg.quality, assumed.predicted.quality)
        && close(
            agg.cost_per_1k_requests,
            assumed.predicted.cost_per_1k_requests,
        );
    let slos = assumed
        .slos
        .iter()
        .zip(side.compiled.slos())
        .map(|(s, row)| {
            let def = side.policy.slos.get(row.slo);
            let unit = match def.map(|d| &d.metric) {
                Some(MetricDef::Ttft(_) | MetricDef::Latency(_)) => Unit::Seconds,
                Some(MetricDef::Cost(_) | MetricDef::Spend(_)) => Unit::Usd,
                _ => Unit::Ratio,
            };
            let upper = def.is_none_or(|d| matches!(d.op, CmpOp::Lt | CmpOp::Le));
            let slack = if upper {
                s.limit - s.value
            } else {
                s.value - s.limit
            };
            (
                s.constraint.clone(),
                unit,
                SloSide {
                    line: s.line,
                    value: s.value,
                    limit: s.limit,
                    ok: s.ok,
                    slack,
                },
            )
        })
        .collect();
    Ok(Prediction {
        traffic: assumed.traffic.clone(),
        metrics: assumed.predicted.clone(),
        slices: if consistent { agg.slices } else { Vec::new() },
        models: if consistent { agg.models } else { Vec::new() },
        breakdown: consistent,
        slos,
    })
}

/// What an SLO constrains, without its bound: `share large <=` of
/// `share large <= 35%`, `quality >= ...: english` of `quality >= 75% for
/// each slice: english`.
fn slo_key(text: &str) -> String {
    let cut = [" <= ", " >= ", " < ", " > ", " == ", " != "]
        .iter()
        .filter_map(|op| text.find(op).map(|i| i + op.len()))
        .min();
    let head = cut.map_or(text, |i| &text[..i]);
    match text.rfind(": ") {
        Some(i) if cut.is_some_and(|c| i > c) => format!("{head}...{}", &text[i..]),
        _ => head.to_owned(),
    }
}

/// Every SLO of either side, matched by text, then by what it constrains
/// (a changed bound), in the new side's order then the old side's that
/// the new one lacks.
pub fn slo_deltas(old: &Prediction, new: &Prediction) -> Vec<SloDelta> {
    let mut used = vec![false; old.slos.len()];
    let mut matched: Vec<Option<usize>> = new
        .slos
        .iter()
        .map(|(text, _, _)| {
            let i = (0..old.slos.len()).find(|i| !used[*i] && old.slos[*i].0 == *text)?;
            used[i] = true;
            Some(i)
        })
        .collect();
    for (n, (text, _, _)) in new.slos.iter().enumerate() {
        if matched[n].is_some() {
            continue;
        }
        let key = slo_key(text);
        if let Some(i) = (0..old.slos.len()).find(|i| !used[*i] && slo_key(&old.slos[*i].0) == key)
        {
            used[i] = true;
            matched[n] = Some(i);
        }
    }
    let mut out = Vec::new();
    for ((text, unit, n), m) in new.slos.iter().zip(&matched) {
        let o = m.and_then(|i| old.slos.get(i));
        out.push(SloDelta {
            constraint: text.clone(),
            old_constraint: o.filter(|x| x.0 != *text).map(|x| x.0.clone()),
            unit: *unit,
            old: o.map(|x| x.2.clone()),
            new: Some(n.clone()),
        });
    }
    for (i, (text, unit, o)) in old.slos.iter().enumerate() {
        if !used[i] {
            out.push(SloDelta {
                constraint: text.clone(),
                old_constraint: None,
                unit: *unit,
                old: Some(o.clone()),
                new: None,
            });
        }
    }
    out
}
