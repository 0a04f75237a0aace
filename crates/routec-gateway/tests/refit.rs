//! Re-fit on drift through the real gateway (`drift kl > 0.1 nats over 1h
//! => refit`, docs/learn.md "Re-fit on drift"): traffic that moves to one
//! task makes the drift monitor fire, the gateway recompiles the policy on
//! its decision log's window, and swaps the new table in only when it meets
//! every SLO there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Fake, TextLoader, client, env, gateway, metric, options};
use serde_json::json;

/// Chat to `small`, code to `big` (the quality floor), on a 50/50 mix.
const POLICY: &str = r#"
policy refit {
  owner "tests"
  baseline big
}

signal task: enum { chat, code } from header "x-task" default chat

model small {
  provider openai
  endpoint env("SMALL_URL")
  upstream "gpt-4o-mini"
  price $0.001/request
  latency ttft p50 100ms p95 300ms, decode 100 tok/s
  quality by task { chat 95%, code 50% }
}

model big {
  provider openai
  endpoint env("BIG_URL")
  upstream "gpt-4o"
  price $0.01/request
  latency ttft p50 300ms p95 1s, decode 50 tok/s
  quality by task { chat 96%, code 92% }
}

objective minimize cost

slo {
  quality >= 90%
  SHARE
}

route {
  otherwise => optimize [small, big] by task
}

traffic mix {
  task { chat 50%, code 50% }
}

learn {
  drift kl > 0.1 nats over 1h => refit
}
"#;

/// The assumed share of code requests in the serving table.
fn code_share(gw: &routec_gateway::Running) -> f64 {
    let loaded = gw.app.table.load();
    let table = loaded.table();
    let a = table.assumed.as_ref().unwrap();
    a.cells
        .iter()
        .filter(|c| c.predicate.contains("code"))
        .map(|c| c.share)
        .sum()
}

/// Sends 150 code requests and scrapes (the scrape checks the window),
/// then waits for a re-fit's result; returns the metrics.
async fn drift_to_code(policy: &str, name: &str) -> (routec_gateway::Running, String, f64) {
    let small = Fake::start().await;
    let big = Fake::start().await;
    let dir = std::env::temp_dir().join(format!("routec-refit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut opts = options();
    opts.decision_log = Some(dir.join("decisions.jsonl"));
    let env = env(&[
        ("SMALL_URL", format!("{}/v1", small.url())),
        ("BIG_URL", format!("{}/v1", big.url())),
    ]);
    let gw = gateway(TextLoader::new(policy), env, opts).await;
    let before = code_share(&gw);
    for _ in 0..150 {
        let r = client()
            .post(format!("http://{}/v1/chat/completions", gw.addr))
            .header("x-task", "code")
            .json(&json!({"model": "refit", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let scrape = || async { common::scrape(gw.addr, None).await };
    let deadline = Instant::now() + Duration::from_secs(30);
    let m = loop {
        let m = scrape().await;
        if m.contains("routec_refits_total{") {
            break m;
        }
        assert!(Instant::now() < deadline, "no re-fit:\n{m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = std::fs::remove_dir_all(&dir);
    drop((small, big));
    (gw, m, before)
}

#[tokio::test]
async fn a_drifted_mix_is_refitted_and_swapped_in() {
    let policy = POLICY.replace("  SHARE\n", "");
    let (gw, m, before) = drift_to_code(&policy, "ok").await;
    assert!((before - 0.5).abs() < 1e-9, "{before}");
    assert!(metric(&m, "routec_drift_alerts_total") >= 1.0, "{m}");
    assert!(m.contains("routec_refits_total{result=\"ok\"} 1"), "{m}");
    // The serving table was compiled for the window: all code.
    let after = code_share(&gw);
    assert!(after > 0.99, "{after}");
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn a_refit_that_misses_an_slo_is_refused() {
    // On the window (all code), the floor needs `big` for every request,
    // past the share cap: no table meets both.
    let policy = POLICY.replace("  SHARE\n", "  share big <= 60%\n");
    let (gw, m, before) = drift_to_code(&policy, "refused").await;
    assert!(
        m.contains("routec_refits_total{result=\"refused\"} 1"),
        "{m}"
    );
    assert!(!m.contains("routec_refits_total{result=\"ok\"}"), "{m}");
    assert!((code_share(&gw) - before).abs() < 1e-12);
    gw.stop().await.unwrap();
}
