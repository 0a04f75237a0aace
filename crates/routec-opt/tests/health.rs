//! The figures the per-model drift monitors compare with
//! (`table.model_health`, `docs/learn.md`, "Per-model latency and error
//! drift"): the declared TTFT p95, the p95 of one attempt end to end under
//! the profile's answer lengths, and the expected error rate.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

const POLICY: &str = r#"
policy health {
  baseline streamed
}

model streamed {
  price $0.01/request
  latency ttft p50 200ms p95 600ms, decode 100 tok/s
  quality 90%
}

model whole {
  price $0.01/request
  latency p50 1s p95 3s
  quality 80%
}

model unknown {
  price $0.01/request
  quality 70%
}

faults {
  ttft timeout 2s
}

route {
  when has_tools => whole
  when has_images => unknown
  otherwise => streamed
}

learn {
  drift latency > 50% over 1h => alert
  drift errors > 2% over 1h => alert
}

traffic mix {
  output_tokens lognormal p50 200 p95 600
}
"#;

#[test]
fn each_model_has_its_declared_and_predicted_figures() {
    let c = common::compile(POLICY).unwrap();
    let h = &c.table.model_health;
    assert_eq!(h.len(), 3);
    assert_eq!(h.iter().map(|h| h.model).collect::<Vec<_>>(), [0, 1, 2]);
    // The declared TTFT p95, exactly (no reasoning, no hedge).
    assert!((h[0].ttft_p95.unwrap() - 0.6).abs() < 1e-9);
    // End to end: TTFT plus 200..600 tokens at 100 tok/s. The p95 of the
    // sum lies above the decode p95 (6s) and below the two p95s summed.
    let e2e = h[0].latency_p95.unwrap();
    assert!(e2e > 6.0 && e2e < 6.6, "{e2e}");
    // A model declared end to end only: its whole answer is its first
    // token, and both figures are the declared p95.
    assert!((h[1].ttft_p95.unwrap() - 3.0).abs() < 1e-9);
    assert!((h[1].latency_p95.unwrap() - 3.0).abs() < 1e-9);
    // Without a declared latency there is nothing to compare with.
    assert_eq!(h[2].ttft_p95, None);
    assert_eq!(h[2].latency_p95, None);
    // Base errors (0.5%) plus the TTFT timeouts: P(TTFT > 2s) for a
    // lognormal with p50 200ms, p95 600ms is about 0.02%.
    assert!(
        h[0].error_rate > 0.005 && h[0].error_rate < 0.0055,
        "{}",
        h[0].error_rate
    );
    // A 3s p95 end to end against a 2s TTFT timeout: many time out.
    assert!(h[1].error_rate > 0.1, "{}", h[1].error_rate);
    c.table.validate().unwrap();
}

#[test]
fn no_figures_without_a_per_model_monitor() {
    let policy = POLICY
        .replace("drift latency > 50% over 1h => alert", "")
        .replace(
            "drift errors > 2% over 1h => alert",
            "drift kl > 0.1 nats over 1h => alert",
        );
    let c = common::compile(&policy).unwrap();
    assert!(c.table.model_health.is_empty());
}
