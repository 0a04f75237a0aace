//! `routec simulate FILE [--traffic NAME] [--requests N] [--seed S]
//! [--format human|json] [--plot FILE.svg]`: samples a declared profile, or
//! replays a labeled recorded one (`evaluate`).

use routec_check::ir::TrafficId;
use routec_sim::{Metrics, Report};
use serde_json::{Map, Value as Json, json};

use super::progress::Progress;
use super::{eprint, evaluate, plot, print};
use crate::cli::{ColorChoice, OutputFormat, SimulateArgs, exit};
use crate::commands::explain::in_unit;
use crate::pipeline::{self, finite, ms, round};
use crate::render::text_table;

pub fn run(args: &SimulateArgs, color: ColorChoice) -> u8 {
    let p = match pipeline::compile(&args.file, None, color) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let traffic = match &args.traffic {
        Some(name) => match pipeline::traffic_index(&p.policy, name) {
            Ok(i) => i,
            Err(why) => {
                eprint(&format!("routec: {why}\n"));
                return exit::USAGE;
            }
        },
        None => match p.policy.traffic.len() {
            1 => 0,
            0 => {
                eprint(&format!(
                    "routec: `{}` declares no traffic profile to simulate; add a `traffic NAME {{ ... }}` block\n",
                    p.name
                ));
                return exit::USAGE;
            }
            _ => {
                let names: Vec<String> = p
                    .policy
                    .traffic
                    .iter()
                    .map(|t| format!("`{}`", t.name))
                    .collect();
                eprint(&format!(
                    "routec: `{}` declares several traffic profiles; choose one with `--traffic`: {}\n",
                    p.name,
                    names.join(", ")
                ));
                return exit::USAGE;
            }
        },
    };
    let mut recorded = None;
    let records = match p.records(traffic) {
        Ok(r) => r,
        Err(e) => return e.report(),
    };
    if let Some(bound) = records {
        if bound.labeled() > 0 {
            return replay(args, &p, traffic, &bound);
        }
        // Unlabeled: sample requests from the file.
        recorded = Some(bound);
    }
    let progress = Progress::new("simulating", args.requests, "requests");
    let run = match &recorded {
        Some(bound) => routec_sim::run_recorded(
            &p.policy,
            &p.compiled.table,
            TrafficId(traffic as u32),
            bound,
            args.requests,
            args.seed,
            &mut progress.callback(),
        ),
        None => routec_sim::run_with_progress(
            &p.policy,
            &p.compiled.table,
            TrafficId(traffic as u32),
            args.requests,
            args.seed,
            &mut progress.callback(),
        ),
    };
    drop(progress);
    let mut run = match run {
        Ok(r) => r,
        Err(e) => {
            eprint(&format!("routec: cannot simulate: {e}\n"));
            return exit::USAGE;
        }
    };
    let report = run.report();
    if let Some(out) = &args.plot
        && let Err(why) = plot::write_simulation(&p, out, &report, &run)
    {
        eprint(&format!("routec: {why}\n"));
        return exit::USAGE;
    }
    let json = report_json(&p.policy, &report);
    match args.format {
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
            text.push('\n');
            print(&text);
        }
        OutputFormat::Human => print(&human(&p.name, &report, &json)),
    }
    exit::OK
}

/// Offline evaluation of a labeled recorded profile (`docs/evaluation.md`).
fn replay(
    args: &SimulateArgs,
    p: &pipeline::Pipeline,
    traffic: usize,
    bound: &routec_traffic::BoundTraffic,
) -> u8 {
    let name = p
        .policy
        .traffic
        .get(traffic)
        .map_or_else(String::new, |t| t.name.clone());
    let progress = Progress::new("replaying", bound.records.len() as u64, "requests");
    let result = routec_sim::replay::replay(
        &p.policy,
        &p.compiled.table,
        &name,
        bound,
        &mut progress.callback(),
    );
    drop(progress);
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            eprint(&format!("routec: cannot replay: {e}\n"));
            return exit::USAGE;
        }
    };
    if let Some(out) = &args.plot
        && let Err(why) = plot::write_replay(p, out, &r, bound)
    {
        eprint(&format!("routec: {why}\n"));
        return exit::USAGE;
    }
    match args.format {
        OutputFormat::Json => {
            let mut text =
                serde_json::to_string_pretty(&evaluate::replay_json(&r)).unwrap_or_default();
            text.push('\n');
            print(&text);
        }
        OutputFormat::Human => print(&evaluate::human(&p.name, &r)),
    }
    exit::OK
}

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
pub fn report_json(policy: &routec_check::Policy, r: &Report) -> Json {
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
            json!({
                "constraint": s.constraint,
                "value": value,
                "limit": limit,
                "unit": unit,
                "ok": s.ok,
            })
        })
        .collect();
    json!({
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
    })
}

fn ms_text(seconds: f64) -> String {
    format!("{:.0}", seconds * 1000.0)
}

fn row(label: &str, m: &Metrics) -> Vec<String> {
    vec![
        label.to_owned(),
        format!("{:.1}%", m.share * 100.0),
        format!(
            "{} / {} / {}",
            ms_text(m.ttft.p50),
            ms_text(m.ttft.p95),
            ms_text(m.ttft.p99)
        ),
        format!(
            "{} / {} / {}",
            ms_text(m.latency.p50),
            ms_text(m.latency.p95),
            ms_text(m.latency.p99)
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
pub fn human(name: &str, r: &Report, json: &Json) -> String {
    let mut out = format!(
        "simulated {} requests of `{}` through {name} (seed {})\n\n",
        r.requests, r.traffic, r.seed
    );
    let mut rows = vec![vec![
        String::new(),
        "share".into(),
        "ttft p50/p95/p99 ms".into(),
        "latency p50/p95/p99 ms".into(),
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
    if !r.slos.is_empty() {
        out.push_str("\nSLOs:\n");
        let slo_rows: Vec<Vec<String>> = r
            .slos
            .iter()
            .zip(json["slo"].as_array().into_iter().flatten())
            .map(|(s, j)| {
                let value = match j["unit"].as_str() {
                    Some("ms") => format!("{}ms", j["value"].as_f64().map_or(0.0, f64::round)),
                    Some("usd") => format!("${:.4}", s.value),
                    _ => format!("{:.2}%", s.value * 100.0),
                };
                vec![
                    format!("  {}", if s.ok { "ok" } else { "MISSED" }),
                    s.constraint.clone(),
                    value,
                ]
            })
            .collect();
        out.push_str(&text_table(&slo_rows, 2, ""));
    }
    out
}
