//! Offline evaluation for `routec simulate --traffic NAME` when NAME is a
//! recorded file with outcomes: the file's very requests are replayed
//! through the compiled table (`routec_sim::replay`) and the recorded
//! outcomes of the chosen plans reported next to every single model and
//! the oracle (`docs/evaluation.md`).

use routec_sim::Percentiles;
use routec_sim::replay::{Outcomes, Replay};
use serde_json::{Value as Json, json};

use crate::{duration, finite, ms, round, text_table};

fn percentiles(p: Option<Percentiles>) -> Json {
    p.map_or(
        Json::Null,
        |p| json!({"p50": ms(p.p50), "p95": ms(p.p95), "p99": ms(p.p99)}),
    )
}

fn outcomes_json(o: &Outcomes) -> Json {
    json!({
        "requests": o.requests,
        "accuracy": round(o.accuracy, 6),
        "quality": round(o.quality, 6),
        "cost": finite(o.cost, 8),
        "cost_per_1k_requests": finite(o.cost_per_1k_requests, 8),
        "cost_per_success": finite(o.cost_per_success, 10),
        "latency": percentiles(o.latency),
        "ttft": percentiles(o.ttft),
        "timed": o.timed,
        "missing": o.missing,
        "unpriced": o.unpriced,
    })
}

/// The replay as JSON (see `docs/evaluation.md`).
pub fn replay_json(r: &Replay) -> Json {
    let models: Vec<Json> = r
        .models
        .iter()
        .map(|m| {
            let mut j = outcomes_json(&m.outcomes);
            if let Some(o) = j.as_object_mut() {
                o.insert("model".into(), json!(m.name));
                o.insert("calls".into(), json!(round(m.calls, 6)));
                o.insert("answered".into(), json!(round(m.answered, 6)));
            }
            j
        })
        .collect();
    let mut slices = serde_json::Map::new();
    for (name, o) in &r.slices {
        slices.insert(name.clone(), outcomes_json(o));
    }
    let name = |i: usize| r.models.get(i).map(|m| m.name.clone());
    json!({
        "mode": "replay",
        "traffic": r.traffic,
        "requests": r.requests,
        "units": {"latency": "ms", "cost": "usd", "accuracy": "ratio"},
        "policy": outcomes_json(&r.policy),
        "slices": slices,
        "oracle": outcomes_json(&r.oracle),
        "best_single_model": r.best.and_then(name),
        "models": models,
        "strong_weak": r.cpt.as_ref().map(|c| json!({
            "strong": name(c.strong),
            "weak": name(c.weak),
            "strong_only": c.strong_only,
            "weak_only": c.weak_only,
            "oracle_cpt_50": round(c.cpt50, 6),
            "oracle_cpt_80": round(c.cpt80, 6),
            "policy_strong_share": round(c.policy_strong_share, 6),
            "policy_gap_recovered": finite(c.policy_gap_recovered, 6),
        })),
        "cascade_requests": r.cascade_requests,
        "split_requests": r.split_requests,
    })
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn row(label: String, o: &Outcomes, answered: Option<f64>) -> Vec<String> {
    vec![
        label,
        pct(o.accuracy),
        format!("{:.4}", o.cost_per_1k_requests),
        if o.cost_per_success.is_finite() {
            format!("{:.6}", o.cost_per_success)
        } else {
            "-".into()
        },
        o.latency.map_or("-".into(), |p| {
            format!(
                "{} / {} / {}",
                duration(p.p50),
                duration(p.p95),
                duration(p.p99)
            )
        }),
        answered.map_or(String::new(), pct),
    ]
}

/// The human report of a replay.
pub fn human(policy_name: &str, r: &Replay) -> String {
    let mut out = format!(
        "replayed {} recorded requests of `{}` through {policy_name} (recorded outcomes, no sampling)\n\n",
        r.requests, r.traffic
    );
    let mut rows = vec![vec![
        String::new(),
        "accuracy".into(),
        "$/1k req".into(),
        "$/success".into(),
        "latency p50/p95/p99".into(),
        "answered".into(),
    ]];
    rows.push(row("policy".into(), &r.policy, None));
    rows.push(row("oracle".into(), &r.oracle, None));
    for (i, m) in r.models.iter().enumerate() {
        let mark = if Some(i) == r.best { " (best)" } else { "" };
        rows.push(row(
            format!("model {}{mark}", m.name),
            &m.outcomes,
            Some(m.answered),
        ));
    }
    for (name, o) in &r.slices {
        rows.push(row(format!("slice {name}"), o, None));
    }
    out.push_str(&text_table(&rows, 1, ""));
    out.push_str("\n(answered: the share of requests each model answered under the policy)\n");
    if let Some(best) = r.best.and_then(|b| r.models.get(b)) {
        let points = (r.policy.accuracy - best.outcomes.accuracy) * 100.0;
        let share = if best.outcomes.cost > 0.0 {
            format!(
                "{:.1}% of its cost",
                r.policy.cost / best.outcomes.cost * 100.0
            )
        } else {
            "no cost recorded".to_owned()
        };
        out.push_str(&format!(
            "\nagainst the best single model `{}`: {points:+.2} accuracy points at {share}\n",
            best.name
        ));
    }
    if let Some(c) = &r.cpt {
        let strong = &r.models[c.strong].name;
        let weak = &r.models[c.weak].name;
        out.push_str(&format!(
            "\nstrong model `{strong}`, weak model `{weak}` (the best and the cheapest single models):\n\
             - the policy sends {} of requests to `{strong}` and recovers {} of the accuracy gap\n\
             - the oracle recovers 50% of the gap with {} strong calls (CPT(50%)), 80% with {}\n",
            pct(c.policy_strong_share),
            if c.policy_gap_recovered.is_finite() {
                pct(c.policy_gap_recovered)
            } else {
                "-".into()
            },
            pct(c.cpt50),
            pct(c.cpt80),
        ));
    }
    let mut notes = Vec::new();
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    if r.policy.missing > 0 {
        notes.push(format!(
            "{} no recorded outcome for its model (counted as a failure that cost nothing)",
            plural(r.policy.missing, "call had", "calls had")
        ));
    }
    if r.policy.unpriced > 0 {
        notes.push(format!(
            "{} neither a recorded cost nor tokens to price",
            plural(r.policy.unpriced, "call had", "calls had")
        ));
    }
    if r.cascade_requests > 0 {
        notes.push(format!(
            "{} through a cascade, replayed with a perfect verifier (an upper bound)",
            plural(r.cascade_requests, "request went", "requests went")
        ));
    }
    if r.split_requests > 0 {
        notes.push(format!(
            "{} in split cells (sides chosen by the hash of each record's id)",
            plural(r.split_requests, "request fell", "requests fell")
        ));
    }
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&format!("note: {n}\n"));
        }
    }
    out
}
