//! Price tiers and reasoning tokens in the simulator: the sampled cost and
//! latency follow the formulas of `docs/semantics.md` (computed here
//! independently of both the simulator and the optimizer) within sampling
//! error, and agree with the compiled table's predictions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use routec_check::ir::{Policy, TrafficId};
use routec_opt::model::{LatencyQuantiles, Z95};
use routec_opt::{CompileOptions, compile};
use routec_runtime::Table;
use routec_sim::simulate;

fn compiled(source: &str) -> (Policy, Table) {
    let parsed = routec_syntax::parse(source);
    assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
    let checked = routec_check::check(&parsed.file);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let compiled = compile(
        &checked.policy,
        source,
        &CompileOptions {
            traffic: None,
            compiler_version: "test".into(),
            slo_margin: None,
        },
    )
    .unwrap();
    (checked.policy, compiled.table)
}

fn close(what: &str, sim: f64, exact: f64, rel: f64) {
    let err = (sim - exact).abs() / exact.abs().max(1e-12);
    assert!(
        err <= rel,
        "{what}: simulated {sim}, expected {exact} (off by {:.2}%, tolerance {:.1}%)",
        err * 100.0,
        rel * 100.0
    );
}

fn policy(props: &str) -> String {
    format!(
        r#"
policy p {{
  owner "t"
  baseline m
}}
model m {{
  price input $1/Mtok, output $2/Mtok
{props}
  latency ttft p50 100ms p95 300ms, decode 100 tok/s
  quality 80%
}}
route {{
  otherwise => m
}}
traffic t {{
  prompt_tokens lognormal p50 1000 p95 4000
  output_tokens lognormal p50 200 p95 1000
}}
"#
    )
}

/// `E[X]` of a lognormal through p50 and p95.
fn mean(p50: f64, p95: f64) -> f64 {
    let s = (p95 / p50).ln() / Z95;
    p50 * (s * s / 2.0).exp()
}

/// A prompt longer than 2000 tokens pays $3/M input and $5/M output for
/// the whole request: `cost = $1/M·M(0, 2001) + $3/M·M(2001, ∞) +
/// 0.995·E[N]·($2/M·F(2001) + $5/M·(1 − F(2001)))` (prompt and answer
/// lengths are independent).
#[test]
fn simulated_cost_follows_the_price_tiers() {
    let (policy, table) = compiled(&policy(
        "  price for prompts > 2k tokens: input $3/Mtok, output $5/Mtok",
    ));
    let report = simulate(&policy, &table, TrafficId(0), 300_000, 3).unwrap();
    let prompt = LatencyQuantiles::from_quantiles(&[(0.5, 1000.0), (0.95, 4000.0)]).unwrap();
    let below = prompt.cdf(2001.0);
    let cost = 1e-6 * prompt.partial_mean(0.0, 2001.0)
        + 3e-6 * prompt.partial_mean(2001.0, f64::INFINITY)
        + 0.995 * mean(200.0, 1000.0) * (2e-6 * below + 5e-6 * (1.0 - below));
    // The prompt length is heavy-tailed: 2% is about four standard errors.
    close(
        "cost",
        report.metrics.cost_per_1k_requests / 1000.0,
        cost,
        0.02,
    );
    let predicted = table
        .assumed
        .as_ref()
        .unwrap()
        .predicted
        .cost_per_1k_requests;
    close(
        "cost against the table",
        report.metrics.cost_per_1k_requests,
        predicted,
        0.02,
    );
}

/// `reasoning 300% of output`: `TTFT = X + 3N/R`, `E2E = X + 4N/R`, and
/// `4N` output tokens billed per answer.
#[test]
fn simulated_reasoning_delays_the_answer_and_is_billed() {
    let (policy, table) = compiled(&policy("  reasoning 300% of output"));
    let report = simulate(&policy, &table, TrafficId(0), 300_000, 5).unwrap();
    let ttft = LatencyQuantiles::from_quantiles(&[(0.5, 0.1), (0.95, 0.3)]).unwrap();
    let out = LatencyQuantiles::from_quantiles(&[(0.5, 200.0), (0.95, 1000.0)]).unwrap();
    let k = 20_000;
    let exceed = |t: f64, per_token: f64| {
        let mut p = 0.0;
        for i in 0..k {
            let n = out.quantile((i as f64 + 0.5) / k as f64);
            p += ttft.exceedance(t - per_token * n / 100.0);
        }
        0.995 * p / k as f64 + if 0.1 > t { 0.005 } else { 0.0 }
    };
    let quantile = |q: f64, per_token: f64| {
        let (mut lo, mut hi) = (0.0f64, 1000.0f64);
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            if exceed(mid, per_token) > 1.0 - q {
                lo = mid
            } else {
                hi = mid
            }
        }
        lo
    };
    close(
        "ttft p50",
        report.metrics.ttft.p50,
        quantile(0.5, 3.0),
        0.01,
    );
    close(
        "ttft p95",
        report.metrics.ttft.p95,
        quantile(0.95, 3.0),
        0.02,
    );
    close(
        "latency p50",
        report.metrics.latency.p50,
        quantile(0.5, 4.0),
        0.01,
    );
    close(
        "latency p95",
        report.metrics.latency.p95,
        quantile(0.95, 4.0),
        0.02,
    );
    let cost = mean(1000.0, 4000.0) * 1e-6 + 0.995 * 4.0 * mean(200.0, 1000.0) * 2e-6;
    close(
        "cost",
        report.metrics.cost_per_1k_requests / 1000.0,
        cost,
        0.02,
    );
    let predicted = &table.assumed.as_ref().unwrap().predicted;
    close(
        "latency p95 against the table",
        report.metrics.latency.p95,
        predicted.latency.p95,
        0.02,
    );
}
