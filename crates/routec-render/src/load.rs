//! The report of `routec simulate --load 1x,2x,5x,10x`
//! (`routec_driver::load::Sweep`): per load, the simulated latency
//! percentiles, cost per 1k requests, per success and per token, quality,
//! the elasticity against load 1x (cost per token and p95), and each
//! model's utilization, calls per request and refused calls. JSON and the
//! human tables.

use routec_driver::load::{Sweep, SweepPoint};
use serde_json::{Map, Value as Json, json};

use crate::simulate::metrics_json;
use crate::{finite, ms, round, text_table};

/// Cost per token (USD) at a point: the simulated cost per request over the
/// tokens (prompt and answer) of a request.
fn cost_per_token(p: &SweepPoint) -> Option<f64> {
    let tokens = p.predicted.as_ref()?.tokens;
    (tokens > 0.0).then(|| p.report.metrics.cost_per_1k_requests / 1000.0 / tokens)
}

/// `x / reference − 1`, when both are finite and the reference positive.
fn relative(x: f64, reference: f64) -> Option<f64> {
    (x.is_finite() && reference.is_finite() && reference > 0.0).then(|| x / reference - 1.0)
}

/// Cost per 1k requests relative to load 1x (cost per token moves the same
/// way: the requests' tokens do not depend on load) and p95 relative to 1x.
fn elasticity(sweep: &Sweep, p: &SweepPoint) -> (Option<f64>, Option<f64>) {
    let Some(r) = sweep.reference() else {
        return (None, None);
    };
    (
        relative(
            p.report.metrics.cost_per_1k_requests,
            r.report.metrics.cost_per_1k_requests,
        ),
        relative(p.report.metrics.latency.p95, r.report.metrics.latency.p95),
    )
}

fn factor_text(f: f64) -> String {
    format!("{}x", crate::round(f, 3))
}

/// The sweep as JSON.
pub fn json(sweep: &Sweep) -> Json {
    let loads: Vec<Json> = sweep
        .points
        .iter()
        .map(|p| {
            let (dc, dl) = elasticity(sweep, p);
            let mut models = Map::new();
            for (i, m) in p.report.models.iter().enumerate() {
                let state = p.predicted.as_ref().and_then(|l| l.models.get(i));
                models.insert(
                    m.name.clone(),
                    json!({
                        "utilization": state.map_or(Json::Null, |s| finite(s.utilization, 6)),
                        "rate_limit_utilization": state.map_or(Json::Null, |s| finite(s.limit_utilization, 6)),
                        "predicted_refused": state.map_or(Json::Null, |s| finite(s.throttle, 6)),
                        "mean_wait": state.map_or(Json::Null, |s| json!(ms(s.mean_wait))),
                        "calls": round(m.calls, 6),
                        "refused": round(m.refused, 6),
                        "answered": round(m.answered, 6),
                        "cost_per_1k_requests": finite(m.cost * 1000.0, 6),
                    }),
                );
            }
            json!({
                "load": round(p.factor, 6),
                "qps": round(p.qps, 6),
                "metrics": metrics_json(&p.report.metrics),
                "cost_per_token": cost_per_token(p).map_or(Json::Null, |c| finite(c, 12)),
                "vs_1x": {
                    "cost_per_token": dc.map_or(Json::Null, |x| finite(x, 6)),
                    "latency_p95": dl.map_or(Json::Null, |x| finite(x, 6)),
                },
                "predicted": p.predicted.as_ref().map_or(Json::Null, |l| json!({
                    "cost_per_1k_requests": finite(l.cost * 1000.0, 6),
                    "quality": round(l.quality, 6),
                    "failed": round(l.failed, 6),
                    "latency": {"p50": ms(l.latency[0]), "p95": ms(l.latency[1]), "p99": ms(l.latency[2])},
                })),
                "models": models,
            })
        })
        .collect();
    json!({
        "traffic": sweep.traffic,
        "qps": round(sweep.qps, 6),
        "requests": sweep.requests,
        "seed": sweep.seed,
        "load_modelled": sweep.modelled,
        "units": {"latency": "ms", "cost": "usd", "quality": "ratio", "utilization": "ratio"},
        "loads": loads,
    })
}

fn percent(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        "-".into()
    }
}

fn signed(x: Option<f64>) -> String {
    match x {
        Some(v) => format!("{}{:.1}%", if v >= 0.0 { "+" } else { "" }, v * 100.0),
        None => "-".into(),
    }
}

/// The human tables.
pub fn human(name: &str, sweep: &Sweep) -> String {
    let mut out = format!(
        "load sweep of `{}` through {name}: {} simulated requests per load (seed {}); 1x = {} qps\n\n",
        sweep.traffic,
        sweep.requests,
        sweep.seed,
        crate::round(sweep.qps, 3)
    );
    let mut rows = vec![vec![
        "load".to_owned(),
        "qps".into(),
        "latency p50/p95/p99 ms".into(),
        "$/1k req".into(),
        "$/success".into(),
        "$/Mtok".into(),
        "quality".into(),
        "failed".into(),
        "$/tok vs 1x".into(),
        "p95 vs 1x".into(),
    ]];
    for p in &sweep.points {
        let m = &p.report.metrics;
        let (dc, dl) = elasticity(sweep, p);
        rows.push(vec![
            factor_text(p.factor),
            format!("{}", crate::round(p.qps, 1)),
            format!(
                "{:.0} / {:.0} / {:.0}",
                m.latency.p50 * 1000.0,
                m.latency.p95 * 1000.0,
                m.latency.p99 * 1000.0
            ),
            format!("{:.3}", m.cost_per_1k_requests),
            if m.cost_per_success.is_finite() {
                format!("{:.5}", m.cost_per_success)
            } else {
                "-".into()
            },
            cost_per_token(p).map_or("-".into(), |c| format!("{:.3}", c * 1e6)),
            percent(m.quality),
            percent(m.failed),
            signed(dc),
            signed(dl),
        ]);
    }
    out.push_str(&text_table(&rows, 1, ""));
    // Per model: utilization (the state the simulation samples), calls per
    // request and refused calls (simulated).
    let models: Vec<&str> = sweep
        .points
        .first()
        .map(|p| p.report.models.iter().map(|m| m.name.as_str()).collect())
        .unwrap_or_default();
    if !models.is_empty() {
        out.push_str("\nper model: utilization of its capacity or rate limit, calls per request, refused calls\n");
        let mut rows = vec![
            std::iter::once("model".to_owned())
                .chain(sweep.points.iter().map(|p| factor_text(p.factor)))
                .collect::<Vec<_>>(),
        ];
        for (i, name) in models.iter().enumerate() {
            let mut row = vec![(*name).to_owned()];
            for p in &sweep.points {
                let Some(m) = p.report.models.get(i) else {
                    row.push("-".into());
                    continue;
                };
                let util = p
                    .predicted
                    .as_ref()
                    .and_then(|l| l.models.get(i))
                    .map(|s| s.peak_utilization())
                    .filter(|u| *u > 0.0);
                let mut cell = match util {
                    Some(u) => format!("{} · {:.3}", percent(u), m.calls),
                    None => format!("{:.3}", m.calls),
                };
                if m.refused > 0.0 {
                    cell.push_str(&format!(" · {} refused", percent(m.refused)));
                }
                row.push(cell);
            }
            rows.push(row);
        }
        out.push_str(&text_table(&rows, 1, "  "));
    }
    if !sweep.modelled {
        out.push_str(
            "\nno model declares a capacity, a rate limit or latency at a load: the figures do not depend on load\n",
        );
    }
    let (Some(first), Some(last)) = (sweep.reference(), sweep.points.last()) else {
        return out;
    };
    if last.factor > first.factor {
        let (dc, dl) = elasticity(sweep, last);
        out.push_str(&format!(
            "\nfrom {} to {}: cost per token {}, latency p95 {} (a routing scales when cost per token rises less than 5% as load grows tenfold)\n",
            factor_text(first.factor),
            factor_text(last.factor),
            signed(dc),
            signed(dl),
        ));
    }
    out
}
