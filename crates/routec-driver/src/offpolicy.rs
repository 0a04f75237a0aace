//! Off-policy estimates (`routec simulate CANDIDATE --off-policy LOG`):
//! what a candidate table would have achieved on the requests a gateway
//! logged while routing with another table, from each request's logged
//! propensity (`docs/learn.md`).
//!
//! Each request line of the decision log that the table routed (it has a
//! `decision.propensity`) is routed again by the candidate: `m`, the
//! probability that the candidate runs the logged plan, is the share of
//! that plan (compared by its text in the language's syntax) in the
//! candidate's leaf. The outcome is the feedback's success for the model
//! that answered (requests without feedback count for cost only) and the
//! logged cost; the outcome model of the doubly robust estimate is the
//! candidate table's predicted figure for the request's cell (its median
//! latency for the mean latency).
//! [`routec_sim::offpolicy::estimate`] does the arithmetic.

use std::collections::BTreeSet;

use routec_runtime::Router;
pub use routec_sim::offpolicy::Estimate;
use routec_sim::offpolicy::{self, Logged};
use routec_syntax::{FileId, SourceMap};
use routec_table::Metrics;

use crate::Failed;

/// Standard errors on either side of an estimate: a 95% interval.
pub use routec_sim::stats::Z95;

/// An estimate with its interval clipped to the outcome's range (a success
/// rate within `[0, 1]`, a cost or latency at least 0).
fn clipped(e: Estimate, (min, max): (f64, f64)) -> Estimate {
    Estimate {
        low: e.low.clamp(min, max),
        high: e.high.clamp(min, max),
        ..e
    }
}

/// The estimates of one outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimated {
    /// Requests the estimate reads.
    pub requests: usize,
    /// Of them, those whose logged plan the candidate runs with a positive
    /// probability: the estimate sees the candidate only through these.
    pub matched: usize,
    /// The logging policy's plain mean on the same requests (what it did).
    pub logged: f64,
    /// The candidate table's own prediction for the mix it was compiled
    /// for (`assumed.predicted`; `None` for a table without predictions,
    /// and for the mean latency, which the table does not predict).
    pub predicted: Option<f64>,
    /// Each with its 95% interval (NaN when nothing was estimated),
    /// clipped to the outcome's range.
    pub ips: Estimate,
    pub snips: Estimate,
    pub dr: Estimate,
}

/// The off-policy report.
#[derive(Clone, Debug, PartialEq)]
pub struct OffPolicyReport {
    /// The log's name as given.
    pub log: String,
    /// The candidate's policy name and table hash.
    pub policy: String,
    pub table: String,
    /// Request lines read (feedback lines joined onto them).
    pub lines: usize,
    /// Requests routed by the logging table (a `decision.propensity`).
    pub routed: usize,
    /// Requests that named a model (no propensity): not estimated.
    pub named: usize,
    /// Lines without a `decision` (not a decision log's): not estimated.
    pub undecided: usize,
    /// Routed requests that were exploration.
    pub explored: usize,
    /// Signals in the log that the candidate does not read (ignored).
    pub ignored_signals: Vec<String>,
    /// Success rate, over the routed requests with feedback for the model
    /// that answered; `None` without any.
    pub success: Option<Estimated>,
    /// Cost per request in USD, over the routed requests with a cost.
    pub cost: Option<Estimated>,
    /// Mean end-to-end latency in seconds, over the routed requests with
    /// a latency (the mean, not a percentile: a reweighted tail needs far
    /// more requests).
    pub latency: Option<Estimated>,
}

/// The figures one request contributes.
struct Row {
    candidate: f64,
    propensity: f64,
    success: Option<f64>,
    cost: Option<f64>,
    latency: Option<f64>,
    /// The candidate's predicted quality, cost and latency for the cell.
    predicted: (f64, f64, f64),
}

/// Estimates the candidate (`router`, its table) on the decision log
/// `text` (named `name`). A malformed line is an `E0515` located in the
/// log, and nothing is estimated then.
pub fn off_policy(router: &Router, name: &str, text: &str) -> Result<OffPolicyReport, Failed> {
    let records = routec_traffic::parse(text).map_err(|errors| Failed::Diagnostics {
        diagnostics: routec_opt::recorded::located(FileId::MAIN, text, &errors),
        files: SourceMap::new(name, text),
    })?;
    let table = router.table();
    let known: BTreeSet<&str> = table.signals.iter().map(|s| s.name.as_str()).collect();
    // The outcome model: quality, cost per request and, for the mean
    // latency, the median (the table keeps quantiles, not means; any fixed
    // prediction keeps the doubly robust estimate unbiased when the
    // propensities are right).
    let predicted_of = |m: &Metrics| (m.quality, m.cost_per_1k_requests / 1000.0, m.latency.p50);
    let mut report = OffPolicyReport {
        log: name.to_owned(),
        policy: table.policy.name.clone(),
        table: table.source_hash.clone(),
        lines: records.len(),
        routed: 0,
        named: 0,
        undecided: 0,
        explored: 0,
        ignored_signals: Vec::new(),
        success: None,
        cost: None,
        latency: None,
    };
    let mut ignored = BTreeSet::new();
    let mut rows = Vec::new();
    for record in &records {
        let Some(d) = &record.decision else {
            report.undecided += 1;
            continue;
        };
        let Some(propensity) = d.propensity else {
            report.named += 1;
            continue;
        };
        report.routed += 1;
        report.explored += usize::from(d.explored);
        let mut object = serde_json::Map::new();
        for e in &record.signals {
            if known.contains(e.name.as_str()) {
                object.insert(e.name.clone(), e.value.clone());
            } else {
                ignored.insert(e.name.clone());
            }
        }
        // Only unknown signals make this fail, and those were left out.
        let Ok(request) = router.request_from_json(&serde_json::Value::Object(object)) else {
            continue;
        };
        let decision = router.decide(&request);
        let candidate = table
            .leaves
            .get(decision.leaf as usize)
            .map_or(0.0, |leaf| {
                leaf.splits
                    .iter()
                    .filter(|s| {
                        table
                            .plans
                            .get(s.plan as usize)
                            .is_some_and(|p| p.text == d.plan)
                    })
                    .map(|s| s.share)
                    .sum::<f64>()
            })
            .min(1.0);
        // A table without predictions has no outcome model: the doubly
        // robust estimate is then IPS (`d = 0`).
        let predicted = table.assumed.as_ref().map_or((0.0, 0.0, 0.0), |a| {
            decision
                .cell
                .and_then(|c| a.cells.get(c as usize))
                .map_or(predicted_of(&a.predicted), |c| predicted_of(&c.predicted))
        });
        let feedback = d
            .model
            .as_ref()
            .and_then(|m| record.outcomes.iter().find(|o| &o.model == m));
        rows.push(Row {
            candidate,
            propensity,
            success: feedback.map(|o| f64::from(u8::from(o.outcome.succeeded()))),
            // The feedback's true cost, when it reports one.
            cost: feedback.and_then(|o| o.outcome.cost_usd).or(d.cost_usd),
            latency: d.latency_ms.map(|ms| ms / 1000.0),
            predicted,
        });
    }
    report.ignored_signals = ignored.into_iter().collect();
    let assumed = table.assumed.as_ref().map(|a| predicted_of(&a.predicted));
    report.success = estimated(
        &rows,
        |r| r.success.zip(Some(r.predicted.0)),
        assumed.map(|a| a.0),
        (0.0, 1.0),
    )?;
    report.cost = estimated(
        &rows,
        |r| r.cost.zip(Some(r.predicted.1)),
        assumed.map(|a| a.1),
        (0.0, f64::INFINITY),
    )?;
    report.latency = estimated(
        &rows,
        |r| r.latency.zip(Some(r.predicted.2)),
        None,
        (0.0, f64::INFINITY),
    )?;
    Ok(report)
}

/// The estimates of one outcome over the rows that have it: `outcome`
/// gives a row's observed outcome and its predicted figure.
fn estimated(
    rows: &[Row],
    outcome: impl Fn(&Row) -> Option<(f64, f64)>,
    assumed: Option<f64>,
    range: (f64, f64),
) -> Result<Option<Estimated>, Failed> {
    let logs: Vec<Logged> = rows
        .iter()
        .filter_map(|r| {
            outcome(r).map(|(y, d)| Logged {
                candidate: r.candidate,
                propensity: r.propensity,
                outcome: y,
                predicted: d,
            })
        })
        .collect();
    if logs.is_empty() {
        return Ok(None);
    }
    let e = offpolicy::estimate(&logs, Z95).map_err(|why| {
        Failed::Policy(format!("cannot estimate: {why} (this is a bug in routec)"))
    })?;
    Ok(Some(Estimated {
        requests: e.requests,
        matched: e.matched,
        logged: logs.iter().map(|l| l.outcome).sum::<f64>() / logs.len() as f64,
        predicted: assumed,
        ips: clipped(e.ips, range),
        snips: clipped(e.snips, range),
        dr: clipped(e.dr, range),
    }))
}
