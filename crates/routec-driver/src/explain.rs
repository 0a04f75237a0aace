//! How one request is routed: [`explain`] decides it with the compiled
//! table (as every runtime does) and gathers why: the rule, the plan and
//! its split, the optimizer's cell with its predicted figures and recorded
//! quality estimates, the tests taken through the decision diagram with the
//! values that were defaulted, and what tightening each binding SLO costs.

use routec_check::ir::MetricDef;
use routec_opt::ValueSet;
use routec_runtime::{
    Decision, InvalidValue, Request, RequestError, Router, SignalValue, ValueOrigin,
};

use crate::{CompiledPolicy, Failed};

/// The explanation of one request (raw values in base units; renderers
/// round).
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// 1-based line of the matching rule.
    pub rule: u32,
    pub rule_text: String,
    /// The chosen plan in the language's syntax.
    pub plan: String,
    /// Every plan of the leaf with its share (one entry unless split).
    pub splits: Vec<(String, f64)>,
    /// The optimizer's cell as a readable predicate.
    pub cell: Option<String>,
    /// Signals the diagram read that the request did not carry.
    pub defaulted: Vec<String>,
    /// Signals the diagram read whose value was invalid (and defaulted).
    pub invalid: Vec<String>,
    /// Every value of the request that does not fit its signal, read by
    /// the diagram or not, with what the signal accepts.
    pub invalid_values: Vec<InvalidInput>,
    /// The tests taken through the diagram.
    pub path: Vec<Step>,
    /// The cell's predicted figures and its share of traffic.
    pub predicted: Option<(routec_table::Metrics, f64)>,
    /// The outcome-based quality estimates of the cell (recorded profiles
    /// with outcomes).
    pub recorded: Option<RecordedQuality>,
    /// Every SLO row with its status and the price of tightening it.
    pub slos: Vec<SloSensitivity>,
}

/// A value of the request that does not fit its signal. Every runtime
/// routes such a request as if the signal were missing: with its default.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidInput {
    pub signal: String,
    /// The value as the request carried it.
    pub value: serde_json::Value,
    /// The default routed instead, as the language writes it.
    pub default: String,
    /// What the signal accepts: the runtime's did-you-mean for a misspelled
    /// enum variant, else the forms it reads.
    pub help: String,
    /// Whether the decision diagram read the signal on this request's path
    /// (so the default took part in the decision).
    pub read: bool,
}

impl InvalidInput {
    /// One line: `` `task` is `"chatt"`: did you mean `chat`? (routed as its default, `chat`) ``.
    pub fn message(&self) -> String {
        let consequence = if self.read {
            format!("routed as its default, `{}`", self.default)
        } else {
            "this request's route does not read it".to_owned()
        };
        format!(
            "invalid value `{}` for signal `{}`: {} ({consequence})",
            self.value, self.signal, self.help
        )
    }
}

/// A request read from JSON: the values every runtime routes with, and the
/// values that did not fit their signals (defaulted).
#[derive(Clone, Debug, PartialEq)]
pub struct ReadRequest {
    pub request: Request,
    pub invalid: Vec<InvalidValue>,
}

/// One test on the path through the decision diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub signal: String,
    pub value: String,
    pub origin: ValueOrigin,
    /// The test as taken, e.g. `prompt_tokens = 500 < 2000`.
    pub test: String,
}

/// The quality a recorded profile's outcomes give a cell's models.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedQuality {
    /// The traffic profile.
    pub traffic: String,
    pub requests: usize,
    pub labeled: usize,
    pub models: Vec<ModelQuality>,
}

/// One model's quality in one cell: declared, and estimated from outcomes.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelQuality {
    pub model: String,
    pub declared: f64,
    pub estimate: f64,
    /// The 95% interval.
    pub low: f64,
    pub high: f64,
    pub outcomes: usize,
    pub successes: usize,
}

/// The unit an SLO is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SloUnit {
    Seconds,
    Usd,
    Ratio,
}

impl SloUnit {
    /// The unit of a metric (`None`: a ratio).
    pub fn of(metric: Option<&MetricDef>) -> SloUnit {
        match metric {
            Some(MetricDef::Ttft(_) | MetricDef::Latency(_)) => SloUnit::Seconds,
            Some(MetricDef::Cost(_) | MetricDef::Spend(_)) => SloUnit::Usd,
            _ => SloUnit::Ratio,
        }
    }
}

/// One SLO row's status and the price of tightening it.
#[derive(Clone, Debug, PartialEq)]
pub struct SloSensitivity {
    /// The constraint as written (with its slice for `for each slice`).
    pub constraint: String,
    /// 1-based line of the SLO.
    pub line: u32,
    /// Value and limit in base units (seconds, USD, ratio).
    pub value: f64,
    pub limit: f64,
    pub unit: SloUnit,
    pub ok: bool,
    /// What tightening it by one step costs, when it is binding:
    /// `latency p95 -100ms costs +$0.31/1k, quality +0.2%`.
    pub tightening: Option<String>,
}

/// Parses a request given as a JSON object keyed by signal name (values as
/// `explain --request` takes them). An unknown signal is a usage error with
/// a did-you-mean; a value that does not fit its signal is kept in
/// [`ReadRequest::invalid`] (the runtime defaults it).
pub fn request(router: &Router, json: &serde_json::Value) -> Result<ReadRequest, Failed> {
    let request = router.request_from_json(json).map_err(|e| match e {
        RequestError::UnknownSignal { name, .. } => {
            let names: Vec<&str> = router
                .table()
                .signals
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            let hint = routec_syntax::suggest::closest(&name, names.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_else(|| format!("; the signals are {}", names.join(", ")));
            Failed::Usage(format!("unknown signal `{name}` in the request{hint}"))
        }
        e => Failed::Usage(e.to_string()),
    })?;
    Ok(ReadRequest {
        request,
        invalid: router.invalid_values(json),
    })
}

/// The router of a compiled policy's table.
pub fn router(p: &CompiledPolicy) -> Result<Router, Failed> {
    Router::new(p.compiled.table.clone()).map_err(|e| {
        Failed::Policy(format!(
            "the compiled table does not load: {e} (this is a bug in routec)"
        ))
    })
}

/// Explains how `router` (the table of `p`) routes `read`.
pub fn explain(p: &CompiledPolicy, router: &Router, read: &ReadRequest) -> Explanation {
    let request = &read.request;
    let table = router.table();
    let decision = router.decide(request);
    let e = router.explain(request, &decision);
    let names = |set: routec_runtime::SignalSet| -> Vec<String> {
        set.iter()
            .filter_map(|i| table.signals.get(i).map(|s| s.name.clone()))
            .collect()
    };
    let cell = find_cell(p, router, request, &decision);
    let cell_of = |c: u32| table.assumed.as_ref().and_then(|a| a.cells.get(c as usize));
    Explanation {
        rule: e.rule_line,
        rule_text: e.rule_text,
        plan: e.plan,
        splits: e.splits,
        cell: cell
            .and_then(cell_of)
            .map(|c| c.predicate.clone())
            .or(e.cell),
        defaulted: names(decision.defaulted),
        invalid: names(decision.invalid),
        invalid_values: read
            .invalid
            .iter()
            .map(|v| InvalidInput {
                signal: table
                    .signals
                    .get(v.signal)
                    .map(|s| s.name.clone())
                    .unwrap_or_default(),
                value: v.value.clone(),
                default: table
                    .signals
                    .get(v.signal)
                    .map(|s| router.show_value(v.signal, s.default))
                    .unwrap_or_default(),
                help: v.help.clone(),
                read: decision.invalid.contains(v.signal),
            })
            .collect(),
        path: e
            .path
            .into_iter()
            .map(|s| Step {
                signal: s.signal,
                value: s.value,
                origin: s.origin,
                test: s.test,
            })
            .collect(),
        predicted: cell
            .and_then(cell_of)
            .map(|c| (c.predicted.clone(), c.share)),
        recorded: recorded(p, cell),
        slos: slo_sensitivities(p),
    }
}

fn recorded(p: &CompiledPolicy, cell: Option<u32>) -> Option<RecordedQuality> {
    let (est, cell) = (p.compiled.recorded.as_ref()?, cell?);
    Some(RecordedQuality {
        traffic: est.profile.clone(),
        requests: est.requests,
        labeled: est.labeled,
        models: est
            .quality
            .iter()
            .filter(|q| q.cell == cell as usize)
            .map(|q| ModelQuality {
                model: p.policy.model(q.model).name.clone(),
                declared: q.rate.declared,
                estimate: q.rate.estimate,
                low: q.rate.low,
                high: q.rate.high,
                outcomes: q.rate.n,
                successes: q.rate.successes,
            })
            .collect(),
    })
}

/// The optimizer's cell of a request: the leaf's, or (for leaves that merge
/// several cells of a fixed rule) the cell of the rule whose box holds the
/// request's values (defaults applied).
fn find_cell(p: &CompiledPolicy, router: &Router, request: &Request, d: &Decision) -> Option<u32> {
    if d.cell.is_some() {
        return d.cell;
    }
    let table = router.table();
    let value = |policy_signal: usize| -> Option<f64> {
        let name = &p.policy.signals.get(policy_signal)?.name;
        let i = table.signals.iter().position(|s| &s.name == name)?;
        Some(match request.get(i) {
            SignalValue::Present(v) => v,
            _ => table.signals[i].default,
        })
    };
    let holds = |signal: usize, set: &ValueSet| -> bool {
        let Some(v) = value(signal) else {
            return false;
        };
        match set {
            ValueSet::Values(vs) => vs.iter().any(|x| *x as f64 == v),
            ValueSet::Ranges(rs) => rs.iter().any(|(lo, lo_in, hi, hi_in)| {
                lo.is_none_or(|l| if *lo_in { v >= l } else { v > l })
                    && hi.is_none_or(|h| if *hi_in { v <= h } else { v < h })
            }),
        }
    };
    p.compiled
        .cells()
        .iter()
        .position(|c| {
            c.rule == d.rule as usize
                && c.boxes
                    .iter()
                    .any(|b| b.iter().all(|(signal, set)| holds(*signal, set)))
        })
        .map(|c| c as u32)
}

/// The table's SLO statuses with what tightening each would cost (joined
/// by row: the table's statuses and the compiled rows share their order).
pub fn slo_sensitivities(p: &CompiledPolicy) -> Vec<SloSensitivity> {
    let Some(assumed) = &p.compiled.table.assumed else {
        return Vec::new();
    };
    assumed
        .slos
        .iter()
        .zip(p.compiled.slos())
        .map(|(s, row)| SloSensitivity {
            constraint: s.constraint.clone(),
            line: s.line,
            value: s.value,
            limit: s.limit,
            unit: SloUnit::of(p.policy.slos.get(row.slo).map(|d| &d.metric)),
            ok: s.ok,
            tightening: row.tightening.as_ref().map(ToString::to_string),
        })
        .collect()
}
