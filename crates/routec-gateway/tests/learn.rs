//! Closing the loop: `POST /v1/feedback` labels the decision log, the
//! labeled log is recorded traffic whose outcomes re-fit the compiled
//! quality (`routec compile`) and are replayed (`routec simulate`); bad
//! feedback gets OpenAI-shaped errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use common::{Act, Fake, TempDir, TextLoader, client, env, gateway, metric, options};
use serde_json::{Value as J, json};

const POLICY: &str = r#"
policy loop {
  owner "tests"
  baseline big
}

signal task: enum { chat, code } from header "x-task" default chat

model small {
  provider openai
  endpoint env("SMALL_URL")
  upstream "gpt-4o-mini"
  price input $1/Mtok, output $2/Mtok
  latency ttft p50 100ms p95 300ms, decode 100 tok/s
  quality 80%
}

model big {
  provider openai
  endpoint env("BIG_URL")
  upstream "gpt-4o"
  price input $3/Mtok, output $15/Mtok
  latency ttft p50 300ms p95 1s, decode 50 tok/s
  quality 90%
}

route {
  when task == code => small
  otherwise => big
}
"#;

fn temp_dir(name: &str) -> TempDir {
    common::temp_dir("learn", name)
}

struct World {
    small: Fake,
    gw: routec_gateway::Running,
    dir: TempDir,
}

impl World {
    async fn start(name: &str) -> World {
        let small = Fake::start().await;
        let big = Fake::start().await;
        let dir = temp_dir(name);
        let mut opts = options();
        opts.decision_log = Some(dir.0.join("decisions.jsonl"));
        opts.api_key = Some("gw-key".into());
        let env = env(&[
            ("SMALL_URL", format!("{}/v1", small.url())),
            ("BIG_URL", format!("{}/v1", big.url())),
        ]);
        let gw = gateway(TextLoader::new(POLICY), env, opts).await;
        World { small, gw, dir }
    }

    /// A chat request with `x-task: task`; its status and `x-request-id`.
    async fn chat(&self, task: &str) -> (u16, String) {
        let r = client()
            .post(format!("http://{}/v1/chat/completions", self.gw.addr))
            .header("authorization", "Bearer gw-key")
            .header("x-task", task)
            .json(&json!({"model": "loop", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        (r.status().as_u16(), id)
    }

    /// Posts a feedback body (raw text); its status and JSON answer.
    async fn feedback(&self, body: &str, key: Option<&str>) -> (u16, J) {
        let mut r = client()
            .post(format!("http://{}/v1/feedback", self.gw.addr))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(k) = key {
            r = r.header("authorization", format!("Bearer {k}"));
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    async fn metrics(&self) -> String {
        common::scrape(self.gw.addr, Some("gw-key")).await
    }
}

/// 40 `code` requests (routed to `small`) judged bad 3 times in 4, 40
/// `chat` requests (routed to `big`) all judged good: the log carries the
/// feedback, and compiling the policy on that log moves `small`'s quality
/// on code down from its declared 80% and `big`'s on chat up from 90%;
/// simulating it replays exactly the reported outcomes.
#[tokio::test]
async fn feedback_labels_the_log_and_refits_the_compiled_quality() {
    let w = World::start("refit").await;
    let mut code_ids = Vec::new();
    let mut chat_ids = Vec::new();
    for _ in 0..40 {
        let (status, id) = w.chat("code").await;
        assert_eq!(status, 200);
        code_ids.push(id);
        let (status, id) = w.chat("chat").await;
        assert_eq!(status, 200);
        chat_ids.push(id);
    }
    for (i, id) in code_ids.iter().enumerate() {
        // `success`, `score`, or both; the true cost on some.
        let body = match i % 4 {
            0 => json!({"request_id": id, "success": true}),
            1 => json!({"request_id": id, "score": 0.2}),
            2 => json!({"request_id": id, "success": false, "score": 0.4, "cost_usd": 0.5}),
            _ => json!({"request_id": id, "success": false}),
        };
        let (status, answer) = w.feedback(&body.to_string(), Some("gw-key")).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["model"], "small");
        assert_eq!(answer["request_id"], *id);
    }
    for id in &chat_ids {
        let body = json!({"request_id": id, "score": 1.0});
        assert_eq!(w.feedback(&body.to_string(), Some("gw-key")).await.0, 202);
    }
    let m = w.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"routec_feedback_total{model="small",success="false"}"#
        ),
        30.0
    );
    assert_eq!(
        metric(&m, r#"routec_feedback_total{model="small",success="true"}"#),
        10.0
    );
    assert_eq!(
        metric(&m, r#"routec_feedback_total{model="big",success="true"}"#),
        40.0
    );
    let dir = w.dir.0.clone();
    w.gw.stop().await.unwrap();

    let text = std::fs::read_to_string(dir.join("decisions.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 160, "80 requests, 80 feedback lines");
    // Every line is one of the schema's.
    let schema: J = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/traffic.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for line in text.lines() {
        let v: J = serde_json::from_str(line).unwrap();
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{line}: {errors:?}");
    }
    // The reader joins each feedback line onto its request, as an outcome
    // of the answering model with its call's figures.
    let records = routec_traffic::parse(&text).unwrap();
    assert_eq!(records.len(), 80);
    let third = records
        .iter()
        .find(|r| r.id.as_deref() == Some(code_ids[2].as_str()))
        .unwrap();
    assert_eq!(third.outcomes.len(), 1);
    let o = &third.outcomes[0];
    assert_eq!(o.model, "small");
    assert_eq!(
        (o.outcome.success, o.outcome.score, o.outcome.cost_usd),
        (Some(false), Some(0.4), Some(0.5))
    );
    assert!(o.outcome.latency_ms.is_some() && o.outcome.output_tokens.is_some());
    let first = records
        .iter()
        .find(|r| r.id.as_deref() == Some(code_ids[0].as_str()))
        .unwrap();
    // Without a reported cost, the answering call's cost is recorded.
    assert!(first.outcomes[0].outcome.cost_usd.unwrap() > 0.0);

    // `routec compile` on the log: the outcomes re-fit the cells' quality.
    let policy_file = dir.join("learn.route");
    std::fs::write(
        &policy_file,
        format!("{POLICY}\ntraffic prod = file \"decisions.jsonl\"\n"),
    )
    .unwrap();
    let compiled = routec_driver::compile_source(
        routec_driver::Source::file(&policy_file).unwrap(),
        Some("prod"),
    )
    .unwrap();
    let recorded = compiled.compiled.recorded.as_ref().unwrap();
    assert_eq!((recorded.requests, recorded.labeled), (80, 80));
    let cells = compiled.compiled.cells();
    // Rule 0 is `when task == code`, rule 1 `otherwise` (chat).
    let quality = |rule: usize, model: &str| {
        let m = compiled.policy.model_by_name(model).unwrap();
        recorded
            .quality
            .iter()
            .find(|q| q.model == m && cells[q.cell].rule == rule)
            .unwrap_or_else(|| panic!("no estimate for {model} in rule {rule}: {recorded:?}"))
            .rate
    };
    let small = quality(0, "small");
    assert_eq!((small.n, small.successes), (40, 10));
    assert_eq!(small.declared, 0.8);
    assert!(
        small.estimate < 0.8 - 0.1 && small.estimate > 0.25,
        "shrunk between the data (25%) and the declared 80%: {small:?}"
    );
    let big = quality(1, "big");
    assert_eq!((big.n, big.successes), (40, 40));
    assert!(big.estimate > 0.9, "{big:?}");
    // The table's prediction uses the re-fitted qualities (half the
    // traffic each way; within a percent, the share of answers the default
    // timeouts cut), not the declared 85%.
    let predicted = compiled
        .compiled
        .table
        .assumed
        .as_ref()
        .unwrap()
        .predicted
        .quality;
    let expected = 0.5 * small.estimate + 0.5 * big.estimate;
    assert!(
        (predicted - expected).abs() < 0.01,
        "{predicted} {expected}"
    );

    // `routec simulate` replays the reported outcomes.
    let prod = routec_driver::traffic_index(&compiled.policy, "prod").unwrap();
    let simulated =
        routec_driver::simulate::simulate(&compiled, prod, 1_000, 7, &mut |_, _| {}).unwrap();
    let routec_driver::simulate::Simulation::Replayed { replay, .. } = simulated else {
        panic!("a labeled log is replayed");
    };
    assert_eq!(replay.requests, 80);
    assert_eq!(replay.policy.missing, 0);
    // 10 good of 40 on code, 40 of 40 on chat.
    assert!((replay.policy.accuracy - 50.0 / 80.0).abs() < 1e-9);
}

/// Malformed feedback is 400, an unknown id 404, a request that returned
/// no answer 409, a missing key 401; none is written to the log.
#[tokio::test]
async fn bad_feedback_gets_openai_errors() {
    let w = World::start("bad").await;
    let (status, ok_id) = w.chat("code").await;
    assert_eq!(status, 200);
    w.small.always(Act::Status(500, None));
    let (status, failed_id) = w.chat("code").await;
    assert_eq!(status, 502);
    let cases: Vec<(String, Option<&str>, u16, &str)> = vec![
        ("not json".into(), Some("gw-key"), 400, "invalid_request"),
        (
            json!({"request_id": ok_id}).to_string(),
            Some("gw-key"),
            400,
            "invalid_request",
        ),
        (
            json!({"request_id": ok_id, "sucess": true}).to_string(),
            Some("gw-key"),
            400,
            "invalid_request",
        ),
        (
            json!({"request_id": ok_id, "score": 3}).to_string(),
            Some("gw-key"),
            400,
            "invalid_request",
        ),
        (
            json!({"request_id": "req-nobody", "success": true}).to_string(),
            Some("gw-key"),
            404,
            "request_not_found",
        ),
        (
            json!({"request_id": failed_id, "success": true}).to_string(),
            Some("gw-key"),
            409,
            "no_answer",
        ),
        (
            json!({"request_id": ok_id, "success": true}).to_string(),
            None,
            401,
            "invalid_api_key",
        ),
    ];
    for (body, key, status, code) in cases {
        let (got, answer) = w.feedback(&body, key).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
        assert!(answer["error"]["message"].as_str().is_some());
    }
    let (_, answer) = w
        .feedback(
            &json!({"request_id": ok_id, "sucess": true}).to_string(),
            Some("gw-key"),
        )
        .await;
    assert_eq!(
        answer["error"]["message"],
        "unknown field `sucess` (did you mean `success`?)"
    );
    let m = w.metrics().await;
    assert_eq!(
        metric(&m, r#"routec_feedback_rejected_total{reason="malformed"}"#),
        5.0
    );
    assert_eq!(
        metric(
            &m,
            r#"routec_feedback_rejected_total{reason="unknown_request"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(&m, r#"routec_feedback_rejected_total{reason="no_answer"}"#),
        1.0
    );
    let dir = w.dir.0.clone();
    w.gw.stop().await.unwrap();
    let text = std::fs::read_to_string(dir.join("decisions.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 2, "no feedback line was written");
}

/// The map of recent ids is bounded: feedback on an id older than the last
/// `feedback_ids` requests is 404.
#[tokio::test]
async fn feedback_is_taken_for_the_last_requests_only() {
    let small = Fake::start().await;
    let mut opts = options();
    opts.feedback_ids = 2;
    let env = env(&[
        ("SMALL_URL", format!("{}/v1", small.url())),
        ("BIG_URL", format!("{}/v1", small.url())),
    ]);
    let gw = gateway(TextLoader::new(POLICY), env, opts).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = client()
            .post(format!("http://{}/v1/chat/completions", gw.addr))
            .json(&json!({"model": "loop", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        ids.push(r.headers()["x-request-id"].to_str().unwrap().to_owned());
    }
    let post = |id: &str| {
        client()
            .post(format!("http://{}/v1/feedback", gw.addr))
            .json(&json!({"request_id": id, "success": true}))
            .send()
    };
    assert_eq!(post(&ids[0]).await.unwrap().status().as_u16(), 404);
    assert_eq!(post(&ids[1]).await.unwrap().status().as_u16(), 202);
    assert_eq!(post(&ids[2]).await.unwrap().status().as_u16(), 202);
    gw.stop().await.unwrap();
}

/// The drift gauge through the real gateway: routed requests in the assumed
/// mix (80% chat, 20% code) keep `routec_drift_kl_nats` near 0 and raise no
/// alert; a shift to code crosses `drift kl > 0.1 nats` and counts one
/// alert, once per crossing. Named-model requests are not routed and do not
/// count.
#[tokio::test]
async fn the_drift_gauge_follows_the_routed_mix() {
    let fake = Fake::start().await;
    let env = env(&[
        ("SMALL_URL", format!("{}/v1", fake.url())),
        ("BIG_URL", format!("{}/v1", fake.url())),
    ]);
    let policy = format!(
        "{POLICY}\nlearn {{\n  drift kl > 0.1 nats over 1h => alert\n}}\n\ntraffic mix {{\n  task {{ chat 80%, code 20% }}\n}}\n"
    );
    let gw = gateway(TextLoader::new(&policy), env, options()).await;
    let send = |task: &'static str, model: &'static str| {
        client()
            .post(format!("http://{}/v1/chat/completions", gw.addr))
            .header("x-task", task)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    let scrape = || async { common::scrape(gw.addr, None).await };
    for i in 0..150 {
        let task = if i % 5 == 0 { "code" } else { "chat" };
        assert_eq!(send(task, "loop").await.unwrap().status().as_u16(), 200);
    }
    for _ in 0..20 {
        assert_eq!(send("code", "small").await.unwrap().status().as_u16(), 200);
    }
    let m = scrape().await;
    assert_eq!(metric(&m, "routec_drift_window_requests"), 150.0);
    assert!(metric(&m, "routec_drift_kl_nats") < 0.001, "{m}");
    assert_eq!(metric(&m, "routec_drift_alerts_total"), 0.0);
    for _ in 0..150 {
        assert_eq!(send("code", "loop").await.unwrap().status().as_u16(), 200);
    }
    let m = scrape().await;
    assert_eq!(metric(&m, "routec_drift_window_requests"), 300.0);
    // 60% code against 20% assumed: 0.6 ln 3 + 0.4 ln 0.5 = 0.382 nats.
    let kl = metric(&m, "routec_drift_kl_nats");
    assert!((kl - 0.382).abs() < 0.002, "{kl}");
    assert_eq!(metric(&m, "routec_drift_alerts_total"), 1.0);
    let m = scrape().await;
    assert_eq!(
        metric(&m, "routec_drift_alerts_total"),
        1.0,
        "once per crossing"
    );
    gw.stop().await.unwrap();
}
