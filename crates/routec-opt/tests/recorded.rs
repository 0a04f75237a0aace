//! Compiling on recorded traffic: every `tests/traffic/compile/*.route` is
//! compiled for each recorded profile with the records of its file (read
//! relative to the policy), and the snapshot shows the policy, then the
//! warnings, the mix per cell, the chosen plans, the predicted metrics and
//! what the outcomes changed (estimates with their intervals) next to the
//! compile on declared profiles alone.
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "the harness reads fixtures and fails loudly"
)]

mod common;

use std::fmt::Write as _;

use routec_check::ir::TrafficSource;
use routec_opt::{CompileOptions, Compiled, compile_recorded};

fn plans(c: &Compiled, cell: usize) -> String {
    c.cells()[cell]
        .splits
        .iter()
        .map(|s| {
            let plan = c.table.plans[s.plan as usize].text.clone();
            if s.share < 1.0 {
                format!("{plan} {:.0}%", s.share * 100.0)
            } else {
                plan
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(out: &mut String, c: &Compiled) {
    for d in &c.diagnostics {
        writeln!(out, "warning[{}]: {}", d.code, d.message).unwrap();
    }
    for (i, cell) in c.cells().iter().enumerate() {
        writeln!(
            out,
            "cell {i} [{}] weight {:.3} -> {} (quality {:.3})",
            cell.predicate,
            cell.weight,
            plans(c, i),
            cell.quality
        )
        .unwrap();
    }
    if let Some(a) = &c.table.assumed {
        let p = &a.predicted;
        writeln!(
            out,
            "predicted: quality {:.4}, cost per 1k ${:.4}, ttft p95 {:.3}s, latency p95 {:.3}s",
            p.quality, p.cost_per_1k_requests, p.ttft.p95, p.latency.p95
        )
        .unwrap();
    }
}

#[test]
fn fixtures() {
    insta::glob!("../../../tests/traffic/compile", "*.route", |path| {
        let source = common::read(path);
        let policy = common::check(&source);
        let mut out = String::new();
        for def in &policy.traffic {
            let TrafficSource::File(file) = &def.source else {
                continue;
            };
            let text = common::read(&path.parent().unwrap().join(file));
            let records = routec_traffic::parse(&text).unwrap();
            let bound = routec_traffic::bind(&policy, &records).unwrap();
            let options = CompileOptions {
                traffic: Some(def.name.clone()),
                compiler_version: "test".into(),
                slo_margin: None,
            };
            let declared = compile_recorded(&policy, &source, &options, None).unwrap();
            let recorded = compile_recorded(&policy, &source, &options, Some(&bound)).unwrap();
            writeln!(out, "== `{}` without its records", def.name).unwrap();
            describe(&mut out, &declared);
            writeln!(
                out,
                "\n== `{}` with its {} records",
                def.name,
                records.len()
            )
            .unwrap();
            describe(&mut out, &recorded);
            let est = recorded.recorded.as_ref().unwrap();
            writeln!(
                out,
                "\nestimates: {} requests, {} labeled",
                est.requests, est.labeled
            )
            .unwrap();
            for q in &est.quality {
                let r = &q.rate;
                writeln!(
                    out,
                    "  cell {} {}: quality {:.3} -> {:.3} [{:.3}, {:.3}] from {}/{}",
                    q.cell,
                    policy.model(q.model).name,
                    r.declared,
                    r.estimate,
                    r.low,
                    r.high,
                    r.successes,
                    r.n
                )
                .unwrap();
            }
            for m in &est.models {
                let name = &policy.model(m.model).name;
                let kind = if m.end_to_end { "latency" } else { "ttft" };
                for (q, d, e) in &m.latency {
                    writeln!(
                        out,
                        "  {name}: {kind} p{:.0} {d:.3}s -> {e:.3}s ({} samples)",
                        q * 100.0,
                        m.latency_samples
                    )
                    .unwrap();
                }
                if let Some((d, e, n)) = m.decode_rate {
                    writeln!(out, "  {name}: decode {d:.1} -> {e:.1} tok/s ({n} samples)").unwrap();
                }
                if let Some((f, n)) = m.cost_factor {
                    writeln!(out, "  {name}: prices x{f:.3} ({n} samples)").unwrap();
                }
                if let Some((c, n)) = m.cost_per_request {
                    writeln!(out, "  {name}: +${c:.6} per request ({n} samples)").unwrap();
                }
            }
        }
        insta::assert_snapshot!(format!("{source}\n---\n{out}"));
    });
}

/// Every optimizer code has a section in `docs/diagnostics.md`.
#[test]
fn every_code_is_documented() {
    let doc = common::read(&common::workspace().join("docs/diagnostics.md"));
    let missing: Vec<&str> = routec_opt::codes::ALL
        .iter()
        .copied()
        .filter(|c| !doc.contains(&format!("## {c}")))
        .collect();
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}

/// `slo { confidence 95% }` makes a quality floor hold at that confidence.
/// The procedure: one cell with traffic (`tier = free`), `small` (true success rate 80%) and `big`
/// (95%), each declared at its true rate (so the posterior's prior is
/// right), 200 recorded requests with both models' outcomes drawn from the
/// true rates by a fixed-seed generator, and `quality >= 85%`. The table's
/// true quality is its mix of the true rates, less the model's base error
/// rate (`BASE_ERROR_RATE`, 0.5%, docs/semantics.md; decoding is fast
/// enough that nothing times out). Compiled on the posterior
/// means, the floor is missed about half the time (the estimates err
/// either way); at 95% confidence, at most 5% of the time (a sample
/// whose bound cannot reach the floor is refused with E0510: said, not
/// missed).
#[test]
fn a_quality_floor_holds_at_the_declared_confidence() {
    const TRUE: [(&str, f64); 2] = [("small", 0.80), ("big", 0.95)];
    const BASE_ERROR_RATE: f64 = 0.005;
    let policy_text = |confidence: &str| {
        format!(
            r#"policy floor {{
  owner "tests"
}}

signal tier: enum {{ free, paid }} from header "x-tier" default free

model small {{
  price $0.001/request
  latency ttft p50 100ms p95 300ms, decode 1000 tok/s
  quality 80%
}}

model big {{
  price $0.01/request
  latency ttft p50 300ms p95 1s, decode 1000 tok/s
  quality 95%
}}

objective minimize cost

slo {{
  {confidence}
  quality >= 85%
}}

route {{
  otherwise => optimize [small, big] by tier
}}

traffic week = file "week.jsonl"
"#
        )
    };
    let uniform = |state: &mut u64| {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    // The compiled table's true quality on one recorded sample.
    let true_quality = |source: &str, records: &str| {
        let policy = common::check(source);
        let parsed = routec_traffic::parse(records).unwrap();
        let bound = routec_traffic::bind(&policy, &parsed).unwrap();
        let options = CompileOptions {
            traffic: Some("week".into()),
            compiler_version: "test".into(),
            slo_margin: None,
        };
        // A floor the bounds cannot meet is refused (E0510), not missed.
        let c = compile_recorded(&policy, source, &options, Some(&bound)).ok()?;
        let cell = c
            .cells()
            .iter()
            .find(|c| c.predicate.contains("free"))
            .unwrap();
        let quality = cell
            .splits
            .iter()
            .map(|s| {
                let plan = &c.table.plans[s.plan as usize].text;
                s.share * TRUE.iter().find(|(m, _)| m == plan).unwrap().1
            })
            .sum::<f64>()
            * (1.0 - BASE_ERROR_RATE);
        Some(quality)
    };
    let (mut missed_mean, mut missed_confident, mut refused) = (0, 0, 0);
    let seeds = 60;
    for seed in 0..seeds {
        let mut state = seed;
        let mut records = String::new();
        for i in 0..200 {
            let outcome = |rate: f64, state: &mut u64| uniform(state) < rate;
            let small = outcome(TRUE[0].1, &mut state);
            let big = outcome(TRUE[1].1, &mut state);
            writeln!(
                records,
                r#"{{"id": "r{i}", "signals": {{"tier": "free"}}, "outcomes": {{"small": {{"success": {small}}}, "big": {{"success": {big}}}}}}}"#
            )
            .unwrap();
        }
        // On the means the floor is always feasible (big's estimate stays
        // well above it).
        if true_quality(&policy_text(""), &records).unwrap() < 0.85 - 1e-9 {
            missed_mean += 1;
        }
        match true_quality(&policy_text("confidence 95%"), &records) {
            Some(q) if q < 0.85 - 1e-9 => missed_confident += 1,
            Some(_) => {}
            None => refused += 1,
        }
    }
    assert!(missed_mean >= seeds / 4, "missed {missed_mean} of {seeds}");
    assert!(refused <= seeds / 10, "refused {refused} of {seeds}");
    assert!(
        missed_confident <= seeds / 20,
        "missed {missed_confident} of {seeds} at 95% confidence (on means: {missed_mean})"
    );
}
