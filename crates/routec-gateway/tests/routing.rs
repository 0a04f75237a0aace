//! How requests are routed: signals read from headers, metadata and the
//! body, `prompt_tokens` counted (OpenAI's tokenizer or the estimate) and
//! classifiers called only when the request's path through the diagram
//! tests them (with a timeout; on failure the default applies and is
//! recorded), sticky and keyless splits, and per-slice accounting.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::collections::HashMap;

use common::{Act, Fake, TextLoader, chat, client, env, gateway, metric, options};
use routec_gateway::signals;
use serde_json::{Value as J, json};

/// Two OpenAI-shaped models and a classifier, all served by one fake
/// (`/v1/chat/completions` and `/classify`); BASELINE counts tokens.
fn policy(baseline: &str, route: &str) -> String {
    format!(
        r#"
policy gw {{
  owner "tests"
  baseline {baseline}
}}

signal tier: enum {{ free, gold }} from metadata "tier" default free
signal difficulty: ratio from classifier "difficulty-v1" cost 5ms endpoint env("CLS_URL") timeout 300ms default 50%

slice gold = tier == gold
slice free = tier == free

model small {{
  provider openai
  endpoint env("SMALL_URL")
  upstream "gpt-4o-mini"
  price input $1/Mtok, output $2/Mtok
  quality 80%
}}

model big {{
  provider openai
  endpoint env("BIG_URL")
  upstream "llama-3-70b"
  quality 90%
}}

route {{
  {route}
}}
"#
    )
}

struct World {
    small: Fake,
    big: Fake,
    cls: Fake,
    gw: routec_gateway::Running,
    log: std::path::PathBuf,
}

async fn world(name: &str, baseline: &str, route: &str) -> World {
    let (small, big, cls) = (
        Fake::start().await,
        Fake::start().await,
        Fake::start().await,
    );
    let log = std::env::temp_dir().join(format!(
        "routec-gw-routing-{name}-{}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&log);
    let mut opts = options();
    opts.decision_log = Some(log.clone());
    let env = env(&[
        ("SMALL_URL", small.url()),
        ("BIG_URL", big.url()),
        ("CLS_URL", format!("{}/classify", cls.url())),
    ]);
    let gw = gateway(TextLoader::new(&policy(baseline, route)), env, opts).await;
    World {
        small,
        big,
        cls,
        gw,
        log,
    }
}

impl World {
    async fn post(&self, body: &J, key: Option<&str>) -> (u16, String) {
        let mut r = client()
            .post(format!("http://{}/v1/chat/completions", self.gw.addr))
            .json(body);
        if let Some(k) = key {
            r = r.header("x-routec-key", k);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let model = r
            .headers()
            .get("x-routec-model")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let _ = r.text().await;
        (status, model)
    }

    async fn metrics(&self) -> String {
        common::scrape(self.gw.addr, None).await
    }

    async fn finish(self) -> Vec<J> {
        self.gw.stop().await.unwrap();
        let text = std::fs::read_to_string(&self.log).unwrap();
        let _ = std::fs::remove_file(&self.log);
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn with_tools(mut body: J) -> J {
    body["tools"] =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    body
}

#[tokio::test]
async fn classifiers_are_called_only_on_the_path_with_a_timeout() {
    let w = world(
        "classifier",
        "small",
        "when has_tools => small\n  when difficulty > 70% => big\n  otherwise => small",
    )
    .await;
    let mut body = chat("gw");
    body["metadata"] = json!({"tier": "gold", "user_note": "kept"});
    // A request the table routes on `has_tools` alone calls no classifier.
    assert_eq!(
        w.post(&with_tools(body.clone()), None).await,
        (200, "small".into())
    );
    assert_eq!(w.cls.count(), 0);
    // The classifier answers in the language's syntax.
    w.cls.class_value(json!("90%"));
    assert_eq!(w.post(&body, None).await, (200, "big".into()));
    w.cls.class_value(json!(0.1));
    assert_eq!(w.post(&body, None).await, (200, "small".into()));
    let seen = w.cls.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body["signal"], "difficulty");
    assert_eq!(seen[0].body["classifier"], "difficulty-v1");
    assert_eq!(seen[0].body["messages"], body["messages"]);
    assert_eq!(seen[0].body["metadata"]["tier"], "gold");
    // Too slow, failing, or an answer that does not fit: the default (50%,
    // so `small`), recorded.
    w.cls.class_value(json!("90%"));
    w.cls.then([
        Act::slow_first_token(3000),
        Act::Status(500, None),
        Act::Malformed,
    ]);
    for _ in 0..3 {
        assert_eq!(w.post(&body, None).await, (200, "small".into()));
    }
    w.cls.class_value(json!("purple"));
    assert_eq!(w.post(&body, None).await, (200, "small".into()));
    assert_eq!(w.cls.count(), 6);
    let m = w.metrics().await;
    for (outcome, n) in [
        ("ok", 2.0),
        ("timeout", 1.0),
        ("error", 2.0),
        ("invalid", 1.0),
    ] {
        assert_eq!(
            metric(
                &m,
                &format!(
                    r#"routec_classifier_calls_total{{signal="difficulty",outcome="{outcome}"}}"#
                )
            ),
            n,
            "{outcome}\n{m}"
        );
    }
    assert_eq!(
        metric(&m, r#"routec_defaulted_signals_total{signal="difficulty"}"#),
        4.0
    );
    // The metadata never reaches the model; the classifier saw it.
    assert!(w.small.seen()[0].body.get("metadata").is_none());
    let lines = w.finish().await;
    assert_eq!(lines.len(), 7);
    let defaulted: Vec<bool> = lines
        .iter()
        .map(|l| {
            l["decision"]["defaulted"]
                .as_array()
                .unwrap()
                .contains(&json!("difficulty"))
        })
        .collect();
    assert_eq!(defaulted, [false, false, false, true, true, true, true]);
    // The values read are recorded as recorded traffic writes them.
    assert_eq!(lines[1]["signals"]["difficulty"], 0.9);
    assert_eq!(lines[1]["signals"]["tier"], "gold");
    assert!(lines[0]["signals"].get("difficulty").is_none());
    assert!(lines[3]["signals"].get("difficulty").is_none());
}

/// `prompt_tokens` is counted only when the path tests it: with OpenAI's
/// tokenizer when the counting model is OpenAI-family, else estimated.
#[tokio::test]
async fn prompt_tokens_are_counted_lazily_with_the_right_tokenizer() {
    let route = "when has_tools => small\n  when prompt_tokens > 100k => big\n  otherwise => small";
    let content = "The quick brown fox jumps over the lazy dog, again and again. ".repeat(40);
    let body = json!({"model": "gw", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": content},
    ]});
    let map = body.as_object().unwrap().clone();
    let counted = signals::count_tokens(&map) as u64;
    let estimated = signals::estimate_tokens(&map) as u64;
    assert_ne!(counted, estimated);
    for (baseline, expected) in [("small", counted), ("big", estimated)] {
        let w = world(&format!("tokens-{baseline}"), baseline, route).await;
        w.post(&with_tools(body.clone()), None).await;
        w.post(&body, None).await;
        let lines = w.finish().await;
        // Routed on `has_tools` alone: not counted; the upstream's usage
        // (10 tokens, from the fake) is what the log records.
        assert_eq!(lines[0]["signals"]["prompt_tokens"], 10, "{baseline}");
        // Routed through the `prompt_tokens` test: counted.
        assert_eq!(lines[1]["signals"]["prompt_tokens"], expected, "{baseline}");
    }
}

/// A split is sticky by the key (the `x-routec-key` header, else the body's
/// `user`); keyless requests still split by the compiled shares.
#[tokio::test]
async fn sticky_and_keyless_splits() {
    let w = world(
        "splits",
        "small",
        "otherwise => split { small 70%, big 30% }",
    )
    .await;
    // The same key always takes the same side.
    let (_, first) = w.post(&chat("gw"), Some("alice")).await;
    for _ in 0..10 {
        assert_eq!(w.post(&chat("gw"), Some("alice")).await.1, first);
    }
    // The body's `user` is the key when no header carries one.
    let mut by_user = chat("gw");
    by_user["user"] = json!("bob");
    let (_, bob) = w.post(&chat("gw"), Some("bob")).await;
    for _ in 0..5 {
        assert_eq!(w.post(&by_user, None).await.1, bob);
    }
    // Many keys split by the shares: four standard errors of a proportion.
    let keys = 400;
    let mut got: HashMap<String, usize> = HashMap::new();
    for i in 0..keys {
        let (status, model) = w.post(&chat("gw"), Some(&format!("user-{i}"))).await;
        assert_eq!(status, 200);
        *got.entry(model).or_default() += 1;
    }
    let share = got.get("small").copied().unwrap_or(0) as f64 / f64::from(keys);
    let band = 4.0 * (0.7 * 0.3 / f64::from(keys)).sqrt();
    assert!((share - 0.7).abs() <= band, "{got:?}");
    // Keyless requests take the runtime's low-discrepancy sequence: 100 of
    // them split 70/30 within a request or two.
    let mut keyless: HashMap<String, usize> = HashMap::new();
    for _ in 0..100 {
        *keyless
            .entry(w.post(&chat("gw"), None).await.1)
            .or_default() += 1;
    }
    let small = keyless.get("small").copied().unwrap_or(0);
    assert!((68..=72).contains(&small), "{keyless:?}");
    assert_eq!(w.small.count() + w.big.count(), 11 + 6 + 400 + 100);
    w.finish().await;
}

/// Every request is counted in the slices it belongs to (tokens and cost
/// too), named models included, and the decision log names them.
#[tokio::test]
async fn requests_are_accounted_per_slice() {
    let w = world("slices", "small", "otherwise => small").await;
    let mut gold = chat("gw");
    gold["metadata"] = json!({"tier": "gold"});
    let mut gold_direct = chat("small");
    gold_direct["metadata"] = json!({"tier": "gold"});
    for body in [&gold, &gold, &gold_direct, &chat("gw")] {
        assert_eq!(w.post(body, None).await, (200, "small".into()));
    }
    // A failed request counts too (no tokens, its input's cost).
    w.small.then([Act::Status(400, None)]);
    assert_eq!(w.post(&gold, None).await.0, 502);
    let m = w.metrics().await;
    let get = |name: &str| metric(&m, name);
    assert_eq!(
        get(r#"routec_slice_requests_total{slice="gold",outcome="ok"}"#),
        3.0
    );
    assert_eq!(
        get(r#"routec_slice_requests_total{slice="gold",outcome="failed"}"#),
        1.0
    );
    // No metadata: the default, `free`.
    assert_eq!(
        get(r#"routec_slice_requests_total{slice="free",outcome="ok"}"#),
        1.0
    );
    // The fake bills 10 input and 4 output tokens per answer.
    assert_eq!(
        get(r#"routec_slice_tokens_total{slice="gold",kind="input"}"#),
        30.0
    );
    assert_eq!(
        get(r#"routec_slice_tokens_total{slice="gold",kind="output"}"#),
        12.0
    );
    assert_eq!(
        get(r#"routec_slice_tokens_total{slice="free",kind="output"}"#),
        4.0
    );
    // $1/Mtok in, $2/Mtok out; the failed attempt pays its estimated input.
    let failed_input = routec_gateway::signals::estimate_tokens(gold.as_object().unwrap()) as f64;
    let expected = 3.0 * (10.0e-6 + 4.0 * 2.0e-6) + failed_input * 1e-6;
    let cost = get(r#"routec_slice_cost_usd_total{slice="gold"}"#);
    assert!((cost - expected).abs() < 1e-12, "{cost} != {expected}\n{m}");
    let lines = w.finish().await;
    let slices: Vec<J> = lines
        .iter()
        .map(|l| l["decision"]["slices"].clone())
        .collect();
    assert_eq!(
        slices,
        [
            json!(["gold"]),
            json!(["gold"]),
            json!(["gold"]),
            json!(["free"]),
            json!(["gold"])
        ]
    );
    // The named model's request carries the signals it was read with.
    assert_eq!(lines[2]["signals"]["tier"], "gold");
    assert_eq!(lines[2]["decision"]["rule"], J::Null);
}
