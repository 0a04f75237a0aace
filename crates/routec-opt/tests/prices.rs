//! Price tiers and reasoning tokens change the optimizer's predictions by
//! the formulas of `docs/semantics.md` ("Cost of one call", "Reasoning
//! tokens"): checked against numeric integration of the model on
//! one-model policies, as `accuracy.rs` does for the plain model.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use routec_opt::model::{self, LatencyQuantiles};

/// The answer length `N` (lognormal, p50 200, p95 1000) as midpoint nodes
/// `(weight, n)` in its normal score.
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

fn expect_n(nodes: &[(f64, f64)], f: impl Fn(f64) -> f64) -> f64 {
    nodes.iter().map(|&(w, n)| w * f(n)).sum()
}

fn quantile(exceed: impl Fn(f64) -> f64, q: f64) -> f64 {
    let (mut lo, mut hi) = (1e-2f64.ln(), 1e3f64.ln());
    for _ in 0..40 {
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

/// A one-model policy: `m` with the extra properties `props`.
fn policy(props: &str, faults: &str) -> String {
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

/// The prompt length's distribution.
fn prompts() -> LatencyQuantiles {
    LatencyQuantiles::from_quantiles(&[(0.5, 1000.0), (0.95, 4000.0)]).unwrap()
}

/// `price for prompts > 2k tokens: input $3/Mtok, output $5/Mtok`: a
/// request whose prompt is longer than 2000 tokens pays the tier's rates
/// for all its tokens. With `F` the prompt CDF (a whole number of tokens:
/// longer than 2000 is at least 2001) and `M(a, b)` its partial mean,
/// `cost = $1/M·M(0, 2001) + $3/M·M(2001, ∞) + 0.995·E[N]·($2/M·F(2001) +
/// $5/M·(1 − F(2001)))`: the cell partition is cut at the threshold, so the
/// fixed rule's cost is exact, where one cell at the mean prompt length
/// would price every request at the base rates.
#[test]
fn price_tiers_bill_long_prompts_at_their_rates() {
    let p = predicted(&policy(
        "  price for prompts > 2k tokens: input $3/Mtok, output $5/Mtok",
        "",
    ));
    let prompt = prompts();
    let below = prompt.cdf(2001.0);
    let mean_n = expect_n(&nodes(), |n| n);
    let cost = 1e-6 * prompt.partial_mean(0.0, 2001.0)
        + 3e-6 * prompt.partial_mean(2001.0, f64::INFINITY)
        + 0.995 * mean_n * (2e-6 * below + 5e-6 * (1.0 - below));
    close("cost", p.cost_per_1k_requests / 1000.0, cost, 1e-3);
    // Latency does not depend on the price.
    let plain = predicted(&policy("", ""));
    close("latency p95", p.latency.p95, plain.latency.p95, 1e-9);
    // Without the tier the cost is markedly lower.
    assert!(plain.cost_per_1k_requests < 0.8 * p.cost_per_1k_requests);
}

/// A tier that writes only the input rate keeps the output rate of the
/// tier below; tiers apply by the largest threshold the prompt exceeds.
#[test]
fn a_tier_takes_the_rates_it_does_not_write_from_the_tier_below() {
    let p = predicted(&policy(
        "  price for prompts > 2k tokens: input $3/Mtok, output $5/Mtok\n  \
         price for prompts > 8k tokens: input $4/Mtok",
        "",
    ));
    let prompt = prompts();
    let (f2, f8) = (prompt.cdf(2001.0), prompt.cdf(8001.0));
    let mean_n = expect_n(&nodes(), |n| n);
    let cost = 1e-6 * prompt.partial_mean(0.0, 2001.0)
        + 3e-6 * prompt.partial_mean(2001.0, 8001.0)
        + 4e-6 * prompt.partial_mean(8001.0, f64::INFINITY)
        + 0.995 * mean_n * (2e-6 * f2 + 5e-6 * (1.0 - f2));
    let _ = f8;
    close("cost", p.cost_per_1k_requests / 1000.0, cost, 1e-3);
}

/// `reasoning 300% of output`: an answer of `N` tokens is preceded by `3N`
/// hidden tokens decoded at the same rate, so `TTFT = X + 3N/R`, `E2E = X +
/// 4N/R`, and `4N` output tokens are billed. Base errors (0.5%) fail at the
/// median TTFT.
#[test]
fn reasoning_as_a_share_of_the_answer_delays_the_first_token_and_is_billed() {
    let p = predicted(&policy("  reasoning 300% of output", ""));
    let ttft = LatencyQuantiles::from_quantiles(&[(0.5, 0.1), (0.95, 0.3)]).unwrap();
    let ns = nodes();
    let exceed = |per_token: f64| {
        let ns = &ns;
        let ttft = &ttft;
        move |t: f64| {
            0.995 * expect_n(ns, |n| ttft.exceedance(t - per_token * n / 100.0))
                + if 0.1 > t { 0.005 } else { 0.0 }
        }
    };
    close("ttft p50", p.ttft.p50, quantile(exceed(3.0), 0.5), 2e-3);
    close("ttft p95", p.ttft.p95, quantile(exceed(3.0), 0.95), 2e-3);
    close(
        "latency p50",
        p.latency.p50,
        quantile(exceed(4.0), 0.5),
        2e-3,
    );
    close(
        "latency p95",
        p.latency.p95,
        quantile(exceed(4.0), 0.95),
        2e-3,
    );
    close(
        "latency p99",
        p.latency.p99,
        quantile(exceed(4.0), 0.99),
        3e-3,
    );
    let mean_n = expect_n(&ns, |n| n);
    let mean_in = 1000.0 * ((4.0f64.ln() / model::Z95).powi(2) / 2.0).exp();
    let cost = mean_in * 1e-6 + 0.995 * 4.0 * mean_n * 2e-6;
    close("cost", p.cost_per_1k_requests / 1000.0, cost, 1e-3);
}

/// `reasoning 2k tokens` with `timeout 30s`: 2000 tokens at 100 tok/s are
/// 20 s before the first token, so an attempt times out when `X + 20 +
/// N/R > 30`: with `S` the TTFT survival, `P(timeout | N) = S(10 − N/R)`
/// (1 when that is not positive), failing at 30 s; base errors take
/// `min(0.5%, 1 − P(timeout))` at the median TTFT; answers have `X`
/// truncated to the cap: `P(E2E > t | N, ok) = (S(t − 20 − N/R) − S(cap)) /
/// (1 − S(cap))` below the cap.
#[test]
fn reasoning_tokens_count_against_the_timeout() {
    let p = predicted(&policy(
        "  reasoning 2k tokens",
        "faults {\n  timeout 30s\n}\n",
    ));
    let ttft = LatencyQuantiles::from_quantiles(&[(0.5, 0.1), (0.95, 0.3)]).unwrap();
    let s = |t: f64| ttft.exceedance(t);
    let ns = nodes();
    let split = |n: f64| {
        let cap = 10.0 - n / 100.0;
        let to = if cap > 0.0 { s(cap) } else { 1.0 };
        let err = 0.005f64.min(1.0 - to);
        (cap, to, err, (1.0 - to - err).max(0.0))
    };
    let exceed = |shift: f64, per_token: f64| {
        let ns = &ns;
        move |t: f64| {
            expect_n(ns, |n| {
                let (cap, to, err, ok) = split(n);
                let y = t - shift - per_token * n / 100.0;
                let answered = if ok <= 0.0 || y >= cap {
                    0.0
                } else {
                    ((s(y) - s(cap)) / (1.0 - s(cap))).clamp(0.0, 1.0)
                };
                ok * answered
                    + to * f64::from(u8::from(30.0 > t))
                    + err * f64::from(u8::from(0.1 > t))
            })
        }
    };
    close(
        "ttft p50",
        p.ttft.p50,
        quantile(exceed(20.0, 0.0), 0.5),
        2e-3,
    );
    close(
        "latency p50",
        p.latency.p50,
        quantile(exceed(20.0, 1.0), 0.5),
        2e-3,
    );
    close(
        "latency p95",
        p.latency.p95,
        quantile(exceed(20.0, 1.0), 0.95),
        2e-3,
    );
    let failed = expect_n(&ns, |n| {
        let (_, to, err, _) = split(n);
        to + err
    });
    close("quality", p.quality, 0.8 * (1.0 - failed), 1e-3);
    // Billed: the input always, 2000 + N output tokens when answered.
    let mean_in = 1000.0 * ((4.0f64.ln() / model::Z95).powi(2) / 2.0).exp();
    let cost = mean_in * 1e-6
        + expect_n(&ns, |n| {
            let (_, _, _, ok) = split(n);
            ok * (2000.0 + n) * 2e-6
        });
    close("cost", p.cost_per_1k_requests / 1000.0, cost, 2e-3);
}
