//! `routec simulate CANDIDATE --off-policy LOG`: the off-policy report
//! (`routec_driver::offpolicy`), human and JSON (`docs/learn.md`).

use routec_driver::offpolicy::{Estimate, Estimated, OffPolicyReport};
use serde_json::{Value as Json, json};

use crate::{finite, text_table};

fn interval_json(i: &Estimate, digits: i32) -> Json {
    json!({
        "value": finite(i.value, digits),
        "low": finite(i.low, digits),
        "high": finite(i.high, digits),
    })
}

fn estimated_json(e: Option<&Estimated>, digits: i32) -> Json {
    e.map_or(Json::Null, |e| {
        json!({
            "requests": e.requests,
            "matched": e.matched,
            "logged": finite(e.logged, digits),
            "predicted": e.predicted.map_or(Json::Null, |p| finite(p, digits)),
            "ips": interval_json(&e.ips, digits),
            "snips": interval_json(&e.snips, digits),
            "dr": interval_json(&e.dr, digits),
        })
    })
}

/// The report as JSON (see `docs/learn.md`).
pub fn json(r: &OffPolicyReport) -> Json {
    json!({
        "log": r.log,
        "policy": r.policy,
        "table": r.table,
        "lines": r.lines,
        "routed": r.routed,
        "named": r.named,
        "undecided": r.undecided,
        "explored": r.explored,
        "ignored_signals": r.ignored_signals,
        "success": estimated_json(r.success.as_ref(), 6),
        "cost_per_request": estimated_json(r.cost.as_ref(), 10),
        "latency_ms": estimated_json(r.latency.as_ref().map(in_ms).as_ref(), 3),
        "z": routec_driver::offpolicy::Z95,
    })
}

/// Seconds to milliseconds, the JSON reports' unit of durations.
fn in_ms(e: &Estimated) -> Estimated {
    let ms = |i: Estimate| Estimate {
        value: i.value * 1000.0,
        low: i.low * 1000.0,
        high: i.high * 1000.0,
    };
    Estimated {
        logged: e.logged * 1000.0,
        predicted: e.predicted.map(|p| p * 1000.0),
        ips: ms(e.ips),
        snips: ms(e.snips),
        dr: ms(e.dr),
        ..e.clone()
    }
}

fn percent(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        "-".into()
    }
}

fn dollars(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x == 0.0 {
        "$0".into()
    } else {
        // Four significant digits: per-request costs are small.
        let digits = (3 - x.abs().log10().floor() as i32).clamp(2, 10) as usize;
        format!("${x:.digits$}")
    }
}

fn section(out: &mut String, title: &str, e: &Estimated, show: fn(f64) -> String) {
    let interval = |i: &Estimate| format!("[{}, {}]", show(i.low), show(i.high));
    let mut rows = vec![
        vec![
            "logged (what the logging table did)".into(),
            show(e.logged),
            String::new(),
        ],
        vec!["IPS".into(), show(e.ips.value), interval(&e.ips)],
        vec!["SNIPS".into(), show(e.snips.value), interval(&e.snips)],
        vec!["doubly robust".into(), show(e.dr.value), interval(&e.dr)],
    ];
    if let Some(p) = e.predicted {
        rows.push(vec![
            "the candidate's prediction (its profile)".into(),
            show(p),
            String::new(),
        ]);
    }
    out.push_str(&format!(
        "\n{title}: {} requests; the candidate runs the logged plan of {}\n",
        e.requests, e.matched
    ));
    out.push_str(&text_table(&rows, 1, "  "));
}

/// The human report.
pub fn human(r: &OffPolicyReport) -> String {
    let mut out = format!(
        "off-policy estimate of `{}` (table {}) on {}\n",
        r.policy,
        {
            let hash = r.table.strip_prefix("sha256:").unwrap_or(&r.table);
            hash.get(..12).unwrap_or(hash)
        },
        r.log
    );
    out.push_str(&format!(
        "{} requests: {} routed by the logging table ({} explored), {} named a model, {} without a decision\n",
        r.lines, r.routed, r.explored, r.named, r.undecided
    ));
    if !r.ignored_signals.is_empty() {
        out.push_str(&format!(
            "signals the candidate does not read (ignored): {}\n",
            r.ignored_signals.join(", ")
        ));
    }
    match &r.success {
        Some(e) => section(
            &mut out,
            "success rate (requests with feedback)",
            e,
            percent,
        ),
        None => out.push_str(
            "\nsuccess rate: no routed request has feedback (POST /v1/feedback, docs/learn.md)\n",
        ),
    }
    match &r.cost {
        Some(e) => section(&mut out, "cost per request", e, dollars),
        None => out.push_str("\ncost per request: no routed request records a cost\n"),
    }
    if let Some(e) = &r.latency {
        section(&mut out, "mean latency", e, crate::duration);
    }
    out.push_str(
        "\n(95% intervals. IPS and SNIPS see the candidate only on the requests whose logged plan it\n\
         would run; the doubly robust estimate fills in the rest from the candidate's predictions.)\n",
    );
    out
}
