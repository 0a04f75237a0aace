//! For each fault and each plan form, scripted fake upstreams receive the
//! expected attempts (asserted on their request logs), the client gets an
//! answer or the documented error, and the metrics and the decision log
//! account for every request exactly once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::time::Duration;

use common::{
    Act, Fake, TempDir, TextLoader, chat, client, env, gateway, metric, options, sse_data,
};
use serde_json::{Value as J, json};

/// A policy over three fakes: `small` (OpenAI shape, falls back to
/// `big`), `big` (Anthropic shape) and `search` (the http contract), with
/// ROUTE and FAULTS substituted.
fn policy(route: &str, faults: &str) -> String {
    format!(
        r#"
policy gw {{
  owner "tests"
  baseline big
}}

model small {{
  provider openai
  endpoint env("SMALL_URL")
  upstream "gpt-4o-mini"
  price input $1/Mtok, output $2/Mtok
  latency ttft p50 100ms p95 300ms, decode 100 tok/s
  quality 80%
  fallback big
}}

model big {{
  provider anthropic
  endpoint env("BIG_URL")
  api_key env("BIG_KEY")
  upstream "claude-x"
  price input $3/Mtok, output $15/Mtok
  latency ttft p50 300ms p95 1s, decode 50 tok/s
  quality 90%
}}

model search {{
  provider http
  endpoint env("SEARCH_URL")
  price $0.001/request
  latency p50 50ms p95 100ms
  quality 70%
}}

route {{
  {route}
}}

faults {{
  {faults}
}}
"#
    )
}

const FAULTS: &str =
    "timeout 2s\n  ttft timeout 400ms\n  retry 1 on [429, 5xx, timeout] backoff 10ms";

struct World {
    small: Fake,
    big: Fake,
    search: Fake,
    gw: routec_gateway::Running,
    log: std::path::PathBuf,
    _dir: TempDir,
}

fn temp_dir(name: &str) -> TempDir {
    common::temp_dir("gw", name)
}

async fn world(name: &str, route: &str, faults: &str) -> World {
    world_with(name, route, faults, |_| {}).await
}

/// A world whose gateway options `tune` adjusts.
async fn world_with(
    name: &str,
    route: &str,
    faults: &str,
    tune: impl FnOnce(&mut routec_gateway::Options),
) -> World {
    let small = Fake::start().await;
    let big = Fake::start().await;
    let search = Fake::start().await;
    let dir = temp_dir(name);
    let log = dir.0.join("decisions.jsonl");
    let mut opts = options();
    opts.decision_log = Some(log.clone());
    tune(&mut opts);
    let env = env(&[
        ("SMALL_URL", format!("{}/v1", small.url())),
        ("BIG_URL", big.url()),
        ("BIG_KEY", "sk-ant-secret-value".into()),
        ("SEARCH_URL", format!("{}/http", search.url())),
    ]);
    let gw = gateway(TextLoader::new(&policy(route, faults)), env, opts).await;
    World {
        small,
        big,
        search,
        gw,
        log,
        _dir: dir,
    }
}

impl World {
    fn url(&self) -> String {
        format!("http://{}/v1/chat/completions", self.gw.addr)
    }

    async fn post(&self, body: &J) -> (u16, reqwest::header::HeaderMap, String) {
        let r = client()
            .post(self.url())
            .header("authorization", "Bearer client-secret")
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.text().await.unwrap())
    }

    async fn metrics(&self) -> String {
        common::scrape(self.gw.addr, None).await
    }

    /// Stops the gateway (flushing the decision log) and reads the log.
    /// Stops the gateway (flushing the decision log), reads the log, and
    /// checks that the metrics and the log account for the same requests,
    /// each once: as many log lines as requests counted, the same number
    /// per outcome, and one attempt counted per attempt logged.
    async fn finish(self) -> Vec<J> {
        let log = self.log.clone();
        let app = self.gw.app.clone();
        self.gw.stop().await.unwrap();
        let lines: Vec<J> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let m = app.metrics.encode();
        let sum = |prefix: &str, filter: &str| -> f64 {
            m.lines()
                .filter(|l| l.starts_with(prefix) && l.contains(filter))
                .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
                .sum()
        };
        for outcome in ["ok", "failed", "interrupted", "cancelled"] {
            let logged = lines
                .iter()
                .filter(|l| l["decision"]["outcome"] == outcome)
                .count();
            assert_eq!(
                sum("routec_requests_total{", &format!("outcome=\"{outcome}\"")),
                logged as f64,
                "{outcome}: metrics and decision log disagree\n{m}"
            );
        }
        assert_eq!(sum("routec_requests_total{", ""), lines.len() as f64, "{m}");
        let attempts: usize = lines
            .iter()
            .map(|l| l["decision"]["attempts"].as_array().unwrap().len())
            .sum();
        assert_eq!(sum("routec_attempts_total{", ""), attempts as f64, "{m}");
        lines
    }
}

fn attempts(line: &J) -> Vec<(String, String, String)> {
    line["decision"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["model"].as_str().unwrap().to_owned(),
                a["role"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn a(model: &str, role: &str, status: &str) -> (String, String, String) {
    (model.into(), role.into(), status.into())
}

#[tokio::test]
async fn a_plain_answer_is_routed_translated_and_accounted() {
    let w = world("plain", "otherwise => small", FAULTS).await;
    let (status, headers, body) = w.post(&chat("gw")).await;
    assert_eq!(status, 200, "{body}");
    let j: J = serde_json::from_str(&body).unwrap();
    assert_eq!(j["object"], "chat.completion");
    assert_eq!(
        j["choices"][0]["message"]["content"],
        "hello from the fake "
    );
    assert_eq!(j["usage"]["prompt_tokens"], 10);
    assert_eq!(headers["x-routec-model"], "small");
    assert_eq!(headers["x-routec-plan"], "small");
    assert!(
        headers["x-routec-rule"]
            .to_str()
            .unwrap()
            .starts_with("1: ")
    );
    // A whole answer is sent with its length, not chunked.
    assert_eq!(headers["content-length"], body.len().to_string().as_str());
    assert!(headers.get("transfer-encoding").is_none());
    let id = headers["x-request-id"].to_str().unwrap().to_owned();
    // The upstream got the upstream name, a stream request, and no client key.
    let seen = w.small.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body["model"], "gpt-4o-mini");
    assert_eq!(seen[0].body["stream"], true);
    assert!(seen[0].headers.get("authorization").is_none());
    assert_eq!(w.small.abandoned(), 0, "a whole answer is read to its end");
    // The model named directly is served by it.
    let (status, headers, _) = w.post(&chat("big")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-routec-model"], "big");
    assert_eq!(headers["x-routec-rule"], "direct");
    let seen = w.big.seen();
    assert_eq!(seen[0].headers["x-api-key"], "sk-ant-secret-value");
    assert_eq!(seen[0].body["model"], "claude-x");
    let m = w.metrics().await;
    assert!(!m.contains("sk-ant-secret-value") && !m.contains("client-secret"));
    assert_eq!(
        metric(
            &m,
            r#"routec_requests_total{rule="1",plan="small",model="small",outcome="ok"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            r#"routec_requests_total{rule="direct",plan="big",model="big",outcome="ok"}"#
        ),
        1.0
    );
    let lines = w.finish().await;
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], id.as_str());
    assert_eq!(attempts(&lines[0]), [a("small", "first", "ok")]);
    assert_eq!(lines[0]["decision"]["outcome"], "ok");
    // 10 input tokens at $1/Mtok, 3 output at $2/Mtok.
    let cost = lines[0]["decision"]["cost_usd"].as_f64().unwrap();
    assert!((cost - (10.0 * 1e-6 + 4.0 * 2e-6)).abs() < 1e-12, "{cost}");
    let text = serde_json::to_string(&lines).unwrap();
    assert!(!text.contains("sk-ant") && !text.contains("client-secret"));
    // A recorded-traffic line: `id`, `signals` and the gateway's `decision`.
    let keys: Vec<&String> = lines[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["decision", "id", "signals"]);
}

/// Upstream calls follow the proxy variables of the gateway's environment:
/// `small` through the proxy (a fake that answers what it is sent, with
/// the proxy's credentials), `big` directly (its host is in `NO_PROXY`);
/// a SOCKS proxy is refused at start.
#[tokio::test]
async fn upstream_calls_follow_the_proxy_variables() {
    let (proxy, big, search) = (
        Fake::start().await,
        Fake::start().await,
        Fake::start().await,
    );
    let vars = |proxy_var: (&'static str, String)| {
        env(&[
            ("SMALL_URL", "http://small.invalid:9/v1".to_owned()),
            ("BIG_URL", big.url()),
            ("BIG_KEY", "sk-ant-secret-value".into()),
            ("SEARCH_URL", format!("{}/http", search.url())),
            proxy_var,
            ("no_proxy", "localhost, 127.0.0.1".into()),
        ])
    };
    let loader = TextLoader::new(&policy("otherwise => small", FAULTS));
    let gw = gateway(
        loader.clone(),
        vars(("HTTP_PROXY", format!("http://u:p@{}", proxy.addr))),
        options(),
    )
    .await;
    for model in ["small", "big"] {
        let r = client()
            .post(format!("http://{}/v1/chat/completions", gw.addr))
            .json(&chat(model))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{model}");
        assert_eq!(r.headers()["x-routec-model"], model);
    }
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].headers["host"], "small.invalid:9");
    assert_eq!(seen[0].headers["proxy-authorization"], "Basic dTpw");
    let seen = big.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].headers.get("proxy-authorization").is_none());
    gw.stop().await.unwrap();
    let refused = routec_gateway::start(
        loader,
        options(),
        vars(("ALL_PROXY", "socks5://127.0.0.1:1080".into())),
        std::sync::Arc::new(routec_gateway::LocalState::new()),
        false,
    )
    .await
    .err();
    assert_eq!(
        refused.as_deref(),
        Some(
            "`ALL_PROXY` names a `socks5` proxy; upstream calls go through HTTP proxies only \
             (`http://` or `https://`)"
        )
    );
}

/// Each fault on `small`: the attempts the fakes see, the client's answer.
#[tokio::test]
async fn faults_retry_then_fall_back() {
    struct Case {
        name: &'static str,
        faults: &'static str,
        small: Vec<Act>,
        small_calls: usize,
        big_calls: usize,
        attempts: Vec<(String, String, String)>,
        model: &'static str,
    }
    let cases = vec![
        Case {
            name: "5xx once: retried",
            faults: FAULTS,
            small: vec![Act::Status(503, None)],
            small_calls: 2,
            big_calls: 0,
            attempts: vec![a("small", "first", "503"), a("small", "retry", "ok")],
            model: "small",
        },
        Case {
            name: "429 with Retry-After: retried after it",
            faults: FAULTS,
            small: vec![Act::Status(429, Some(0))],
            small_calls: 2,
            big_calls: 0,
            attempts: vec![a("small", "first", "429"), a("small", "retry", "ok")],
            model: "small",
        },
        Case {
            name: "a 4xx is not retried: fallback",
            faults: FAULTS,
            small: vec![Act::Status(400, None)],
            small_calls: 1,
            big_calls: 1,
            attempts: vec![a("small", "first", "400"), a("big", "fallback", "ok")],
            model: "big",
        },
        Case {
            name: "TTFT stalls twice: fallback",
            faults: FAULTS,
            small: vec![Act::slow_first_token(1500), Act::slow_first_token(1500)],
            small_calls: 2,
            big_calls: 1,
            attempts: vec![
                a("small", "first", "ttft_timeout"),
                a("small", "retry", "ttft_timeout"),
                a("big", "fallback", "ok"),
            ],
            model: "big",
        },
        Case {
            name: "connection reset then malformed JSON: fallback",
            faults: FAULTS,
            small: vec![Act::Reset, Act::Malformed],
            small_calls: 2,
            big_calls: 1,
            attempts: vec![
                a("small", "first", "connection"),
                a("small", "retry", "malformed"),
                a("big", "fallback", "ok"),
            ],
            model: "big",
        },
        Case {
            name: "a stall mid-stream is a timeout before the first byte",
            faults: FAULTS,
            small: vec![Act::StallMidStream],
            small_calls: 2,
            big_calls: 0,
            attempts: vec![a("small", "first", "timeout"), a("small", "retry", "ok")],
            model: "small",
        },
        Case {
            name: "a reset mid-stream, a slow body within the timeout",
            faults: FAULTS,
            small: vec![Act::ResetMidStream, Act::slow_body(20)],
            small_calls: 2,
            big_calls: 0,
            attempts: vec![a("small", "first", "connection"), a("small", "retry", "ok")],
            model: "small",
        },
        Case {
            name: "the total timeout is the shorter: a timeout, not a TTFT timeout",
            faults: "timeout 300ms\n  ttft timeout 1s\n  retry 1 on [timeout] backoff 10ms",
            small: vec![Act::slow_first_token(1500), Act::slow_first_token(1500)],
            small_calls: 2,
            big_calls: 1,
            attempts: vec![
                a("small", "first", "timeout"),
                a("small", "retry", "timeout"),
                a("big", "fallback", "ok"),
            ],
            model: "big",
        },
        Case {
            name: "a Retry-After of the timeout: retried after it",
            faults: "timeout 1s\n  retry 1 on [429] backoff 10ms",
            small: vec![Act::Status(429, Some(1))],
            small_calls: 2,
            big_calls: 0,
            attempts: vec![a("small", "first", "429"), a("small", "retry", "ok")],
            model: "small",
        },
        Case {
            name: "a Retry-After past the timeout: no retry, fallback",
            faults: "timeout 1s\n  retry 1 on [429] backoff 10ms",
            small: vec![Act::Status(429, Some(2))],
            small_calls: 1,
            big_calls: 1,
            attempts: vec![a("small", "first", "429"), a("big", "fallback", "ok")],
            model: "big",
        },
    ];
    for case in cases {
        let w = world("faults", "otherwise => small", case.faults).await;
        w.small.then(case.small.clone());
        let (status, headers, body) = w.post(&chat("gw")).await;
        assert_eq!(status, 200, "{}: {body}", case.name);
        assert_eq!(headers["x-routec-model"], case.model, "{}", case.name);
        assert_eq!(w.small.count(), case.small_calls, "{}", case.name);
        assert_eq!(w.big.count(), case.big_calls, "{}", case.name);
        let m = w.metrics().await;
        let lines = w.finish().await;
        assert_eq!(lines.len(), 1, "{}", case.name);
        assert_eq!(attempts(&lines[0]), case.attempts, "{}", case.name);
        // The log counts the retries and fallbacks its attempts show.
        for (field, role) in [("retries", "retry"), ("fallbacks", "fallback")] {
            let made = case.attempts.iter().filter(|a| a.1 == role).count();
            assert_eq!(lines[0]["decision"][field], made, "{}: {field}", case.name);
        }
        let total: f64 = m
            .lines()
            .filter(|l| l.starts_with("routec_requests_total{"))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum();
        assert_eq!(total, 1.0, "{}: {m}", case.name);
    }
}

#[tokio::test]
async fn every_plan_failing_is_an_openai_error_listing_the_attempts() {
    let w = world("allfail", "otherwise => small", FAULTS).await;
    w.small.always(Act::Status(500, None));
    w.big.always(Act::Status(503, None));
    let (status, headers, body) = w.post(&chat("gw")).await;
    assert_eq!(status, 502, "{body}");
    let j: J = serde_json::from_str(&body).unwrap();
    assert_eq!(j["error"]["code"], "all_plans_failed");
    assert_eq!(j["error"]["type"], "upstream_error");
    let message = j["error"]["message"].as_str().unwrap();
    assert!(message.contains("small (first): 500"), "{message}");
    assert!(message.contains("big (retry): 503"), "{message}");
    assert!(headers.contains_key("x-request-id"));
    // 2 attempts each.
    assert_eq!((w.small.count(), w.big.count()), (2, 2));
    let lines = w.finish().await;
    assert_eq!(lines[0]["decision"]["outcome"], "failed");
    assert_eq!(lines[0]["decision"]["status"], 502);
    // A failed attempt costs its prompt at its own model's input price:
    // `big` ($3/Mtok) three times `small` ($1/Mtok).
    let cost = |i: usize| {
        lines[0]["decision"]["attempts"][i]["cost_usd"]
            .as_f64()
            .unwrap()
    };
    assert!(cost(0) > 0.0 && cost(0) == cost(1), "{}", lines[0]);
    assert!((cost(2) - 3.0 * cost(0)).abs() < 1e-15, "{}", lines[0]);
    assert_eq!(cost(2), cost(3));

    // Timeouts everywhere: 504.
    let w = world("alltimeout", "otherwise => small", FAULTS).await;
    w.small.always(Act::slow_first_token(1000));
    w.big.always(Act::slow_first_token(1000));
    let (status, _, _) = w.post(&chat("gw")).await;
    assert_eq!(status, 504);
    let lines = w.finish().await;
    // Each attempt waited out its TTFT timeout (400ms), in milliseconds,
    // and started after the one before it ended.
    let timed = lines[0]["decision"]["attempts"].as_array().unwrap();
    assert_eq!(timed.len(), 4);
    let mut ended = 0.0;
    for t in timed {
        let (start, latency) = (
            t["start_ms"].as_f64().unwrap(),
            t["latency_ms"].as_f64().unwrap(),
        );
        assert!(start >= ended - 1e-6, "{t} starts before {ended}");
        assert!(latency >= 399.0, "{t}");
        ended = start + latency;
    }
}

/// A loader whose table's fallbacks loop, `small -> big -> small`: the
/// compiler refuses such a policy (E0404), a hand-written table may hold one.
#[derive(Debug)]
struct FallbackCycle(String);

impl routec_gateway::Loader for FallbackCycle {
    fn load(&self) -> Result<routec_runtime::Router, String> {
        let mut table = common::compile(&self.0)?;
        let index = |name: &str| table.models.iter().position(|m| m.name == name).unwrap();
        let (small, big) = (index("small"), index("big"));
        table.models[big].fallback = Some(small as u32);
        routec_runtime::Router::new(table).map_err(|e| e.to_string())
    }
    fn watched(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

/// A fallback chain is followed without revisiting a model, even when the
/// table's fallbacks loop.
#[tokio::test]
async fn a_fallback_cycle_visits_each_model_once() {
    let small = Fake::start().await;
    let big = Fake::start().await;
    small.always(Act::Status(500, None));
    big.always(Act::Status(503, None));
    let env = env(&[
        ("SMALL_URL", format!("{}/v1", small.url())),
        ("BIG_URL", big.url()),
        ("BIG_KEY", "k".into()),
        ("SEARCH_URL", small.url()),
    ]);
    let looping = FallbackCycle(policy("otherwise => small", FAULTS));
    let gw = gateway(std::sync::Arc::new(looping), env, options()).await;
    let r = client()
        .post(format!("http://{}/v1/chat/completions", gw.addr))
        .json(&chat("gw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 502);
    // `retry 1`: two attempts on each model; `big`'s fallback, `small`, was
    // visited already.
    assert_eq!((small.count(), big.count()), (2, 2));
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn chains_cascades_and_http_backends() {
    // `search else small`: the http backend fails, the chain's next plan answers.
    let w = world("chain", "otherwise => search else small", FAULTS).await;
    w.search
        .then([Act::Status(500, None), Act::Status(500, None)]);
    let (status, headers, _) = w.post(&chat("gw")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-routec-plan"], "search else small");
    assert_eq!(headers["x-routec-model"], "small");
    let lines = w.finish().await;
    assert_eq!(
        attempts(&lines[0]),
        [
            a("search", "first", "500"),
            a("search", "retry", "500"),
            a("small", "chain", "ok")
        ]
    );

    // A cascade accepts a confident first stage (logprobs), escalates an
    // unconfident one, and escalates an answer without confidence.
    let w = world(
        "cascade",
        "otherwise => cascade small -> big accept when confidence >= 70%",
        FAULTS,
    )
    .await;
    w.small.logprob(-0.05); // exp(-0.05) = 95%
    let (_, headers, body) = w.post(&chat("gw")).await;
    assert_eq!(headers["x-routec-model"], "small", "{body}");
    assert_eq!(w.small.seen()[0].body["logprobs"], true);
    // The client did not ask for log-probabilities: none are returned.
    let j: J = serde_json::from_str(&body).unwrap();
    assert_eq!(j["choices"][0]["logprobs"], J::Null);
    // A client that asks for them gets them, joined as OpenAI returns them.
    let mut asks = chat("small");
    asks["logprobs"] = json!(true);
    let (_, _, body) = w.post(&asks).await;
    let j: J = serde_json::from_str(&body).unwrap();
    let lp = j["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(lp.len(), 4, "{body}");
    assert_eq!(lp[0]["logprob"], -0.05);
    w.small.logprob(-1.0); // 37%
    let (_, headers, _) = w.post(&chat("gw")).await;
    assert_eq!(headers["x-routec-model"], "big");
    let m = w.metrics().await;
    assert_eq!(metric(&m, r#"routec_escalations_total{rule="1"}"#), 1.0);
    let lines = w.finish().await;
    assert_eq!(
        lines[0]["decision"]["attempts"][0]["confidence"]
            .as_f64()
            .map(|c| (c * 100.0).round()),
        Some(95.0)
    );
    assert_eq!(attempts(&lines[1]), [a("small", "first", "ok")]);
    assert_eq!(
        attempts(&lines[2]),
        [a("small", "first", "ok"), a("big", "escalation", "ok")]
    );

    // http backends state their confidence.
    let w = world(
        "cascade-http",
        "otherwise => cascade search -> big accept when confidence >= 70%",
        FAULTS,
    )
    .await;
    w.search.confidence(0.9).text("from search");
    let (_, headers, body) = w.post(&chat("gw")).await;
    assert_eq!(headers["x-routec-model"], "search");
    let j: J = serde_json::from_str(&body).unwrap();
    assert_eq!(j["choices"][0]["message"]["content"], "from search");
    // Anthropic answers carry no log-probabilities: unscored, escalated.
    let w2 = world(
        "cascade-unscored",
        "otherwise => cascade big -> small accept when confidence >= 70%",
        FAULTS,
    )
    .await;
    let (_, headers, _) = w2.post(&chat("gw")).await;
    assert_eq!(headers["x-routec-model"], "small");
    let m = w2.metrics().await;
    assert_eq!(
        metric(&m, r#"routec_cascade_unscored_total{rule="1"}"#),
        1.0
    );
    w.finish().await;
    w2.finish().await;
}

#[tokio::test]
async fn streaming_answers_and_failures_after_the_first_byte() {
    let w = world("stream", "otherwise => small", FAULTS).await;
    let mut body = chat("gw");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let (status, headers, text) = w.post(&body).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let content: String = data
        .iter()
        .filter_map(|d| serde_json::from_str::<J>(d).ok())
        .filter_map(|j| {
            j["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(content, "hello from the fake ");
    assert!(data.iter().any(|d| d.contains("\"usage\"")));

    // Anthropic streamed, translated to OpenAI chunks.
    body["model"] = json!("big");
    let (_, _, text) = w.post(&body).await;
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert!(
        data.iter()
            .any(|d| d.contains("\"finish_reason\":\"stop\""))
    );

    // A reset after the first byte ends the stream with an error event; no retry.
    body["model"] = json!("gw");
    w.small.then([Act::ResetMidStream]);
    let before = w.small.count();
    let (status, _, text) = w.post(&body).await;
    assert_eq!(status, 200);
    let data = sse_data(&text);
    let last: J = serde_json::from_str(data.last().unwrap()).expect(&text);
    assert_eq!(last["error"]["code"], "stream_interrupted");
    assert_eq!(w.small.count(), before + 1);
    let m = w.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"routec_requests_total{rule="1",plan="small",model="small",outcome="interrupted"}"#
        ),
        1.0
    );
    let lines = w.finish().await;
    assert_eq!(lines.len(), 3);
    assert_eq!(attempts(&lines[2]), [a("small", "first", "interrupted")]);
}

#[tokio::test]
async fn cooldown_skips_a_failing_model_and_its_fallback_serves() {
    let w = world(
        "cooldown",
        "otherwise => small",
        "retry 0 on [5xx] backoff 0ms\n  cooldown 30s after 2 failures",
    )
    .await;
    w.small.always(Act::Status(500, None));
    for _ in 0..4 {
        let (status, headers, _) = w.post(&chat("gw")).await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-routec-model"], "big");
    }
    // Two failures opened the cooldown; the next two requests skipped small.
    assert_eq!(w.small.count(), 2);
    assert_eq!(w.big.count(), 4);
    let m = w.metrics().await;
    assert_eq!(metric(&m, r#"routec_cooling{model="small"}"#), 1.0);
    // Every model of the table has its gauge, read when scraped.
    assert!(m.contains("routec_cooling{model=\"big\"} 0\n"), "{m}");
    assert!(m.contains("routec_cooling{model=\"search\"} 0\n"), "{m}");
    assert_eq!(metric(&m, r#"routec_cooldowns_total{model="small"}"#), 1.0);
    let lines = w.finish().await;
    assert_eq!(
        attempts(&lines[3]),
        [a("small", "first", "cooldown"), a("big", "fallback", "ok")]
    );
}

#[tokio::test]
async fn hedges_race_the_first_token() {
    let w = world(
        "hedge",
        "otherwise => small",
        "ttft timeout 5s\n  hedge after 100ms",
    )
    .await;
    // The first call stalls; the hedge answers at once.
    w.small.then([Act::slow_first_token(3000), Act::ok()]);
    let (status, headers, _) = w.post(&chat("gw")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-routec-model"], "small");
    assert_eq!(w.small.count(), 2);
    let m = w.metrics().await;
    assert_eq!(metric(&m, r#"routec_hedges_total{rule="1"}"#), 1.0);
    // The losing call was cancelled and its connection closed.
    assert_eq!(w.small.wait_abandoned(1).await, 1);
    let lines = w.finish().await;
    let mut got = attempts(&lines[0]);
    got.sort();
    assert_eq!(
        got,
        [a("small", "first", "cancelled"), a("small", "hedge", "ok")]
    );
    // The cancelled call is paid like a failed one: its prompt, at `small`'s
    // input price, from the gateway's estimate.
    let cancelled = lines[0]["decision"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "cancelled")
        .unwrap();
    assert!(cancelled["cost_usd"].as_f64().unwrap() > 0.0, "{cancelled}");
}

#[tokio::test]
async fn bad_requests_get_openai_errors() {
    let w = world("bad", "otherwise => small", FAULTS).await;
    let (status, _, body) = w.post(&chat("nope")).await;
    assert_eq!(status, 404);
    let j: J = serde_json::from_str(&body).unwrap();
    assert_eq!(j["error"]["code"], "model_not_found");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gw, small, big, search")
    );
    let r = client()
        .post(w.url())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (status, _, _) = w.post(&json!({"model": "gw"})).await;
    assert_eq!(status, 400);
    let big = "x".repeat(17 << 20);
    let r = client()
        .post(w.url())
        .header("content-type", "application/json")
        .body(format!(
            "{{\"model\":\"gw\",\"messages\":[{{\"role\":\"user\",\"content\":\"{big}\"}}]}}"
        ))
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
    }
    let r = client()
        .get(format!("http://{}/v1/models", w.gw.addr))
        .send()
        .await
        .unwrap();
    let j: J = r.json().await.unwrap();
    assert_eq!(j["data"].as_array().unwrap().len(), 4);
    assert_eq!(w.small.count(), 0);
    let lines = w.finish().await;
    assert!(lines.is_empty());
}

#[tokio::test]
async fn over_the_concurrency_limit_is_503() {
    let small = Fake::start().await;
    small.always(Act::slow_first_token(500));
    let mut opts = options();
    opts.max_concurrency = 1;
    let env = env(&[
        ("SMALL_URL", small.url()),
        ("BIG_URL", small.url()),
        ("BIG_KEY", "k".into()),
        ("SEARCH_URL", small.url()),
    ]);
    let gw = gateway(
        TextLoader::new(&policy("otherwise => small", "ttft timeout 5s")),
        env,
        opts,
    )
    .await;
    let url = format!("http://{}/v1/chat/completions", gw.addr);
    let first = tokio::spawn({
        let url = url.clone();
        async move {
            client()
                .post(url)
                .json(&chat("gw"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    // Wait until the first request reached the fake.
    for _ in 0..200 {
        if small.count() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = client().post(&url).json(&chat("gw")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let j: J = r.json().await.unwrap();
    assert_eq!(j["error"]["code"], "overloaded");
    assert_eq!(first.await.unwrap(), 200);
    gw.stop().await.unwrap();
}

/// Decision-log lines validate against `docs/traffic.schema.json`, and the
/// recorded-traffic reader parses and binds them to the policy (so
/// `traffic prod = file "decisions.jsonl"` reads production).
#[tokio::test]
async fn decision_log_lines_are_recorded_traffic() {
    let route =
        "when has_tools => big\n  when prompt_tokens > 1k => big\n  otherwise => search else small";
    let w = world("declog", route, FAULTS).await;
    w.search.then([Act::Status(503, None)]);
    w.post(&chat("gw")).await;
    let mut tools = chat("gw");
    tools["tools"] =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    tools["stream"] = json!(true);
    w.post(&tools).await;
    w.post(&chat("nope")).await;
    w.small.always(Act::Status(500, None));
    w.big.always(Act::Status(500, None));
    w.search.always(Act::Status(500, None));
    w.post(&chat("gw")).await;
    let lines = w.finish().await;
    assert_eq!(lines.len(), 3, "an unknown model is not a routed request");
    let schema: J = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/traffic.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut text = String::new();
    for line in &lines {
        let errors: Vec<String> = validator.iter_errors(line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{line}: {errors:?}");
        text.push_str(&line.to_string());
        text.push('\n');
    }
    assert_eq!(lines[0]["signals"]["has_tools"], false);
    assert!(lines[0]["signals"]["prompt_tokens"].as_u64().is_some());
    assert_eq!(lines[1]["signals"]["has_tools"], true);
    assert_eq!(lines[1]["decision"]["rule"], 1);
    assert_eq!(lines[2]["decision"]["outcome"], "failed");
    let records = routec_traffic::parse(&text).unwrap();
    let source = policy(route, FAULTS);
    let parsed = routec_syntax::parse(&source);
    let checked = routec_check::check(&parsed.file);
    let bound = routec_traffic::bind(&checked.policy, &records).unwrap();
    assert_eq!(bound.records.len(), 3);
    // And `routec compile` / `routec simulate` (the driver behind them) take
    // the log as the policy's traffic profile.
    let dir = temp_dir("declog-replay");
    std::fs::write(dir.0.join("decisions.jsonl"), &text).unwrap();
    let policy_file = dir.0.join("gw.route");
    std::fs::write(
        &policy_file,
        format!("{source}\ntraffic prod = file \"decisions.jsonl\"\n"),
    )
    .unwrap();
    let compiled = routec_driver::compile_source(
        routec_driver::Source::file(&policy_file).unwrap(),
        Some("prod"),
    )
    .unwrap();
    assert_eq!(
        compiled.compiled.table.assumed.as_ref().unwrap().traffic,
        "prod"
    );
    let prod = routec_driver::traffic_index(&compiled.policy, "prod").unwrap();
    let simulated =
        routec_driver::simulate::simulate(&compiled, prod, 2_000, 7, &mut |_, _| {}).unwrap();
    let routec_driver::simulate::Simulation::Sampled { report, .. } = simulated else {
        panic!("an unlabeled log is sampled, not replayed");
    };
    assert_eq!(report.requests, 2_000);
}

/// A client that goes away cancels the upstream work: the request is
/// recorded as `cancelled` (not answered seconds later), once.
#[tokio::test]
async fn a_client_that_disconnects_cancels_the_upstream_call() {
    let w = world("disconnect", "otherwise => small", "ttft timeout 20s").await;
    w.small.then([Act::slow_first_token(5000)]);
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    assert!(quick.post(w.url()).json(&chat("gw")).send().await.is_err());
    assert_eq!(w.small.count(), 1);
    // The gateway notices and accounts for it well before the upstream
    // would have answered (bounded wait: the stop below drains otherwise).
    let mut cancelled = 0.0;
    for _ in 0..200 {
        let m = w.metrics().await;
        cancelled = metric(
            &m,
            r#"routec_requests_total{rule="1",plan="small",model="",outcome="cancelled"}"#,
        );
        if cancelled > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(cancelled, 1.0);
    // The upstream's answer was abandoned: the gateway closed its connection.
    assert_eq!(w.small.wait_abandoned(1).await, 1);
    let lines = w.finish().await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["decision"]["outcome"], "cancelled");
    assert_eq!(lines[0]["decision"]["status"], 499);
    assert_eq!(attempts(&lines[0]), [a("small", "first", "cancelled")]);
}

fn stream(model: &str) -> J {
    let mut body = chat(model);
    body["stream"] = json!(true);
    body
}

/// The text of a streamed answer's content deltas.
fn streamed_text(text: &str) -> String {
    sse_data(text)
        .iter()
        .filter_map(|d| serde_json::from_str::<J>(d).ok())
        .filter_map(|j| {
            j["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// Before the first byte reaches the client, a streamed request is retried,
/// falls back and hedges like any other.
#[tokio::test]
async fn streamed_requests_retry_and_fall_back_before_the_first_byte() {
    let w = world("stream-retry", "otherwise => small", FAULTS).await;
    w.big.text("from big");
    // A 503 is retried; the retry streams.
    w.small.then([Act::Status(503, None)]);
    let (status, headers, text) = w.post(&stream("gw")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-routec-model"], "small");
    assert_eq!(streamed_text(&text), "hello from the fake ");
    assert_eq!(sse_data(&text).last().map(String::as_str), Some("[DONE]"));
    // Two TTFT stalls: the fallback (Anthropic, translated) streams.
    w.small
        .then([Act::slow_first_token(1500), Act::slow_first_token(1500)]);
    let (status, headers, text) = w.post(&stream("gw")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-routec-model"], "big");
    assert_eq!(streamed_text(&text), "from big ");
    assert_eq!(w.small.count(), 4);
    assert_eq!(w.big.count(), 1);
    // Every model failing before the first byte: an error status, not a stream.
    w.small.always(Act::Status(500, None));
    w.big.always(Act::Status(500, None));
    let (status, headers, text) = w.post(&stream("gw")).await;
    assert_eq!(status, 502, "{text}");
    assert_eq!(headers["content-type"], "application/json");
    let j: J = serde_json::from_str(&text).unwrap();
    assert_eq!(j["error"]["code"], "all_plans_failed");
    let lines = w.finish().await;
    assert_eq!(
        attempts(&lines[0]),
        [a("small", "first", "503"), a("small", "retry", "ok")]
    );
    assert_eq!(
        attempts(&lines[1]),
        [
            a("small", "first", "ttft_timeout"),
            a("small", "retry", "ttft_timeout"),
            a("big", "fallback", "ok")
        ]
    );
    assert_eq!(lines[2]["decision"]["outcome"], "failed");
    assert!(lines.iter().all(|l| l["decision"]["stream"] == true));
}

/// A streamed cascade holds its first stage back until it is accepted: an
/// accepted answer is streamed, an escalated one never reaches the client.
#[tokio::test]
async fn a_streamed_cascade_holds_the_first_stage_back() {
    let w = world(
        "stream-cascade",
        "otherwise => cascade small -> big accept when confidence >= 70%",
        FAULTS,
    )
    .await;
    w.small.text("cheap answer");
    w.big.text("expensive answer");
    w.small.logprob(-0.05);
    let (status, headers, text) = w.post(&stream("gw")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-routec-model"], "small");
    assert_eq!(streamed_text(&text), "cheap answer ");
    assert_eq!(sse_data(&text).last().map(String::as_str), Some("[DONE]"));
    // Log-probabilities were asked for the cascade, not by the client: none leak.
    assert!(!text.contains("logprob"), "{text}");
    w.small.logprob(-1.0);
    let (_, headers, text) = w.post(&stream("gw")).await;
    assert_eq!(headers["x-routec-model"], "big");
    assert_eq!(streamed_text(&text), "expensive answer ");
    assert!(!text.contains("cheap"), "{text}");
    let lines = w.finish().await;
    assert_eq!(
        attempts(&lines[1]),
        [a("small", "first", "ok"), a("big", "escalation", "ok")]
    );
    assert_eq!(lines[1]["decision"]["escalations"], 1);
}

/// With an inbound key, every route but the probes needs it; the client's
/// key is never what reaches the upstream.
#[tokio::test]
async fn an_inbound_bearer_key_is_required() {
    let w = world_with("inbound-key", "otherwise => big", FAULTS, |o| {
        o.api_key = Some("gw-secret".into());
    })
    .await;
    let url = w.url();
    let send = |key: Option<&'static str>| {
        let url = url.clone();
        async move {
            let mut r = client().post(url).json(&chat("gw"));
            if let Some(k) = key {
                r = r.header("authorization", format!("Bearer {k}"));
            }
            let r = r.send().await.unwrap();
            let id = r.headers().get("x-request-id").cloned();
            (r.status().as_u16(), id, r.text().await.unwrap())
        }
    };
    for key in [None, Some("wrong"), Some("gw-secre")] {
        let (status, id, body) = send(key).await;
        assert_eq!(status, 401, "{key:?}");
        assert!(id.is_some());
        let j: J = serde_json::from_str(&body).unwrap();
        assert_eq!(j["error"]["code"], "invalid_api_key");
    }
    let (status, _, body) = send(Some("gw-secret")).await;
    assert_eq!(status, 200, "{body}");
    // The upstream got its own key, not the client's.
    let seen = w.big.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["x-api-key"], "sk-ant-secret-value");
    assert!(seen[0].headers.get("authorization").is_none());
    // Probes stay open; the metrics need the key.
    let get = |path: &str, key: bool| {
        let mut r = client().get(format!("http://{}{path}", w.gw.addr));
        if key {
            r = r.header("authorization", "Bearer gw-secret");
        }
        r.send()
    };
    assert_eq!(get("/healthz", false).await.unwrap().status().as_u16(), 200);
    assert_eq!(get("/readyz", false).await.unwrap().status().as_u16(), 200);
    assert_eq!(get("/metrics", false).await.unwrap().status().as_u16(), 401);
    let m = get("/metrics", true).await.unwrap().text().await.unwrap();
    assert_eq!(
        metric(&m, r#"routec_rejected_total{reason="unauthorized"}"#),
        4.0
    );
    assert!(!m.contains("gw-secret"));
    let lines = w.finish().await;
    assert_eq!(lines.len(), 1, "refused requests are not logged");
}

/// A client that does not finish sending its headers within the header
/// read timeout is disconnected.
#[tokio::test]
async fn slow_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = world_with("slow-headers", "otherwise => small", FAULTS, |o| {
        o.header_read_timeout = Duration::from_millis(200);
    })
    .await;
    let mut s = tokio::net::TcpStream::connect(w.gw.addr).await.unwrap();
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The gateway closes the connection (bounded wait: far beyond the timeout).
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "the connection stayed open"
    );
    assert_eq!(w.small.count(), 0);
    w.finish().await;
}

/// Every answer carries an `x-request-id`: the client's own when it sent
/// one (and the decision log records it under that id), errors included.
#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let w = world("request-id", "otherwise => small", FAULTS).await;
    let r = client()
        .post(w.url())
        .header("x-request-id", "trace-42")
        .json(&chat("gw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-request-id"], "trace-42");
    for (body, status) in [
        (chat("nope").to_string(), 404),
        ("{not json".to_owned(), 400),
        (json!({"model": "gw", "messages": []}).to_string(), 400),
    ] {
        let r = client()
            .post(w.url())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        let id = r.headers()["x-request-id"].to_str().unwrap();
        assert!(id.starts_with("req-"), "{id}");
    }
    let lines = w.finish().await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], "trace-42");
}

/// A client that sends its headers but not its whole body within the body
/// timeout gets 408 (it would otherwise hold a concurrency slot).
#[tokio::test]
async fn a_body_that_does_not_arrive_is_refused_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = world_with("slow-body", "otherwise => small", FAULTS, |o| {
        o.body_read_timeout = Duration::from_millis(200);
    })
    .await;
    let mut s = tokio::net::TcpStream::connect(w.gw.addr).await.unwrap();
    s.write_all(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "no answer");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    assert!(text.contains("x-request-id: req-"), "{text}");
    assert_eq!(w.small.count(), 0);
    let m = w.metrics().await;
    assert_eq!(
        metric(&m, r#"routec_rejected_total{reason="body_timeout"}"#),
        1.0
    );
    w.finish().await;
}

/// A client that goes away in the middle of a stream: the upstream's
/// connection is closed, the request is recorded once as cancelled.
#[tokio::test]
async fn a_client_leaving_mid_stream_cancels_the_upstream() {
    use futures_util::StreamExt;
    let w = world("leave-mid-stream", "otherwise => small", "timeout 20s").await;
    w.small.then([Act::slow_body(1000)]);
    let r = client()
        .post(w.url())
        .json(&stream("gw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut body = r.bytes_stream();
    // The role chunk and the first word, then leave.
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(body);
    assert_eq!(w.small.wait_abandoned(1).await, 1);
    let lines = w.finish().await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["decision"]["outcome"], "cancelled");
    assert_eq!(attempts(&lines[0]), [a("small", "first", "cancelled")]);
    // Its first token had arrived.
    assert!(
        lines[0]["decision"]["attempts"][0]["ttft_ms"]
            .as_f64()
            .is_some()
    );
}
