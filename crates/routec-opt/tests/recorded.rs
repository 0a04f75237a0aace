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
