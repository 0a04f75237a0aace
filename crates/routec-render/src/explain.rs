//! The report of `routec explain`: the JSON document (see `routec explain
//! --help`) and the short human explanation, both from the driver's typed
//! [`Explanation`].

use routec_check::ir::MetricDef;
use routec_driver::explain::{Explanation, SloUnit};
use routec_runtime::ValueOrigin;
use serde_json::{Value as Json, json};

use crate::{duration, ms, round};

/// Latencies in milliseconds, the rest as they are, with the unit's name.
pub fn in_unit(metric: Option<&MetricDef>, value: f64, limit: f64) -> (f64, f64, &'static str) {
    unit_values(SloUnit::of(metric), value, limit)
}

fn unit_values(unit: SloUnit, value: f64, limit: f64) -> (f64, f64, &'static str) {
    match unit {
        SloUnit::Seconds => (ms(value), ms(limit), "ms"),
        SloUnit::Usd => (round(value, 6), round(limit, 6), "usd"),
        SloUnit::Ratio => (round(value, 6), round(limit, 6), "ratio"),
    }
}

/// A table's predicted metrics in report units (milliseconds, USD).
pub fn table_metrics_json(m: &routec_table::Metrics) -> Json {
    json!({
        "ttft": {"p50": ms(m.ttft.p50), "p95": ms(m.ttft.p95), "p99": ms(m.ttft.p99)},
        "latency": {"p50": ms(m.latency.p50), "p95": ms(m.latency.p95), "p99": ms(m.latency.p99)},
        "cost_per_1k_requests": round(m.cost_per_1k_requests, 6),
        "cost_per_success": round(m.cost_per_success, 8),
        "quality": round(m.quality, 6),
        "score": round(m.score, 6),
    })
}

fn origin(o: ValueOrigin) -> &'static str {
    match o {
        ValueOrigin::Request => "request",
        ValueOrigin::Default => "default",
        ValueOrigin::InvalidDefaulted => "invalid",
    }
}

/// The explanation as a JSON document.
pub fn json(e: &Explanation) -> Json {
    let predicted = e.predicted.as_ref().map(|(m, share)| {
        let mut j = table_metrics_json(m);
        if let Some(obj) = j.as_object_mut() {
            obj.insert("share".into(), json!(round(*share, 6)));
        }
        j
    });
    let recorded = e.recorded.as_ref().map_or(Json::Null, |r| {
        let models: Vec<Json> = r
            .models
            .iter()
            .map(|q| {
                json!({
                    "model": q.model,
                    "declared": round(q.declared, 6),
                    "estimate": round(q.estimate, 6),
                    "low": round(q.low, 6),
                    "high": round(q.high, 6),
                    "outcomes": q.outcomes,
                    "successes": q.successes,
                })
            })
            .collect();
        json!({"traffic": r.traffic, "requests": r.requests, "labeled": r.labeled, "quality": models})
    });
    let slos: Vec<Json> = e
        .slos
        .iter()
        .map(|s| {
            let (value, limit, unit) = unit_values(s.unit, s.value, s.limit);
            json!({
                "constraint": s.constraint,
                "line": s.line,
                "value": value,
                "limit": limit,
                "unit": unit,
                "ok": s.ok,
                "binding": s.tightening.is_some(),
                "tightening": s.tightening,
            })
        })
        .collect();
    json!({
        "rule": e.rule,
        "rule_text": e.rule_text,
        "plan": e.plan,
        "splits": e.splits.iter().map(|(plan, share)| json!({"plan": plan, "share": round(*share, 6)})).collect::<Vec<_>>(),
        "cell": e.cell,
        "defaulted": e.defaulted,
        "invalid": e.invalid,
        "invalid_values": e.invalid_values.iter().map(|v| json!({
            "signal": v.signal,
            "value": v.value,
            "default": v.default,
            "help": v.help,
            "read": v.read,
        })).collect::<Vec<_>>(),
        "path": e.path.iter().map(|s| json!({
            "signal": s.signal,
            "value": s.value,
            "origin": origin(s.origin),
            "test": s.test,
        })).collect::<Vec<_>>(),
        "predicted": predicted,
        "recorded": recorded,
        "slos": slos,
    })
}

/// The short human explanation.
pub fn human(e: &Explanation) -> String {
    let mut out = String::new();
    out.push_str(&format!("plan:  {}\n", e.plan));
    out.push_str(&format!("rule:  line {}: {}\n", e.rule, e.rule_text));
    if let Some(cell) = &e.cell {
        out.push_str(&format!("cell:  {cell}\n"));
    }
    if e.splits.len() > 1 {
        let parts: Vec<String> = e
            .splits
            .iter()
            .map(|(plan, share)| format!("{plan} {:.1}%", round(*share, 6) * 100.0))
            .collect();
        out.push_str(&format!(
            "split: {} (sticky by the request key)\n",
            parts.join(", ")
        ));
    }
    out.push_str("why:\n");
    for step in &e.path {
        let origin = match step.origin {
            ValueOrigin::Default => "  (not in the request: default)",
            ValueOrigin::InvalidDefaulted => "  (invalid in the request: default)",
            ValueOrigin::Request => "",
        };
        out.push_str(&format!("  {}{origin}\n", step.test));
    }
    if let Some((m, share)) = &e.predicted {
        out.push_str(&format!(
            "predicted for this cell ({:.2}% of traffic): ttft p95 {}, latency p95 {}, ${:.3}/1k requests, quality {:.1}%\n",
            round(*share, 6) * 100.0,
            duration(m.ttft.p95),
            duration(m.latency.p95),
            round(m.cost_per_1k_requests, 6),
            round(m.quality, 6) * 100.0,
        ));
    }
    if let Some(r) = &e.recorded
        && !r.models.is_empty()
    {
        out.push_str(&format!(
            "quality from the outcomes recorded in `{}` (95% interval):\n",
            r.traffic
        ));
        for m in &r.models {
            let pct = |x: f64| round(x, 6) * 100.0;
            out.push_str(&format!(
                "  {}: {:.1}% [{:.1}%, {:.1}%] from {}/{} successes (declared {:.1}%)\n",
                m.model,
                pct(m.estimate),
                pct(m.low),
                pct(m.high),
                m.successes,
                m.outcomes,
                pct(m.declared),
            ));
        }
    }
    let binding: Vec<_> = e.slos.iter().filter(|s| s.tightening.is_some()).collect();
    if !binding.is_empty() {
        out.push_str("binding SLOs (what tightening costs):\n");
        for s in binding {
            out.push_str(&format!(
                "  {}: {}\n",
                s.constraint,
                s.tightening.as_deref().unwrap_or_default()
            ));
        }
    }
    out
}
