//! The per-model drift monitors through the real gateway (`docs/learn.md`,
//! "Per-model latency and error drift"): every upstream attempt of a
//! finished request is counted against its model's expected figures. A
//! fake answering well within its declared latency raises no alert; one
//! scripted to be slow crosses `drift ttft > 50%` and `drift latency >
//! 50%`, one failing crosses `drift errors > 2%`, each counted once in
//! `routec_drift_model_alerts_total` with the model named, the gauges
//! showing what moved. Loopback only; the assertions are on counts and
//! ratios far from the thresholds, not on timing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use common::{Act, Fake, TextLoader, client, env, gateway, metric, options};
use serde_json::json;

const POLICY: &str = r#"
policy health {
  owner "tests"
  baseline steady
}

signal task: enum { chat, code, other } from header "x-task" default chat

/// Declared slow enough that a loopback fake is always within it.
model steady {
  provider openai
  endpoint env("STEADY_URL")
  upstream "gpt-4o-mini"
  price input $1/Mtok, output $2/Mtok
  latency ttft p50 300ms p95 2s, decode 1000 tok/s
  quality 80%
}

/// Declared fast; its fake takes 1.5s to the first token.
model slowed {
  provider openai
  endpoint env("SLOWED_URL")
  upstream "gpt-4o-mini"
  price input $1/Mtok, output $2/Mtok
  latency ttft p50 40ms p95 100ms, decode 1000 tok/s
  quality 80%
}

/// Its fake answers 503.
model flaky {
  provider openai
  endpoint env("FLAKY_URL")
  upstream "gpt-4o-mini"
  price input $1/Mtok, output $2/Mtok
  latency ttft p50 300ms p95 2s, decode 1000 tok/s
  quality 80%
}

route {
  when task == code => slowed
  when task == other => flaky
  otherwise => steady
}

learn {
  drift ttft > 50% over 1h => alert
  drift latency > 50% over 1h => alert
  drift errors > 2% over 1h => alert
}
"#;

struct World {
    steady: Fake,
    slowed: Fake,
    flaky: Fake,
    loader: std::sync::Arc<TextLoader>,
    gw: routec_gateway::Running,
}

impl World {
    async fn start() -> World {
        let steady = Fake::start().await;
        let slowed = Fake::start().await;
        let flaky = Fake::start().await;
        slowed.always(Act::slow_first_token(1500));
        flaky.always(Act::Status(503, None));
        let env = env(&[
            ("STEADY_URL", format!("{}/v1", steady.url())),
            ("SLOWED_URL", format!("{}/v1", slowed.url())),
            ("FLAKY_URL", format!("{}/v1", flaky.url())),
        ]);
        let loader = TextLoader::new(POLICY);
        let gw = gateway(loader.clone(), env, options()).await;
        World {
            steady,
            slowed,
            flaky,
            loader,
            gw,
        }
    }

    /// `n` requests with `x-task: task`, 50 at a time; their statuses.
    async fn send(&self, task: &str, n: usize) -> Vec<u16> {
        let mut statuses = Vec::new();
        let mut left = n;
        while left > 0 {
            let batch = left.min(50);
            left -= batch;
            let calls = (0..batch).map(|_| {
                client()
                    .post(format!("http://{}/v1/chat/completions", self.gw.addr))
                    .header("x-task", task)
                    .json(&json!({"model": "health", "messages": [{"role": "user", "content": "hi"}]}))
                    .send()
            });
            for r in futures_util::future::join_all(calls).await {
                statuses.push(r.unwrap().status().as_u16());
            }
        }
        statuses
    }

    async fn metrics(&self) -> String {
        common::scrape(self.gw.addr, None).await
    }
}

fn series(name: &str, model: &str) -> String {
    format!("{name}{{model=\"{model}\"}}")
}

fn by_measure(name: &str, model: &str, measure: &str) -> String {
    format!("{name}{{model=\"{model}\",measure=\"{measure}\"}}")
}

#[tokio::test]
async fn a_model_within_its_declared_figures_does_not_alert() {
    let w = World::start().await;
    assert!(w.send("chat", 250).await.iter().all(|s| *s == 200));
    assert_eq!(w.steady.count(), 250);
    let m = w.metrics().await;
    for measure in ["ttft", "latency", "errors"] {
        assert_eq!(
            metric(&m, &by_measure("routec_drift_attempts", "steady", measure)),
            250.0,
            "{m}"
        );
        assert_eq!(
            metric(
                &m,
                &by_measure("routec_drift_model_alerts_total", "steady", measure)
            ),
            0.0,
            "{m}"
        );
    }
    // Answers in milliseconds against a 2s p95 (the ratio's bin floor is
    // 2^-6 of the expected p95).
    assert!(
        metric(&m, &series("routec_drift_ttft_ratio", "steady")) < 0.5,
        "{m}"
    );
    assert!(
        metric(&m, &series("routec_drift_latency_ratio", "steady")) < 0.5,
        "{m}"
    );
    assert_eq!(
        metric(&m, &series("routec_drift_error_rate", "steady")),
        0.0
    );
    // The models that served nothing have empty windows.
    assert_eq!(
        metric(&m, &by_measure("routec_drift_attempts", "slowed", "ttft")),
        0.0
    );
    assert_eq!(
        metric(&m, &series("routec_drift_ttft_ratio", "slowed")),
        1.0
    );
    // A reload without `flaky` and without the errors monitor drops their
    // gauges; the others start new windows.
    let (head, rest) = POLICY.split_once("/// Its fake answers 503.").unwrap();
    let (_, tail) = rest.split_once("route {").unwrap();
    w.loader.set(
        &format!("{head}route {{{tail}")
            .replace("  when task == other => flaky\n", "")
            .replace("  drift errors > 2% over 1h => alert\n", ""),
    );
    w.gw.app.reload("test").await.unwrap();
    let m = w.metrics().await;
    assert!(!m.contains("routec_drift_error_rate{"), "{m}");
    assert!(
        !m.contains(&series("routec_drift_ttft_ratio", "flaky")),
        "{m}"
    );
    assert_eq!(
        metric(&m, &by_measure("routec_drift_attempts", "steady", "ttft")),
        0.0,
        "{m}"
    );
    w.gw.stop().await.unwrap();
}

#[tokio::test]
async fn a_slowed_model_alerts_once_naming_itself() {
    let w = World::start().await;
    assert!(w.send("code", 220).await.iter().all(|s| *s == 200));
    assert_eq!(w.slowed.count(), 220);
    let m = w.metrics().await;
    for measure in ["ttft", "latency"] {
        assert_eq!(
            metric(&m, &by_measure("routec_drift_attempts", "slowed", measure)),
            220.0,
            "{m}"
        );
        assert_eq!(
            metric(
                &m,
                &by_measure("routec_drift_model_alerts_total", "slowed", measure)
            ),
            1.0,
            "{m}"
        );
    }
    // At least 1.5s against an expected 100ms TTFT p95, and against about
    // 350ms end to end (100ms and 250 tokens at 1000 tok/s).
    assert!(
        metric(&m, &series("routec_drift_ttft_ratio", "slowed")) > 10.0,
        "{m}"
    );
    assert!(
        metric(&m, &series("routec_drift_latency_ratio", "slowed")) > 3.0,
        "{m}"
    );
    // No error, and nothing for the other models.
    assert_eq!(
        metric(
            &m,
            &by_measure("routec_drift_model_alerts_total", "slowed", "errors")
        ),
        0.0
    );
    assert_eq!(
        metric(
            &m,
            &by_measure("routec_drift_model_alerts_total", "steady", "ttft")
        ),
        0.0
    );
    // Once per crossing: a scrape checks again without counting again.
    let m = w.metrics().await;
    assert_eq!(
        metric(
            &m,
            &by_measure("routec_drift_model_alerts_total", "slowed", "ttft")
        ),
        1.0
    );
    w.gw.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_model_alerts_on_errors() {
    let w = World::start().await;
    // 0.5% expected (base errors; a 2s p95 seldom passes no timeout):
    // an alert needs max(100, 25 e (1 - e) / 2%²) = 311 attempts.
    assert!(w.send("other", 300).await.iter().all(|s| *s == 502));
    let m = w.metrics().await;
    assert_eq!(
        metric(&m, &by_measure("routec_drift_attempts", "flaky", "errors")),
        300.0,
        "{m}"
    );
    assert_eq!(metric(&m, &series("routec_drift_error_rate", "flaky")), 1.0);
    assert_eq!(
        metric(
            &m,
            &by_measure("routec_drift_model_alerts_total", "flaky", "errors")
        ),
        0.0,
        "too few attempts yet: {m}"
    );
    assert!(w.send("other", 20).await.iter().all(|s| *s == 502));
    assert_eq!(w.flaky.count(), 320);
    let m = w.metrics().await;
    assert_eq!(
        metric(
            &m,
            &by_measure("routec_drift_model_alerts_total", "flaky", "errors")
        ),
        1.0,
        "{m}"
    );
    // A failed attempt has no first token: the latency windows are empty.
    assert_eq!(
        metric(&m, &by_measure("routec_drift_attempts", "flaky", "ttft")),
        0.0
    );
    w.gw.stop().await.unwrap();
}
