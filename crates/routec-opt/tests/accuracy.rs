//! The analytic estimate against high-precision numeric integration of the
//! model on one-model policies, where the exact answer is a one-dimensional
//! integral over the answer length: latency percentiles (tails included),
//! failures from a total timeout that long answers hit, quality and cost.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use routec_opt::model::{self, AttemptModel, LatencyQuantiles};

/// The lognormal answer length `N` (p50 200, p95 1000) as midpoint nodes
/// `(weight, n)` in `z` over `[−8.5, 8.5]`, 4.25e-4 apart: fine enough to
/// resolve `P(TTFT > t − N/R)`, which moves from 0 to 1 over about 0.01 in
/// `z` where `N/R` is near `t`.
fn nodes() -> Vec<(f64, f64)> {
    let out = LatencyQuantiles::from_quantiles(&[(0.5, 200.0), (0.95, 1000.0)]).unwrap();
    let k = 40_000;
    let (lo, hi) = (-8.5f64, 8.5f64);
    let h = (hi - lo) / k as f64;
    (0..k)
        .map(|i| {
            let z = lo + h * (i as f64 + 0.5);
            let pdf = (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
            (pdf * h, out.ln_at_z(z).exp())
        })
        .collect()
}

/// `E[f(N)]`.
fn expect_n(nodes: &[(f64, f64)], f: impl Fn(f64) -> f64) -> f64 {
    nodes.iter().map(|&(w, n)| w * f(n)).sum()
}

fn quantile(exceed: impl Fn(f64) -> f64, q: f64) -> f64 {
    let (mut lo, mut hi) = (1e-2f64.ln(), 1e2f64.ln());
    for _ in 0..32 {
        let mid = (lo + hi) / 2.0;
        if exceed(mid.exp()) > 1.0 - q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    ((lo + hi) / 2.0).exp()
}

fn close(what: &str, got: f64, exact: f64, rel: f64) {
    let err = (got - exact).abs() / exact.abs().max(1e-12);
    assert!(
        err <= rel,
        "{what}: predicted {got}, exact {exact} (off by {:.3}%)",
        err * 100.0
    );
}

fn policy(faults: &str) -> String {
    format!(
        r#"
policy p {{
  owner "t"
  baseline m
}}
model m {{
  price input $1/Mtok, output $2/Mtok
  latency ttft p50 100ms p95 300ms, decode 100 tok/s
  quality 80%
}}
route {{
  otherwise => m
}}
{faults}
traffic t {{
  prompt_tokens lognormal p50 1000 p95 4000
  output_tokens lognormal p50 200 p95 1000
}}
"#
    )
}

fn predicted(source: &str) -> routec_table::Metrics {
    let compiled = common::compile(source).unwrap();
    compiled.table.assumed.unwrap().predicted
}

/// No timeouts: `P(E2E > t) = 0.995 · E_N[P(TTFT > t − N/R)] + 0.005 · [p50 > t]`
/// (base errors cost the median TTFT). The old estimate (16 midpoint
/// quantiles of `N`) put p95 at 12.43 s and p99 at 12.57 s; exact: 10.10 s
/// and 19.57 s.
#[test]
fn one_model_latency_tail_is_exact() {
    let p = predicted(&policy(""));
    let ttft = LatencyQuantiles::from_quantiles(&[(0.5, 0.1), (0.95, 0.3)]).unwrap();
    let ns = nodes();
    let exceed = |t: f64| {
        0.995 * expect_n(&ns, |n| ttft.exceedance(t - n / 100.0))
            + if 0.1 > t { 0.005 } else { 0.0 }
    };
    close("latency p50", p.latency.p50, quantile(exceed, 0.5), 2e-3);
    close("latency p95", p.latency.p95, quantile(exceed, 0.95), 2e-3);
    close("latency p99", p.latency.p99, quantile(exceed, 0.99), 2e-3);
    let mean_out = expect_n(&ns, |n| n);
    let mean_in = 1000.0 * ((4.0f64.ln() / model::Z95).powi(2) / 2.0).exp();
    let cost = mean_in * 1e-6 + 0.995 * mean_out * 2e-6;
    close("cost", p.cost_per_1k_requests / 1000.0, cost, 1e-3);
    close("quality", p.quality, 0.995 * 0.8, 1e-6);
}

/// A total timeout long answers hit (`timeout 6s` at 100 tok/s fails every
/// answer above 600 tokens, about 16%), no retries: an attempt times out
/// with `p(N) = P(TTFT > 6 − N/R)` (failing at 6 s), else fails with a base
/// error with `min(0.5%, 1 − p)` (at the median TTFT), else answers with its
/// TTFT truncated to the cap.
#[test]
fn total_timeouts_on_long_answers_are_exact() {
    let p = predicted(&policy("faults {\n  timeout 6s\n}\n"));
    let ttft = LatencyQuantiles::from_quantiles(&[(0.5, 0.1), (0.95, 0.3)]).unwrap();
    let a = AttemptModel {
        latency: model::ModelLatency {
            ttft: ttft.clone(),
            decode_rate: Some(100.0),
        },
        ttft_timeout: None,
        timeout: Some(6.0),
        hedge: None,
        retries: 0,
        retry_timeouts: false,
        retry_errors: false,
        backoff: 0.0,
        throttle: 0.0,
        retry_throttled: false,
        reasoning: Default::default(),
    };
    let ok = |n: f64| {
        let (to, err) = a.failure(n);
        (1.0 - to - err).max(0.0)
    };
    let ns = nodes();
    let exceed = |t: f64, first_token: bool| {
        expect_n(&ns, |n| {
            let (to, err) = a.failure(n);
            let d = if first_token { 0.0 } else { n / 100.0 };
            let cap = 6.0 - n / 100.0;
            let success = if cap <= 0.0 {
                0.0
            } else {
                let s_cap = ttft.exceedance(cap);
                let y = t - d;
                let s = if y >= cap {
                    0.0
                } else {
                    ((ttft.exceedance(y) - s_cap) / (1.0 - s_cap)).clamp(0.0, 1.0)
                };
                ok(n) * s
            };
            success + if 6.0 > t { to } else { 0.0 } + if 0.1 > t { err } else { 0.0 }
        })
    };
    let quality = 0.8 * expect_n(&ns, ok);
    // The failure probability is taken at each piece's mean answer length
    // (pieces a unit of normal score of the cap apart): within 0.05 points.
    close("quality", p.quality, quality, 7e-4);
    close(
        "latency p50",
        p.latency.p50,
        quantile(|t| exceed(t, false), 0.5),
        2e-3,
    );
    close(
        "latency p95",
        p.latency.p95,
        quantile(|t| exceed(t, false), 0.95),
        2e-3,
    );
    close(
        "ttft p95",
        p.ttft.p95,
        quantile(|t| exceed(t, true), 0.95),
        2e-3,
    );
    let mean_in = 1000.0 * ((4.0f64.ln() / model::Z95).powi(2) / 2.0).exp();
    let cost = mean_in * 1e-6 + expect_n(&ns, |n| ok(n) * n) * 2e-6;
    close("cost", p.cost_per_1k_requests / 1000.0, cost, 1e-3);
}
