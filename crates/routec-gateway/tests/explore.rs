//! Exploration through the real gateway against fake upstreams
//! (`learn { explore ... }`, docs/learn.md): the explored share, the
//! budget per period (a test clock moves to the next day), the propensity
//! and `explored` of every decision-log line, the explore metrics, and the
//! off-policy estimates (`routec_driver::offpolicy`) on the log written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Fake, TempDir, TextLoader, client, env, gateway, metric, options};
use serde_json::{Value as J, json};

/// `optimize [small, big] by task`: the LP sends chat to `small` and splits
/// code between both (the quality floor binds), so the chat leaf has one
/// candidate (`big`) and the code leaf none.
const POLICY: &str = r#"
policy explore {
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
}

route {
  otherwise => optimize [small, big] by task
}

traffic mix {
  task { chat 50%, code 50% }
}
"#;

fn temp_dir(name: &str) -> TempDir {
    common::temp_dir("explore", name)
}

/// 2026-12-06 12:00 UTC.
const NOON: u64 = 1_796_558_400;

struct World {
    loader: Arc<TextLoader>,
    _small: Fake,
    big: Fake,
    gw: routec_gateway::Running,
    dir: TempDir,
    clock: Arc<AtomicU64>,
}

impl World {
    async fn start(name: &str, learn: &str) -> World {
        World::start_seeded(name, learn, None).await
    }

    /// [`World::start`] with exploration's draws seeded.
    async fn start_seeded(name: &str, learn: &str, seed: Option<u64>) -> World {
        let small = Fake::start().await;
        let big = Fake::start().await;
        let dir = temp_dir(name);
        let clock = Arc::new(AtomicU64::new(NOON));
        let mut opts = options();
        opts.decision_log = Some(dir.0.join("decisions.jsonl"));
        let c = clock.clone();
        opts.clock = routec_gateway::Clock::new(move || c.load(Ordering::Relaxed) as f64);
        opts.explore_seed = seed;
        let env = env(&[
            ("SMALL_URL", format!("{}/v1", small.url())),
            ("BIG_URL", format!("{}/v1", big.url())),
        ]);
        let policy = format!("{POLICY}\nlearn {{\n  {learn}\n}}\n");
        let loader = TextLoader::new(&policy);
        let gw = gateway(loader.clone(), env, opts).await;
        World {
            loader,
            _small: small,
            big,
            gw,
            dir,
            clock,
        }
    }

    async fn chat(&self, task: &str) -> String {
        self.chat_served(task).await.0
    }

    /// A routed request: its id and the model that answered.
    async fn chat_served(&self, task: &str) -> (String, String) {
        let r = client()
            .post(format!("http://{}/v1/chat/completions", self.gw.addr))
            .header("x-task", task)
            .json(&json!({"model": "explore", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let header = |name: &str| r.headers()[name].to_str().unwrap().to_owned();
        (header("x-request-id"), header("x-routec-model"))
    }

    async fn metrics(&self) -> String {
        common::scrape(self.gw.addr, None).await
    }

    /// Stops the gateway; the decision-log lines, each checked against the
    /// schema.
    async fn stop(self) -> (Vec<J>, Fake) {
        let (lines, big, _) = self.stop_with_log().await;
        (lines, big)
    }

    /// [`World::stop`], with the decision log's text.
    async fn stop_with_log(self) -> (Vec<J>, Fake, String) {
        let dir = self.dir.0.clone();
        self.gw.stop().await.unwrap();
        let text = std::fs::read_to_string(dir.join("decisions.jsonl")).unwrap();
        let schema: J = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../docs/traffic.schema.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let lines: Vec<J> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for v in &lines {
            let errors: Vec<String> = validator.iter_errors(v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{v}: {errors:?}");
        }
        drop(self.dir);
        (lines, self.big, text)
    }
}

/// `explore 20%` without a budget: about a fifth of chat requests go to
/// `big` with propensity 0.2, the rest to `small` with 0.8; code requests
/// (no candidate in their leaf) carry their split share and are never
/// explored; a request naming a model has no propensity.
#[tokio::test]
async fn a_share_of_routed_requests_is_explored_with_its_propensity() {
    let w = World::start("share", "explore 20%").await;
    for _ in 0..400 {
        w.chat("chat").await;
    }
    for _ in 0..50 {
        w.chat("code").await;
    }
    let r = client()
        .post(format!("http://{}/v1/chat/completions", w.gw.addr))
        .json(&json!({"model": "small", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let m = w.metrics().await;
    let (lines, _big) = w.stop().await;
    assert_eq!(lines.len(), 451);
    let table_shares: Vec<f64> = {
        let t = common::compile(POLICY).unwrap();
        t.leaves[1].splits.iter().map(|s| s.share).collect()
    };
    let mut explored = 0;
    for l in &lines {
        let d = &l["decision"];
        let task = l["signals"]["task"].as_str();
        match (d["requested"].as_str().unwrap(), task) {
            ("small", _) => {
                assert!(d["propensity"].is_null(), "{l}");
                assert_eq!(d["explored"], false);
            }
            (_, Some("code")) => {
                assert_eq!(d["explored"], false, "{l}");
                let p = d["propensity"].as_f64().unwrap();
                assert!(
                    table_shares.iter().any(|s| (s - p).abs() < 1e-12),
                    "{p} not a split share of {table_shares:?}"
                );
            }
            _ => {
                let p = d["propensity"].as_f64().unwrap();
                if d["explored"] == true {
                    explored += 1;
                    assert_eq!(d["plan"], "big");
                    assert_eq!(d["model"], "big");
                    assert!((p - 0.2).abs() < 1e-12, "{l}");
                } else {
                    assert_eq!(d["plan"], "small");
                    assert!((p - 0.8).abs() < 1e-12, "{l}");
                }
            }
        }
    }
    // Binomial(400, 0.2): 80 ± 8; five standard deviations either way.
    assert!((40..=120).contains(&explored), "{explored}");
    assert_eq!(
        metric(&m, r#"routec_explored_total{rule="1"}"#),
        f64::from(explored)
    );
    let cost = metric(&m, "routec_explore_cost_usd_total");
    assert!((cost - 0.01 * f64::from(explored)).abs() < 1e-9, "{cost}");
}

/// `explore 50% budget $0.05 per day` with `big` at $0.01 a request:
/// exploration stops once the day's explored spend reaches the budget
/// (the request that crosses it may overshoot by its own cost), routed
/// requests then carry their plain split share, and the next day (the
/// test clock moves) starts a new budget. A reloaded table takes over the
/// day's spend.
#[tokio::test]
async fn exploration_stops_when_the_periods_budget_is_spent() {
    let w = World::start("budget", "explore 50% budget $0.05 per day").await;
    let m = w.metrics().await;
    assert!((metric(&m, "routec_explore_budget_remaining_usd") - 0.05).abs() < 1e-12);
    for _ in 0..60 {
        w.chat("chat").await;
    }
    let m = w.metrics().await;
    let day1 = metric(&m, r#"routec_explored_total{rule="1"}"#);
    let spent = metric(&m, "routec_explore_cost_usd_total");
    assert!((5.0..=6.0).contains(&day1), "{day1}");
    assert!((0.05 - 1e-9..=0.06 + 1e-9).contains(&spent), "{spent}");
    assert!(metric(&m, "routec_explore_budget_remaining_usd") < 1e-9);
    // The next day.
    w.clock.fetch_add(86_400, Ordering::Relaxed);
    let m = w.metrics().await;
    assert!((metric(&m, "routec_explore_budget_remaining_usd") - 0.05).abs() < 1e-12);
    for _ in 0..60 {
        w.chat("chat").await;
    }
    let m = w.metrics().await;
    let both = metric(&m, r#"routec_explored_total{rule="1"}"#);
    assert!((10.0..=12.0).contains(&both), "{both}");
    // A new table (another share, another hash) in the same day: the day's
    // budget stays spent.
    w.loader.set(&format!(
        "{POLICY}\nlearn {{\n  explore 60% budget $0.05 per day\n}}\n"
    ));
    w.gw.app.reload("test").await.unwrap();
    for _ in 0..30 {
        w.chat("chat").await;
    }
    let m = w.metrics().await;
    assert_eq!(metric(&m, r#"routec_explored_total{rule="1"}"#), both);
    assert!(metric(&m, "routec_explore_budget_remaining_usd") < 1e-9);
    let (lines, big) = w.stop().await;
    assert_eq!(lines.len(), 150);
    for l in &lines[120..] {
        assert_eq!(l["decision"]["explored"], false, "{l}");
        assert_eq!(l["decision"]["propensity"], 1.0, "{l}");
    }
    let lines = &lines[..120];
    assert_eq!(big.count() as f64, both, "only explored requests reach big");
    // Per day: explored lines first while the budget lasts (0.5 / 0.5),
    // then only the table's plan with propensity 1.
    for day in lines.chunks(60) {
        let spent_at = day
            .iter()
            .rposition(|l| l["decision"]["explored"] == true)
            .unwrap();
        let mut spend = 0.0;
        for (i, l) in day.iter().enumerate() {
            let d = &l["decision"];
            let p = d["propensity"].as_f64().unwrap();
            if i <= spent_at {
                assert!((p - 0.5).abs() < 1e-12, "{l}");
                assert!(spend < 0.05 - 1e-12, "explored after the budget was spent");
                if d["explored"] == true {
                    spend += d["cost_usd"].as_f64().unwrap();
                }
            } else {
                assert_eq!(d["explored"], false);
                assert!((p - 1.0).abs() < 1e-12, "{l}");
            }
        }
        assert!(spend >= 0.05 - 1e-9, "{spend}");
    }
}

/// One feedback report for a request.
async fn feedback(w: &World, id: &str, success: bool) {
    let r = client()
        .post(format!("http://{}/v1/feedback", w.gw.addr))
        .json(&json!({"request_id": id, "success": success}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
}

/// Off-policy estimates on a log the gateway wrote while exploring: 600
/// chat requests (`small` by the table, `big` explored 30% of the time),
/// each answered `success` with a probability set by the model that
/// answered (`small` 0.6, `big` 0.95; a fixed-seed generator stands in for
/// the users, and exploration's draws are seeded, so the run repeats
/// exactly: a 95% interval is not a test that passes every time). The table itself is estimated at `small`'s rate (its SNIPS
/// is exactly the mean of the requests it chose: the consistency check),
/// and a candidate that sends chat to `big` at `big`'s rate and cost; each
/// 95% interval contains the true figure.
#[tokio::test]
async fn off_policy_estimates_on_the_gateways_log_find_each_policys_rate() {
    const RATE: [(&str, f64); 2] = [("small", 0.6), ("big", 0.95)];
    let w = World::start_seeded("offpolicy", "explore 30%", Some(7)).await;
    let mut state = 0x5eed_u64;
    let mut uniform = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut table_outcomes = Vec::new();
    for _ in 0..600 {
        let (id, model) = w.chat_served("chat").await;
        let rate = RATE.iter().find(|(m, _)| *m == model).unwrap().1;
        let success = uniform() < rate;
        if model == "small" {
            table_outcomes.push(f64::from(u8::from(success)));
        }
        feedback(&w, &id, success).await;
    }
    let (_, _big, log) = w.stop_with_log().await;

    let estimate = |policy: &str| {
        let router = routec_runtime::Router::new(common::compile(policy).unwrap()).unwrap();
        routec_driver::offpolicy::off_policy(&router, "decisions.jsonl", &log).unwrap()
    };
    let contains = |e: &routec_driver::offpolicy::Estimated, truth: f64, what: &str| {
        for (name, i) in [("ips", e.ips), ("snips", e.snips), ("dr", e.dr)] {
            assert!(
                i.low - 1e-12 <= truth && truth <= i.high + 1e-12,
                "{what} {name}: {i:?} does not contain {truth}"
            );
        }
    };

    let table = estimate(POLICY);
    assert_eq!(table.routed, 600);
    let success = table.success.unwrap();
    assert_eq!(success.requests, 600);
    assert_eq!(success.matched, table_outcomes.len());
    assert_eq!(table.explored, 600 - table_outcomes.len());
    let on_policy = table_outcomes.iter().sum::<f64>() / table_outcomes.len() as f64;
    assert!((success.snips.value - on_policy).abs() < 1e-12);
    contains(&success, 0.6, "the table's success");
    contains(&table.cost.unwrap(), 0.001, "the table's cost");

    let all_big = POLICY.replace(
        "otherwise => optimize [small, big] by task",
        "otherwise => big",
    );
    let big = estimate(&all_big);
    let success = big.success.unwrap();
    assert_eq!(success.matched, 600 - table_outcomes.len());
    contains(&success, 0.95, "big's success");
    let cost = big.cost.unwrap();
    assert!((cost.snips.value - 0.01).abs() < 1e-12, "{cost:?}");
    contains(&cost, 0.01, "big's cost");
}
