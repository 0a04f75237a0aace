//! The judge's cost in the simulator (`docs/semantics.md`, "The judge"):
//! each answered request pays the judged share of a judge call for its own
//! prompt and answer, without a random draw, so the same seed samples the
//! same requests with or without a judge; the sampled cost agrees with the
//! optimizer's prediction, and with the formula computed here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use routec_check::ir::{CostBasis, MetricDef, Policy, TrafficId};
use routec_opt::model::Z95;
use routec_opt::{CompileOptions, compile};
use routec_runtime::Table;
use routec_sim::{run, simulate};

#[allow(clippy::disallowed_methods, reason = "the test reads its fixture")]
fn fixture() -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/judge/judged.route");
    std::fs::read_to_string(path).unwrap()
}

fn checked(source: &str) -> Policy {
    let parsed = routec_syntax::parse(source);
    assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
    let checked = routec_check::check(&parsed.file);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    checked.policy
}

fn compiled(source: &str) -> (Policy, Table) {
    let (policy, compiled) = compiled_with(source);
    (policy, compiled.table)
}

fn compiled_with(source: &str) -> (Policy, routec_opt::Compiled) {
    let policy = checked(source);
    let compiled = compile(
        &policy,
        source,
        &CompileOptions {
            traffic: None,
            compiler_version: "test".into(),
            slo_margin: None,
        },
    )
    .unwrap();
    (policy, compiled)
}

/// `source` without the block whose first line starts with `header`.
fn without(source: &str, header: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in source.lines() {
        if line.starts_with(header) {
            skipping = true;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
        if skipping && line == "}" {
            skipping = false;
        }
    }
    assert!(out.len() < source.len(), "no `{header}` block");
    out
}

/// The share judged at the fixture's 2k qps.
fn share_at_2k() -> f64 {
    1.0 + (2000f64.ln() - 1000f64.ln()) / (3000f64.ln() - 1000f64.ln()) * (0.2 - 1.0)
}

/// Lognormal moments through p50 and p95: `E[X] = m·e^(σ²/2)`, `E[X²] =
/// m²·e^(2σ²)`.
fn moments(p50: f64, p95: f64) -> (f64, f64) {
    let s = (p95 / p50).ln() / Z95;
    (p50 * (s * s / 2.0).exp(), p50 * p50 * (2.0 * s * s).exp())
}

/// A judge call's cost `a + b·(prompt + answer)`: `grader` at $2/Mtok
/// input and $8/Mtok output, 160 tokens of instructions, 4 of output.
const JUDGE_CALL: (f64, f64) = (160.0 * 2e-6 + 4.0 * 8e-6, 2e-6);

/// `√E[call²]` over the profile's prompts and answers (independent): a
/// bound on the standard deviation of a request's judge cost over `s`.
fn judge_call_rms() -> f64 {
    let (prompt, prompt_sq) = moments(1000.0, 4000.0);
    let (answer, answer_sq) = moments(200.0, 1000.0);
    let (a, b) = JUDGE_CALL;
    let second = a * a
        + b * b * (prompt_sq + answer_sq + 2.0 * prompt * answer)
        + 2.0 * a * b * (prompt + answer);
    second.sqrt()
}

/// The fixture as written: the cost SLO binds because of the judge (a
/// split between `small` and `large`), timeouts cut long answers (which
/// are then not judged). The compiled prediction lies within the sampled
/// cost's 95% interval, widened to twice its half-width (about four
/// standard errors) against the optimizer's own quadrature; the judge's
/// part too, within four standard errors of the judge's own cost, bounded
/// by `s·√E[call²]/√n` as in [`simulated_judge_cost_follows_the_formula`].
#[test]
fn simulated_cost_agrees_with_the_prediction() {
    let (policy, compiled) = compiled_with(&fixture());
    let predicted_judge = compiled.judge_cost().unwrap();
    let table = compiled.table;
    let (s, n) = (share_at_2k(), 200_000);
    let se = s * judge_call_rms() / (n as f64).sqrt();
    let predicted = table
        .assumed
        .as_ref()
        .unwrap()
        .predicted
        .cost_per_1k_requests;
    let cost = MetricDef::Cost(CostBasis::PerRequests(1000));
    for seed in [1, 2] {
        let mut r = run(&policy, &table, TrafficId(0), n, seed).unwrap();
        let value = r.value(&cost, None).unwrap();
        let (lo, hi) = r.interval(&cost, None).unwrap();
        let half = (hi - lo) / 2.0;
        assert!(
            (value - predicted).abs() <= 2.0 * half,
            "seed {seed}: simulated ${value}/1k ({lo}..{hi}), predicted ${predicted}/1k"
        );
        let report = r.report();
        let judge = report.judge.as_ref().unwrap();
        assert_eq!(judge.name, "grader");
        assert!((judge.share - s).abs() < 1e-12);
        assert!(
            (judge.cost - predicted_judge).abs() <= 4.0 * se,
            "seed {seed}: the judge cost ${} per request, predicted ${predicted_judge} (standard error at most ${se})",
            judge.cost
        );
    }
}

/// The same table and seed simulated with and without the judge in the
/// policy: every latency, quality, failure and per-model figure is the
/// same; the cost differs by exactly the judge's cost the report shows.
#[test]
fn the_judge_changes_the_cost_only() {
    let source = fixture();
    let (policy, table) = compiled(&source);
    let plain = checked(&without(&source, "learn {"));
    let a = simulate(&policy, &table, TrafficId(0), 50_000, 9).unwrap();
    let b = simulate(&plain, &table, TrafficId(0), 50_000, 9).unwrap();
    assert!(b.judge.is_none());
    let judge = a.judge.as_ref().unwrap();
    assert!(judge.cost > 0.0);
    let (m, n) = (&a.metrics, &b.metrics);
    assert_eq!(
        (m.ttft, m.latency, m.quality, m.failed),
        (n.ttft, n.latency, n.quality, n.failed)
    );
    assert_eq!(m.calls, n.calls);
    assert_eq!(a.models, b.models);
    let added = (m.cost_per_1k_requests - n.cost_per_1k_requests) / 1000.0;
    assert!(
        (added - judge.cost).abs() <= 1e-9 * judge.cost,
        "the cost grew by ${added}, the judge cost ${}",
        judge.cost
    );
    // The baseline is judged too: its answers are scored the same way.
    let (ba, bb) = (a.baseline.unwrap(), b.baseline.unwrap());
    assert_eq!(ba.latency, bb.latency);
    assert!(ba.cost_per_1k_requests > bb.cost_per_1k_requests);
}

/// Without faults and with the cost SLO far away (everything to `large`,
/// 99.5% of requests answered), the judge's sampled cost per request is
/// `s × 0.995 × ((E[prompt] + E[answer] + 160) × $2/M + 4 × $8/M)` within
/// four standard errors, bounded by `s·√E[call²]/√n`.
#[test]
fn simulated_judge_cost_follows_the_formula() {
    let source = without(&fixture(), "faults {").replace(
        "cost per 1k requests <= $3\n",
        "cost per 1k requests <= $100\n",
    );
    let (policy, table) = compiled(&source);
    let n = 200_000;
    let report = simulate(&policy, &table, TrafficId(0), n, 4).unwrap();
    let judge = report.judge.unwrap();
    let (prompt, _) = moments(1000.0, 4000.0);
    let (answer, _) = moments(200.0, 1000.0);
    let (a, b) = JUDGE_CALL;
    let s = share_at_2k();
    let expected = s * 0.995 * (a + b * (prompt + answer));
    let se = s * judge_call_rms() / (n as f64).sqrt();
    assert!(
        (judge.cost - expected).abs() <= 4.0 * se,
        "simulated ${} per request, expected ${expected} (standard error at most ${se})",
        judge.cost
    );
}
