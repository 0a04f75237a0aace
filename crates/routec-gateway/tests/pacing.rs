//! Budget pacing through the real gateway against fake upstreams
//! (`spend per day <= $X`, docs/learn.md "Budget pacing"): traffic ten
//! times the planned rate is paced down the ladder (cheaper answers, the
//! rung in the decision log and the metrics), and a quiet next day is
//! routed by the table again. A test clock drives the pacer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Fake, TextLoader, client, env, gateway, metric, options};
use serde_json::{Value as J, json};

/// At the planned 0.01 qps (864 requests a day), $5 a day buys `big` for
/// about half of the requests; the ladder goes down to `small` everywhere.
const POLICY: &str = include_str!("fixtures/paced.route");

/// 2026-12-06 12:00 UTC.
const NOON: u64 = 1_796_558_400;

async fn chat(addr: std::net::SocketAddr, task: &str) -> String {
    let r = client()
        .post(format!("http://{addr}/v1/chat/completions"))
        .header("x-task", task)
        .json(&json!({"model": "paced", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.headers()["x-routec-model"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_surge_is_paced_down_the_ladder_and_a_quiet_day_is_not() {
    let table = common::compile(POLICY).unwrap();
    let pacing = table.pacing.as_ref().expect("a ladder");
    assert!(!pacing.steps.is_empty());
    let bottom = pacing.steps.len();

    let small = Fake::start().await;
    let big = Fake::start().await;
    let dir = std::env::temp_dir().join(format!("routec-pacing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let clock = Arc::new(AtomicU64::new(NOON));
    let mut opts = options();
    opts.decision_log = Some(dir.join("decisions.jsonl"));
    let c = clock.clone();
    opts.clock = routec_gateway::Clock::new(move || c.load(Ordering::Relaxed) as f64);
    let env = env(&[
        ("SMALL_URL", format!("{}/v1", small.url())),
        ("BIG_URL", format!("{}/v1", big.url())),
    ]);
    let gw = gateway(TextLoader::new(POLICY), env, opts).await;

    // Ten times the planned rate: one request every 10 s for 20 minutes.
    let mut late = Vec::new();
    for i in 0..120 {
        let task = if i % 2 == 0 { "chat" } else { "code" };
        let model = chat(gw.addr, task).await;
        if i >= 60 {
            late.push(model);
        }
        clock.fetch_add(10, Ordering::Relaxed);
    }
    // After the first checks, the target cost per request is near the
    // bottom rung's: `small` answers almost everything.
    let small_late = late.iter().filter(|m| *m == "small").count();
    assert!(small_late >= 50, "{small_late} of 60 by small: {late:?}");
    let m = common::scrape(gw.addr, None).await;
    assert_eq!(metric(&m, "routec_pacing_budget_usd"), 5.0);
    let spent = metric(&m, "routec_pacing_spend_usd");
    assert!(spent > 0.1 && spent < 1.2, "{spent}");
    assert!(metric(&m, "routec_pacing_target_cost_per_request_usd") < 0.005);
    assert!(
        m.contains(&format!("routec_paced_requests_total{{rung=\"{bottom}\"}}")),
        "{m}"
    );

    // The next day, a request every 1,000 s (a tenth of the plan): the
    // table routes again.
    clock.store(NOON + 86_400, Ordering::Relaxed);
    let mut quiet = Vec::new();
    for i in 0..8 {
        let task = if i % 2 == 0 { "chat" } else { "code" };
        quiet.push(chat(gw.addr, task).await);
        clock.fetch_add(1000, Ordering::Relaxed);
    }
    gw.stop().await.unwrap();
    let text = std::fs::read_to_string(dir.join("decisions.jsonl")).unwrap();
    let lines: Vec<J> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(lines.len(), 128);
    let rungs: Vec<u64> = lines
        .iter()
        .map(|l| l["decision"]["rung"].as_u64().unwrap())
        .collect();
    // The first request of each day is routed by the table; paced ones
    // by steps of the ladder, never past its bottom.
    assert_eq!(rungs[0], 0);
    assert!(rungs.iter().all(|r| *r as usize <= bottom));
    assert!(rungs[60..120].iter().filter(|r| **r > 0).count() >= 50);
    assert!(rungs[122..].iter().all(|r| *r == 0), "{:?}", &rungs[120..]);
    // A code request routed by the table goes to `big` (the table buys
    // quality where it is cheapest to buy).
    assert!(quiet.iter().any(|m| m == "big"), "{quiet:?}");
}
