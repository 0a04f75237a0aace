//! The report of `routec simulate` on a sampled profile: JSON (see
//! `routec simulate --help`) and the compact human table.

use routec_check::Policy;
use routec_sim::{Metrics, Report, Verdict};
use serde_json::{Map, Value as Json, json};

use crate::explain::in_unit;
use crate::{duration, finite, ms, round, text_table};

/// One group's metrics in report units: milliseconds, USD, ratios.
pub fn metrics_json(m: &Metrics) -> Json {
    json!({
        "requests": m.requests,
        "share": round(m.share, 6),
        "ttft": {"p50": ms(m.ttft.p50), "p95": ms(m.ttft.p95), "p99": ms(m.ttft.p99)},
        "latency": {"p50": ms(m.latency.p50), "p95": ms(m.latency.p95), "p99": ms(m.latency.p99)},
        "mean_ttft": ms(m.mean_ttft),
        "mean_latency": ms(m.mean_latency),
        "cost_per_1k_requests": finite(m.cost_per_1k_requests, 6),
        "cost_per_success": finite(m.cost_per_success, 8),
        "quality": round(m.quality, 6),
        "failed": round(m.failed, 6),
        "score": m.score.map_or(Json::Null, |s| finite(s, 6)),
    })
}

/// The whole report as JSON (see `routec simulate --help`).
pub fn report_json(policy: &Policy, r: &Report) -> Json {
    let mut slices = Map::new();
    for s in &r.slices {
        slices.insert(s.name.clone(), metrics_json(&s.metrics));
    }
    let mut models = Map::new();
    let mut answered = Map::new();
    for m in &r.models {
        models.insert(m.name.clone(), json!(round(m.calls, 6)));
        answered.insert(m.name.clone(), json!(round(m.answered, 6)));
    }
    let rules: Vec<Json> = r
        .rules
        .iter()
        .map(|rule| {
            let mut m = metrics_json(&rule.metrics);
            if let Some(obj) = m.as_object_mut() {
                obj.insert("line".into(), json!(rule.line));
                obj.insert("rule".into(), json!(rule.text));
            }
            m
        })
        .collect();
    let slo: Vec<Json> = r
        .slos
        .iter()
        .map(|s| {
            let metric = policy.slos.get(s.slo).map(|d| &d.metric);
            let (value, limit, unit) = in_unit(metric, s.value, s.limit);
            let (lo, hi, _) = in_unit(metric, s.interval.0, s.interval.1);
            json!({
                "constraint": s.constraint,
                "value": value,
                "limit": limit,
                "unit": unit,
                "ok": s.ok,
                "interval": [lo, hi],
                "verdict": s.verdict.key(),
            })
        })
        .collect();
    let mut out = json!({
        "traffic": r.traffic,
        "requests": r.requests,
        "seed": r.seed,
        "units": {"latency": "ms", "cost": "usd", "quality": "ratio"},
        "metrics": metrics_json(&r.metrics),
        "baseline": r.baseline.as_ref().map(metrics_json),
        "slices": slices,
        "models": models,
        "answered_by": answered,
        "rules": rules,
        "slo": slo,
    });
    // Only with a judge: reports of other policies keep their shape.
    if let (Some(j), Some(obj)) = (&r.judge, out.as_object_mut()) {
        obj.insert(
            "judge".into(),
            json!({
                "model": j.name,
                "share": round(j.share, 6),
                "cost_per_1k_requests": finite(j.cost * 1000.0, 6),
            }),
        );
    }
    out
}

fn row(label: &str, m: &Metrics) -> Vec<String> {
    vec![
        label.to_owned(),
        format!("{:.1}%", m.share * 100.0),
        format!(
            "{} / {} / {}",
            duration(m.ttft.p50),
            duration(m.ttft.p95),
            duration(m.ttft.p99)
        ),
        format!(
            "{} / {} / {}",
            duration(m.latency.p50),
            duration(m.latency.p95),
            duration(m.latency.p99)
        ),
        format!("{:.3}", m.cost_per_1k_requests),
        if m.cost_per_success.is_finite() {
            format!("{:.5}", m.cost_per_success)
        } else {
            "-".into()
        },
        format!("{:.1}%", m.quality * 100.0),
        m.score.map_or("-".into(), |s| format!("{s:.2}")),
    ]
}

/// The compact human report.
pub fn human(name: &str, policy: &Policy, r: &Report) -> String {
    let mut out = format!(
        "simulated {} requests of `{}` through {name} (seed {})\n\n",
        r.requests, r.traffic, r.seed
    );
    let mut rows = vec![vec![
        String::new(),
        "share".into(),
        "ttft p50/p95/p99".into(),
        "latency p50/p95/p99".into(),
        "$/1k req".into(),
        "$/success".into(),
        "quality".into(),
        "score".into(),
    ]];
    rows.push(row("all", &r.metrics));
    if let Some(b) = &r.baseline {
        rows.push(row("baseline", b));
    }
    for s in &r.slices {
        rows.push(row(&format!("slice {}", s.name), &s.metrics));
    }
    for rule in &r.rules {
        rows.push(row(&format!("rule line {}", rule.line), &rule.metrics));
    }
    out.push_str(&text_table(&rows, 1, ""));
    let models: Vec<String> = r
        .models
        .iter()
        .map(|m| format!("{} {:.3}", m.name, m.calls))
        .collect();
    out.push_str(&format!("\ncalls per request: {}\n", models.join(", ")));
    if let Some(j) = &r.judge {
        out.push_str(&format!(
            "judge {}: {:.1}% of answers, ${:.3}/1k requests (in the costs above)\n",
            j.name,
            j.share * 100.0,
            j.cost * 1000.0
        ));
    }
    if !r.slos.is_empty() {
        out.push_str("\nSLOs:\n");
        let slo_rows: Vec<Vec<String>> = r
            .slos
            .iter()
            .map(|s| {
                let metric = policy.slos.get(s.slo).map(|d| &d.metric);
                let value = match in_unit(metric, s.value, s.limit) {
                    (_, _, "ms") => duration(s.value),
                    (_, _, "usd") => format!("${:.4}", s.value),
                    _ => format!("{:.2}%", s.value * 100.0),
                };
                let verdict = match s.verdict {
                    Verdict::Met => "ok",
                    Verdict::AtLimit if s.ok => "at limit",
                    Verdict::AtLimit => "at limit (over)",
                    Verdict::Missed => "MISSED",
                };
                vec![format!("  {verdict}"), s.constraint.clone(), value]
            })
            .collect();
        out.push_str(&text_table(&slo_rows, 2, ""));
        if r.slos.iter().any(|s| s.verdict == Verdict::AtLimit) {
            out.push_str(
                "  at limit: the limit is inside the value's 95% sampling interval (--format json \
                 gives it); more --requests narrow it, an slo `margin` gives headroom\n",
            );
        }
    }
    out
}
