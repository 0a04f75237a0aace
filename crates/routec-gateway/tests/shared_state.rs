//! Two gateway replicas sharing state through one Redis (`--state
//! redis://...`, docs/learn.md "State shared by replicas"): a cooldown
//! started by one is honoured by the other, the exploration budget and the
//! day's spend count both replicas' spend, the drift window counts both
//! replicas' traffic and the per-model windows both replicas' attempts,
//! feedback is taken by either replica, and a Redis
//! that goes away and comes back leaves both serving, then reconciled.
//!
//! Each test starts its own `redis-server` (a free port, no persistence,
//! a temporary directory) and kills it when done; without `redis-server`
//! on PATH (`scripts/setup-test-deps` installs it) the tests print a
//! notice and pass without running.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Act, Fake, TextLoader, client, env, metric, options};
use routec_gateway::state::{DAY_COUNTER, EXPLORE_COUNTER, day_start};
use routec_gateway::{RedisState, Running, SharedState};
use serde_json::json;

/// `small` (cheap, falls back to `big`) and `big`; chat goes to `small`
/// and may be explored on `big` (see tests/explore.rs); `small` cools down
/// after two failures.
const POLICY: &str = r#"
policy shared {
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
  fallback big
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
}

route {
  otherwise => optimize [small, big] by task
}

traffic mix {
  task { chat 50%, code 50% }
}

faults {
  retry 0 on [5xx] backoff 0ms
  cooldown 30s after 2 failures
}

learn {
  explore 50% budget $0.05 per day
}
"#;

/// 2026-12-06 12:00 UTC.
const NOON: u64 = 1_796_558_400;

/// A `redis-server` of this test: a free port, no persistence, killed on
/// drop.
struct Redis {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl Redis {
    /// Starts one, or `None` (with a notice) when `redis-server` is not
    /// installed.
    async fn start(test: &str) -> Option<Redis> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!(
                "SKIPPED {test}: `redis-server` is not on PATH (scripts/setup-test-deps installs it)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("routec-redis-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Redis {
            port,
            dir,
            child: None,
        };
        r.spawn().await;
        Some(r)
    }

    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        eventually("redis-server accepts connections", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `ok` every 10 ms until it holds; fails after 10 s.
async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

struct World {
    small: Fake,
    big: Fake,
    a: Running,
    b: Running,
    sa: Arc<RedisState>,
    sb: Arc<RedisState>,
    redis: Redis,
}

/// A budget paced down a ladder (`tests/pacing.rs`): $5 a day.
const PACED: &str = include_str!("fixtures/paced.route");

impl World {
    async fn start(test: &str) -> Option<World> {
        World::start_with(test, POLICY).await
    }

    async fn start_with(test: &str, policy: &str) -> Option<World> {
        let redis = Redis::start(test).await?;
        let small = Fake::start().await;
        let big = Fake::start().await;
        let clock = Arc::new(AtomicU64::new(NOON));
        let prefix = format!("routec:test-{test}");
        let mut replicas = Vec::new();
        let mut states = Vec::new();
        for seed in [1, 2] {
            let mut opts = options();
            opts.decision_log = Some(redis.dir.join(format!("decisions-{seed}.jsonl")));
            let c = clock.clone();
            opts.clock = routec_gateway::Clock::new(move || c.load(Ordering::Relaxed) as f64);
            opts.explore_seed = Some(seed);
            let env = env(&[
                ("SMALL_URL", format!("{}/v1", small.url())),
                ("BIG_URL", format!("{}/v1", big.url())),
            ]);
            let state = RedisState::connect(&redis.url(), &prefix).unwrap();
            let gw = routec_gateway::start(
                TextLoader::new(policy),
                opts,
                env,
                state.clone() as Arc<dyn SharedState>,
                false,
            )
            .await
            .unwrap();
            replicas.push(gw);
            states.push(state);
        }
        let (b, a) = (replicas.pop().unwrap(), replicas.pop().unwrap());
        let (sb, sa) = (states.pop().unwrap(), states.pop().unwrap());
        let w = World {
            small,
            big,
            a,
            b,
            sa,
            sb,
            redis,
        };
        eventually("both replicas share state", || {
            w.sa.shared() && w.sb.shared()
        })
        .await;
        Some(w)
    }

    /// A chat request to `gw` for `model` (the policy or a model name):
    /// the status and the answering model.
    async fn chat(gw: &Running, model: &str) -> (u16, String) {
        let r = client()
            .post(format!("http://{}/v1/chat/completions", gw.addr))
            .header("x-task", "chat")
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let served = r
            .headers()
            .get("x-routec-model")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let _ = r.text().await;
        (status, served)
    }

    async fn metrics(gw: &Running) -> String {
        common::scrape(gw.addr, None).await
    }

    /// What both replicas' requests cost (their own counters).
    fn total_cost(&self) -> f64 {
        [&self.a, &self.b]
            .iter()
            .map(|gw| {
                let m = &gw.app.metrics;
                ["small", "big"]
                    .iter()
                    .map(|model| {
                        m.cost
                            .get_or_create(&routec_gateway::metrics::ModelLabels {
                                model: (*model).to_owned(),
                            })
                            .get()
                    })
                    .sum::<f64>()
            })
            .sum()
    }

    /// Waits until both replicas' day counters read `total`.
    async fn day_spend_is(&self, total: f64) {
        let day = day_start(NOON as f64);
        eventually(&format!("both replicas' day spend reads {total}"), || {
            [&self.sa, &self.sb]
                .iter()
                .all(|s| (s.spend(DAY_COUNTER, day) - total).abs() < 1e-9)
        })
        .await;
    }
}

#[tokio::test]
async fn a_model_cooled_down_by_one_replica_is_skipped_by_the_other() {
    let Some(w) = World::start("cooldown").await else {
        return;
    };
    w.small.always(Act::Status(500, None));
    // Two failures on replica A start small's cooldown there.
    for _ in 0..2 {
        let (status, served) = World::chat(&w.a, "small").await;
        assert_eq!((status, served.as_str()), (200, "big"));
    }
    assert_eq!(w.small.count(), 2);
    assert_eq!(
        metric(
            &World::metrics(&w.a).await,
            r#"routec_cooldowns_total{model="small"}"#
        ),
        1.0
    );
    // Replica B learns it from Redis...
    let sb = w.sb.clone();
    eventually("replica B sees small cooling down", || {
        sb.cooling(Instant::now()) == ["small"]
    })
    .await;
    let m = World::metrics(&w.b).await;
    assert_eq!(metric(&m, r#"routec_cooling{model="small"}"#), 1.0, "{m}");
    assert_eq!(metric(&m, r#"routec_cooling{model="big"}"#), 0.0, "{m}");
    // ... and skips small without calling it.
    for _ in 0..3 {
        let (status, served) = World::chat(&w.b, "small").await;
        assert_eq!((status, served.as_str()), (200, "big"));
    }
    assert_eq!(w.small.count(), 2, "replica B called a model cooling down");
    assert_eq!(w.big.count(), 5);
    // B never failed on small itself: its own cooldown counter is 0.
    let m = World::metrics(&w.b).await;
    assert_eq!(metric(&m, r#"routec_cooldowns_total{model="small"}"#), 0.0);
    assert_eq!(metric(&m, "routec_state_shared"), 1.0);
}

#[tokio::test]
async fn the_exploration_budget_is_shared_by_both_replicas() {
    let Some(w) = World::start("explore").await else {
        return;
    };
    let period = NOON - NOON % 86_400;
    let budget = 0.05;
    let explored_cost = |gw: &Running| gw.app.metrics.explore_cost.get();
    // Requests alternate between the replicas, one at a time; after each,
    // both mirrors are allowed to catch up (the bound documented for
    // sequential requests: one request's cost over the budget).
    for i in 0..80 {
        let gw = if i % 2 == 0 { &w.a } else { &w.b };
        let (status, _) = World::chat(gw, "shared").await;
        assert_eq!(status, 200);
        let (sa, sb) = (w.sa.clone(), w.sb.clone());
        eventually("both replicas see every explored request's cost", || {
            let spent = explored_cost(&w.a) + explored_cost(&w.b);
            let counter = format!("{EXPLORE_COUNTER}:day");
            (sa.spend(&counter, period) - spent).abs() < 1e-9
                && (sb.spend(&counter, period) - spent).abs() < 1e-9
        })
        .await;
    }
    let (ea, eb) = (explored_cost(&w.a), explored_cost(&w.b));
    let total = ea + eb;
    // Both replicas explored, and together they stopped at the budget
    // (each alone would have spent up to the budget: $0.10 together).
    assert!(ea > 0.0 && eb > 0.0, "explored: A ${ea}, B ${eb}");
    assert!(total >= budget - 1e-9, "explored ${total} of ${budget}");
    assert!(
        total <= budget + 0.01 + 1e-9,
        "explored ${total} of ${budget}"
    );
    for gw in [&w.a, &w.b] {
        let m = World::metrics(gw).await;
        assert_eq!(metric(&m, "routec_explore_budget_remaining_usd"), 0.0);
    }
}

#[tokio::test]
async fn spend_counters_sum_across_replicas() {
    let Some(w) = World::start("spend").await else {
        return;
    };
    for _ in 0..3 {
        assert_eq!(World::chat(&w.a, "small").await.0, 200);
    }
    for _ in 0..2 {
        assert_eq!(World::chat(&w.b, "big").await.0, 200);
    }
    let total = w.total_cost();
    assert!((total - (3.0 * 0.001 + 2.0 * 0.01)).abs() < 1e-9, "{total}");
    w.day_spend_is(total).await;
    for gw in [&w.a, &w.b] {
        let m = World::metrics(gw).await;
        assert!(
            (metric(&m, "routec_spend_today_usd") - total).abs() < 1e-9,
            "{m}"
        );
    }
    // The counter API itself, as a pacing controller would use it.
    w.sa.add_spend("pacing", 86_400, 1.25);
    w.sb.add_spend("pacing", 86_400, 0.5);
    let (sa, sb) = (w.sa.clone(), w.sb.clone());
    eventually("both replicas read 1.75", || {
        (sa.spend("pacing", 86_400) - 1.75).abs() < 1e-9
            && (sb.spend("pacing", 86_400) - 1.75).abs() < 1e-9
    })
    .await;
    assert_eq!(sa.spend("pacing", 0), 0.0);
}

/// Budget pacing counts both replicas' spend and requests: each pacer
/// reads the period's shared totals, so each paces the whole traffic.
#[tokio::test]
async fn the_pacing_spend_is_shared_by_both_replicas() {
    let Some(w) = World::start_with("pacing", PACED).await else {
        return;
    };
    for _ in 0..4 {
        assert_eq!(World::chat(&w.a, "paced").await.0, 200);
        assert_eq!(World::chat(&w.b, "paced").await.0, 200);
    }
    let total = w.total_cost();
    assert!(total > 0.0);
    let start = day_start(NOON as f64);
    let (sa, sb) = (w.sa.clone(), w.sb.clone());
    eventually("both replicas read the pacing totals", || {
        [&sa, &sb].iter().all(|s| {
            let spend = format!("{}:day", routec_gateway::pacing::SPEND_COUNTER);
            let requests = format!("{}:day", routec_gateway::pacing::REQUESTS_COUNTER);
            (s.spend(&spend, start) - total).abs() < 1e-9 && s.spend(&requests, start) == 8.0
        })
    })
    .await;
    for gw in [&w.a, &w.b] {
        let m = World::metrics(gw).await;
        assert!(
            (metric(&m, "routec_pacing_spend_usd") - total).abs() < 1e-9,
            "{m}"
        );
    }
}

#[tokio::test]
async fn replicas_serve_through_a_redis_outage_and_reconcile_after() {
    let Some(mut w) = World::start("outage").await else {
        return;
    };
    for gw in [&w.a, &w.b] {
        assert_eq!(World::chat(gw, "small").await.0, 200);
    }
    w.day_spend_is(w.total_cost()).await;
    let before = w.total_cost();

    w.redis.kill();
    let (sa, sb) = (w.sa.clone(), w.sb.clone());
    eventually("both replicas report the state unshared", || {
        !sa.shared() && !sb.shared()
    })
    .await;
    // Both keep serving, each counting on its own.
    for _ in 0..2 {
        assert_eq!(World::chat(&w.a, "small").await.0, 200);
    }
    assert_eq!(World::chat(&w.b, "big").await.0, 200);
    let day = day_start(NOON as f64);
    assert!((sa.spend(DAY_COUNTER, day) - (before + 0.002)).abs() < 1e-9);
    assert!((sb.spend(DAY_COUNTER, day) - (before + 0.01)).abs() < 1e-9);
    for gw in [&w.a, &w.b] {
        let m = World::metrics(gw).await;
        assert_eq!(metric(&m, "routec_state_shared"), 0.0, "{m}");
        assert!(metric(&m, "routec_state_errors_total") >= 1.0, "{m}");
    }

    // Redis comes back empty (no persistence): the replicas refill it
    // with the last total they saw and push what they counted meanwhile.
    w.redis.spawn().await;
    eventually("both replicas share state again", || {
        sa.shared() && sb.shared()
    })
    .await;
    let total = w.total_cost();
    assert!((total - (before + 0.012)).abs() < 1e-9);
    w.day_spend_is(total).await;
    for gw in [&w.a, &w.b] {
        let m = World::metrics(gw).await;
        assert_eq!(metric(&m, "routec_state_shared"), 1.0, "{m}");
    }
}

/// A Redis that is not there at start is no reason not to serve (and needs
/// no `redis-server`): the gateway serves on local state and says so.
#[tokio::test]
async fn an_unreachable_redis_at_start_leaves_the_gateway_serving() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let small = Fake::start().await;
    let big = Fake::start().await;
    let env = env(&[
        ("SMALL_URL", format!("{}/v1", small.url())),
        ("BIG_URL", format!("{}/v1", big.url())),
    ]);
    let state = RedisState::connect(&format!("redis://127.0.0.1:{port}"), "routec:t").unwrap();
    let gw = routec_gateway::start(
        TextLoader::new(POLICY),
        options(),
        env,
        state.clone() as Arc<dyn SharedState>,
        false,
    )
    .await
    .unwrap();
    for _ in 0..3 {
        assert_eq!(World::chat(&gw, "small").await, (200, "small".to_owned()));
    }
    let s = state.clone();
    eventually("a failed round is counted", || s.errors() >= 1).await;
    let m = World::metrics(&gw).await;
    assert_eq!(metric(&m, "routec_state_shared"), 0.0, "{m}");
    assert!(metric(&m, "routec_state_errors_total") >= 1.0, "{m}");
    assert!(
        (metric(&m, "routec_spend_today_usd") - 0.003).abs() < 1e-9,
        "{m}"
    );
    gw.stop().await.unwrap();
}

/// [`POLICY`] with a drift monitor instead of exploration: chat goes to
/// `small`, code to `big` (two leaves, assumed 50% each); an alert needs
/// 100 requests in the window.
fn drift_policy() -> String {
    POLICY.replace(
        "explore 50% budget $0.05 per day",
        "drift kl > 0.1 nats over 1h => alert",
    )
}

/// Scrapes `gw` until `ok` holds on its metrics (10 s at most); the last
/// scrape.
async fn scrape_until(gw: &Running, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = World::metrics(gw).await;
        if ok(&m) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `gw`'s drift window counts `n` requests; its metrics.
async fn window_is(gw: &Running, n: f64) -> String {
    scrape_until(gw, &format!("the drift window counts {n} requests"), |m| {
        metric(m, "routec_drift_window_requests") == n
    })
    .await
}

/// This replica's own drift window (what it would check alone).
fn own_window(gw: &Running) -> u64 {
    let loaded = gw.app.table.load();
    let m = loaded.drift.as_ref().unwrap().lock().unwrap();
    m.status(NOON as f64).requests
}

/// Traffic split across the replicas trips the shared window: each has 60
/// requests, under the 100 an alert needs, the pair has 120, all chat (the
/// table assumed half code). Each replica alerts once on the fleet's
/// window. Through an outage each replica checks the last shared counts
/// plus its own; when Redis returns (empty), the counts are refilled and
/// the outage's pushed, and both see the whole traffic again without a
/// second alert.
#[tokio::test]
async fn the_drift_window_counts_both_replicas_traffic() {
    let Some(mut w) = World::start_with("drift", &drift_policy()).await else {
        return;
    };
    for _ in 0..60 {
        assert_eq!(World::chat(&w.a, "shared").await, (200, "small".into()));
        assert_eq!(World::chat(&w.b, "shared").await, (200, "small".into()));
    }
    assert_eq!((own_window(&w.a), own_window(&w.b)), (60, 60));
    for gw in [&w.a, &w.b] {
        let m = window_is(gw, 120.0).await;
        assert!(metric(&m, "routec_drift_kl_nats") > 0.6, "{m}");
        assert_eq!(metric(&m, "routec_drift_alerts_total"), 1.0, "{m}");
    }
    // Once per crossing: checking again does not alert again.
    let m = World::metrics(&w.a).await;
    assert_eq!(metric(&m, "routec_drift_alerts_total"), 1.0, "{m}");

    w.redis.kill();
    let (sa, sb) = (w.sa.clone(), w.sb.clone());
    eventually("both replicas report the state unshared", || {
        !sa.shared() && !sb.shared()
    })
    .await;
    for _ in 0..20 {
        assert_eq!(World::chat(&w.a, "shared").await.0, 200);
    }
    // A counts its own requests on top of the last shared counts; B has
    // not heard of them.
    window_is(&w.a, 140.0).await;
    let m = window_is(&w.b, 120.0).await;
    assert_eq!(metric(&m, "routec_state_shared"), 0.0, "{m}");

    w.redis.spawn().await;
    eventually("both replicas share state again", || {
        sa.shared() && sb.shared()
    })
    .await;
    for gw in [&w.a, &w.b] {
        let m = window_is(gw, 140.0).await;
        assert_eq!(metric(&m, "routec_drift_alerts_total"), 1.0, "{m}");
    }
    assert_eq!((own_window(&w.a), own_window(&w.b)), (80, 60));
}

/// Posts feedback on `id` to `gw`: the status and the JSON answer.
async fn feedback(gw: &Running, id: &str) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("http://{}/v1/feedback", gw.addr))
        .json(&json!({"request_id": id, "success": true}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A chat request routed by the policy; its `x-request-id`.
async fn routed(gw: &Running) -> String {
    let r = client()
        .post(format!("http://{}/v1/chat/completions", gw.addr))
        .header("x-task", "code")
        .json(&json!({"model": "shared", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.headers()["x-request-id"].to_str().unwrap().to_owned()
}

/// Feedback sent to the replica that did not answer is accepted (at once:
/// the lookup waits for the answering replica's next round when it has not
/// pushed the request yet), counted there and written to its decision log;
/// the two logs, merged as docs/learn.md says (request lines, then
/// feedback lines), are labeled traffic. An id no replica recorded is 404.
#[tokio::test]
async fn feedback_is_taken_by_either_replica() {
    let Some(w) = World::start("feedback").await else {
        return;
    };
    let mut ids = Vec::new();
    for i in 0..6 {
        let (answering, judging) = if i % 2 == 0 {
            (&w.a, &w.b)
        } else {
            (&w.b, &w.a)
        };
        let id = routed(answering).await;
        let (status, answer) = feedback(judging, &id).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["request_id"], id.as_str());
        ids.push(id);
    }
    for gw in [&w.a, &w.b] {
        let m = World::metrics(gw).await;
        let judged = metric(&m, r#"routec_feedback_total{model="small",success="true"}"#)
            + metric(&m, r#"routec_feedback_total{model="big",success="true"}"#);
        assert_eq!(judged, 3.0, "{m}");
    }
    let (status, answer) = feedback(&w.b, "req-nobody-1").await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["code"], "request_not_found");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the other replicas recorded in the last 3600 s"),
        "{message}"
    );

    let mut merged = String::new();
    let mut logs = Vec::new();
    for gw in [&w.a, &w.b] {
        gw.app.declog.as_ref().unwrap().sync();
        let path = gw.app.options.decision_log.clone().unwrap();
        logs.push(std::fs::read_to_string(path).unwrap());
    }
    for feedback_lines in [false, true] {
        for log in &logs {
            for line in log.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                if v.get("feedback").is_some() == feedback_lines {
                    merged.push_str(line);
                    merged.push('\n');
                }
            }
        }
    }
    // Each replica's log has the feedback on the other's requests.
    for (log, judged) in logs.iter().zip([[1, 3, 5], [0, 2, 4]]) {
        for i in judged {
            let line = format!(r#"{{"id":"{}","feedback":"#, ids[i]);
            assert!(log.contains(&line), "{log}");
        }
    }
    let (records, errors) = routec_traffic::parse_all(&merged);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(records.len(), 6);
    for r in &records {
        assert!(ids.contains(r.id.as_ref().unwrap()));
        assert_eq!(r.outcomes.len(), 1, "{r:?}");
    }
}

/// Chat goes to `small`, whose fake answers 503 in this test; `small` and
/// `big` are declared slow enough that a loopback fake is within them. An
/// `errors` alert needs max(100, 25 e (1 − e) / 2%²) = 311 attempts (`e`
/// 0.5%).
const HEALTH_POLICY: &str = r#"
policy sharedhealth {
  owner "tests"
  baseline big
}

signal task: enum { chat, code } from header "x-task" default chat

model small {
  provider openai
  endpoint env("SMALL_URL")
  upstream "gpt-4o-mini"
  price input $1/Mtok, output $2/Mtok
  latency ttft p50 300ms p95 2s, decode 1000 tok/s
  quality 80%
}

model big {
  provider openai
  endpoint env("BIG_URL")
  upstream "gpt-4o"
  price input $1/Mtok, output $2/Mtok
  latency ttft p50 300ms p95 2s, decode 1000 tok/s
  quality 90%
}

route {
  when task == code => big
  otherwise => small
}

learn {
  drift ttft > 50% over 1h => alert
  drift errors > 2% over 1h => alert
}
"#;

/// This replica's own attempts on `model` in its `errors` window.
fn own_attempts(gw: &Running, model: &str) -> u64 {
    let loaded = gw.app.table.load();
    let m = loaded.health.as_ref().unwrap().lock().unwrap();
    m.status(NOON as f64)
        .iter()
        .find(|s| s.name == model && s.measure.word() == "errors")
        .unwrap()
        .count
}

fn errors_series(name: &str) -> String {
    format!("{name}{{model=\"small\",measure=\"errors\"}}")
}

/// A failing model's attempts split across the replicas trip the fleet's
/// per-model window: each replica makes 160, under the 311 an `errors`
/// alert needs, the pair 320. Each replica's gauges show the fleet's
/// attempts and each alerts once. Through an outage a replica checks the
/// last shared counts plus its own attempts since.
#[tokio::test]
async fn the_per_model_windows_count_both_replicas_attempts() {
    let Some(mut w) = World::start_with("health", HEALTH_POLICY).await else {
        return;
    };
    w.small.always(Act::Status(503, None));
    for _ in 0..160 {
        assert_eq!(World::chat(&w.a, "sharedhealth").await.0, 502);
        assert_eq!(World::chat(&w.b, "sharedhealth").await.0, 502);
    }
    assert_eq!(w.small.count(), 320);
    assert_eq!(
        (own_attempts(&w.a, "small"), own_attempts(&w.b, "small")),
        (160, 160)
    );
    for gw in [&w.a, &w.b] {
        let m = scrape_until(gw, "the errors window counts 320 attempts", |m| {
            metric(m, &errors_series("routec_drift_attempts")) == 320.0
        })
        .await;
        assert_eq!(
            metric(&m, "routec_drift_error_rate{model=\"small\"}"),
            1.0,
            "{m}"
        );
        assert_eq!(
            metric(&m, &errors_series("routec_drift_model_alerts_total")),
            1.0,
            "{m}"
        );
        // A failed attempt has no first token: nothing timed.
        assert_eq!(
            metric(
                &m,
                "routec_drift_attempts{model=\"small\",measure=\"ttft\"}"
            ),
            0.0,
            "{m}"
        );
    }
    // Once per crossing: checking again does not alert again.
    let m = World::metrics(&w.a).await;
    assert_eq!(
        metric(&m, &errors_series("routec_drift_model_alerts_total")),
        1.0,
        "{m}"
    );

    w.redis.kill();
    let (sa, sb) = (w.sa.clone(), w.sb.clone());
    eventually("both replicas report the state unshared", || {
        !sa.shared() && !sb.shared()
    })
    .await;
    for _ in 0..20 {
        assert_eq!(World::chat(&w.a, "sharedhealth").await.0, 502);
    }
    // A counts its own attempts on top of the last shared counts; B has
    // not heard of them.
    scrape_until(&w.a, "A's errors window counts 340 attempts", |m| {
        metric(m, &errors_series("routec_drift_attempts")) == 340.0
    })
    .await;
    scrape_until(&w.b, "B's errors window still counts 320 attempts", |m| {
        metric(m, &errors_series("routec_drift_attempts")) == 320.0
    })
    .await;

    w.redis.spawn().await;
    eventually("both replicas share state again", || {
        sa.shared() && sb.shared()
    })
    .await;
    for gw in [&w.a, &w.b] {
        let m = scrape_until(gw, "the errors window counts 340 attempts", |m| {
            metric(m, &errors_series("routec_drift_attempts")) == 340.0
        })
        .await;
        assert_eq!(
            metric(&m, &errors_series("routec_drift_model_alerts_total")),
            1.0,
            "{m}"
        );
    }
    assert_eq!(
        (own_attempts(&w.a, "small"), own_attempts(&w.b, "small")),
        (180, 160)
    );
}
