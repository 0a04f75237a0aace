//! Test support: scripted fake upstreams (OpenAI and Anthropic shapes,
//! streaming or not) on loopback, and a gateway started on a policy text.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support"
)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use routec_gateway::{Env, Loader, LocalState, Options, Running};
use routec_table::Table;
use serde_json::{Value as J, json};

/// What a fake does with one request.
#[derive(Clone, Debug)]
pub enum Act {
    /// Answer `text` (in words, one chunk per word when streaming) after
    /// `ttft`, each further chunk `gap` apart.
    Answer { ttft: Duration, gap: Duration },
    /// An error status, with `Retry-After` seconds.
    Status(u16, Option<u32>),
    /// Answer the first chunk, then stall forever.
    StallMidStream,
    /// Answer the first chunk, then break the connection.
    ResetMidStream,
    /// Break the connection before answering.
    Reset,
    /// Answer 200 with a body that is not JSON.
    Malformed,
}

impl Act {
    pub fn ok() -> Act {
        Act::Answer {
            ttft: Duration::ZERO,
            gap: Duration::ZERO,
        }
    }
    pub fn slow_first_token(ms: u64) -> Act {
        Act::Answer {
            ttft: Duration::from_millis(ms),
            gap: Duration::ZERO,
        }
    }
    pub fn slow_body(gap_ms: u64) -> Act {
        Act::Answer {
            ttft: Duration::ZERO,
            gap: Duration::from_millis(gap_ms),
        }
    }
}

/// One request a fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: J,
}

#[derive(Debug, Default)]
struct Script {
    acts: VecDeque<Act>,
    default: Option<Act>,
    seen: Vec<Seen>,
    text: String,
    /// The log-probability of every token (cascade confidence).
    logprob: f64,
    confidence: Option<f64>,
    /// Answers whose body was dropped before it ended: the gateway closed
    /// the connection (a cancelled hedge, a client that went away).
    abandoned: usize,
    /// What the classifier route answers as `value`.
    class_value: J,
}

/// A fake upstream.
#[derive(Clone, Debug)]
pub struct Fake {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl Fake {
    pub async fn start() -> Fake {
        let script = Arc::new(Mutex::new(Script {
            text: "hello from the fake".into(),
            ..Script::default()
        }));
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .route("/http", post(http_backend))
            .route("/classify", post(classify))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { addr, script }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues acts for the next requests (then `default`, else `ok`).
    pub fn then(&self, acts: impl IntoIterator<Item = Act>) -> &Fake {
        self.script.lock().unwrap().acts.extend(acts);
        self
    }

    pub fn always(&self, act: Act) -> &Fake {
        self.script.lock().unwrap().default = Some(act);
        self
    }

    pub fn text(&self, text: &str) -> &Fake {
        self.script.lock().unwrap().text = text.into();
        self
    }

    pub fn logprob(&self, lp: f64) -> &Fake {
        self.script.lock().unwrap().logprob = lp;
        self
    }

    pub fn confidence(&self, c: f64) -> &Fake {
        self.script.lock().unwrap().confidence = Some(c);
        self
    }

    /// The value the classifier route answers.
    pub fn class_value(&self, value: J) -> &Fake {
        self.script.lock().unwrap().class_value = value;
        self
    }

    /// Answers abandoned by the gateway before they ended.
    pub fn abandoned(&self) -> usize {
        self.script.lock().unwrap().abandoned
    }

    /// Waits (bounded, 10 s) until `n` answers were abandoned; returns the count.
    pub async fn wait_abandoned(&self, n: usize) -> usize {
        for _ in 0..1000 {
            if self.abandoned() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.abandoned()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }

    pub fn count(&self) -> usize {
        self.script.lock().unwrap().seen.len()
    }

    fn next(
        &self,
        path: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> (Act, String, f64, Option<f64>) {
        let mut s = self.script.lock().unwrap();
        s.seen.push(Seen {
            path: path.into(),
            headers: headers.clone(),
            body: serde_json::from_slice(body).unwrap_or(J::Null),
        });
        let act = s
            .acts
            .pop_front()
            .or_else(|| s.default.clone())
            .unwrap_or_else(Act::ok);
        (act, s.text.clone(), s.logprob, s.confidence)
    }
}

type Chunks = Vec<(Duration, Result<Bytes, std::io::Error>)>;

/// Counts an answer as abandoned when its body is dropped before its end.
struct Watch {
    /// `None` once the answer ended.
    script: Option<Arc<Mutex<Script>>>,
}

impl Watch {
    fn end(&mut self) {
        drop(self.script.take());
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(s) = self.script.take() {
            s.lock().unwrap().abandoned += 1;
        }
    }
}

fn sse(chunks: Chunks, script: &Arc<Mutex<Script>>) -> Response {
    let watch = Watch {
        script: Some(script.clone()),
    };
    let stream = futures_util::stream::unfold(
        (chunks.into_iter(), watch),
        |(mut it, mut watch)| async move {
            let Some((delay, item)) = it.next() else {
                watch.end();
                return None;
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if item.is_err() {
                // A scripted reset is not the gateway's doing.
                watch.end();
            }
            Some((item, (it, watch)))
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn stall() -> (Duration, Result<Bytes, std::io::Error>) {
    (Duration::from_secs(3600), Ok(Bytes::new()))
}

fn reset() -> (Duration, Result<Bytes, std::io::Error>) {
    (Duration::ZERO, Err(std::io::Error::other("reset")))
}

/// A reset after what was sent so far reached the client (the server
/// flushes before it breaks the connection).
fn reset_later() -> (Duration, Result<Bytes, std::io::Error>) {
    (
        Duration::from_millis(50),
        Err(std::io::Error::other("reset")),
    )
}

fn error_status(code: u16, retry_after: Option<u32>) -> Response {
    let mut r = (
        StatusCode::from_u16(code).unwrap(),
        json!({"error": {"message": format!("fake status {code}"), "type": "fake"}}).to_string(),
    )
        .into_response();
    if let Some(s) = retry_after {
        r.headers_mut()
            .insert("retry-after", s.to_string().parse().unwrap());
    }
    r
}

async fn openai(State(s): State<Arc<Mutex<Script>>>, headers: HeaderMap, body: Bytes) -> Response {
    let fake = Fake {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        script: s,
    };
    let (act, text, logprob, _) = fake.next("/v1/chat/completions", &headers, &body);
    let words: Vec<String> = text.split(' ').map(|w| format!("{w} ")).collect();
    let chunk = |delta: J, finish: J| -> Bytes {
        let lp: Vec<J> = if delta
            .get("content")
            .and_then(J::as_str)
            .is_some_and(|c| !c.is_empty())
        {
            vec![json!({"token": "x", "logprob": logprob})]
        } else {
            vec![]
        };
        Bytes::from(format!(
            "data: {}\n\n",
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "fake",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": {"content": lp}}]})
        ))
    };
    let usage = Bytes::from(format!(
        "data: {}\n\n",
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "fake", "choices": [],
               "usage": {"prompt_tokens": 10, "completion_tokens": words.len(), "total_tokens": 10 + words.len()}})
    ));
    let mut chunks: Chunks = Vec::new();
    match act {
        Act::Status(code, ra) => return error_status(code, ra),
        Act::Malformed => {
            return Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from("data: {not json\n\n"))
                .unwrap();
        }
        Act::Reset => chunks.push(reset()),
        Act::Answer { ttft, gap } => {
            chunks.push((
                ttft,
                Ok(chunk(json!({"role": "assistant", "content": ""}), J::Null)),
            ));
            for (i, w) in words.iter().enumerate() {
                let d = if i == 0 { Duration::ZERO } else { gap };
                chunks.push((d, Ok(chunk(json!({"content": w}), J::Null))));
            }
            chunks.push((
                Duration::ZERO,
                Ok(chunk(json!({}), J::String("stop".into()))),
            ));
            chunks.push((Duration::ZERO, Ok(usage)));
            chunks.push((Duration::ZERO, Ok(Bytes::from_static(b"data: [DONE]\n\n"))));
        }
        Act::StallMidStream | Act::ResetMidStream => {
            chunks.push((
                Duration::ZERO,
                Ok(chunk(json!({"role": "assistant", "content": ""}), J::Null)),
            ));
            chunks.push((
                Duration::ZERO,
                Ok(chunk(json!({"content": "partial "}), J::Null)),
            ));
            chunks.push(if matches!(act, Act::StallMidStream) {
                stall()
            } else {
                reset_later()
            });
        }
    }
    sse(chunks, &fake.script)
}

async fn anthropic(
    State(s): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fake = Fake {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        script: s,
    };
    let (act, text, _, _) = fake.next("/v1/messages", &headers, &body);
    let ev =
        |name: &str, data: J| -> Bytes { Bytes::from(format!("event: {name}\ndata: {data}\n\n")) };
    let mut chunks: Chunks = Vec::new();
    let start = ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-fake", "usage": {"input_tokens": 12, "output_tokens": 1}}}),
    );
    match act {
        Act::Status(code, ra) => return error_status(code, ra),
        Act::Malformed => {
            return Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from("event: message_start\ndata: {oops\n\n"))
                .unwrap();
        }
        Act::Reset => chunks.push(reset()),
        Act::Answer { ttft, gap } => {
            chunks.push((ttft, Ok(start)));
            chunks.push((Duration::ZERO, Ok(ev("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})))));
            let words: Vec<String> = text.split(' ').map(|w| format!("{w} ")).collect();
            for (i, w) in words.iter().enumerate() {
                let d = if i == 0 { Duration::ZERO } else { gap };
                chunks.push((d, Ok(ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}})))));
            }
            chunks.push((
                Duration::ZERO,
                Ok(ev(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": 0}),
                )),
            ));
            chunks.push((Duration::ZERO, Ok(ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": words.len()}})))));
            chunks.push((
                Duration::ZERO,
                Ok(ev("message_stop", json!({"type": "message_stop"}))),
            ));
        }
        Act::StallMidStream | Act::ResetMidStream => {
            chunks.push((Duration::ZERO, Ok(start)));
            chunks.push((Duration::ZERO, Ok(ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "partial "}})))));
            chunks.push(if matches!(act, Act::StallMidStream) {
                stall()
            } else {
                reset_later()
            });
        }
    }
    sse(chunks, &fake.script)
}

async fn http_backend(
    State(s): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fake = Fake {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        script: s,
    };
    let (act, text, _, confidence) = fake.next("/http", &headers, &body);
    match act {
        Act::Status(code, ra) => error_status(code, ra),
        Act::Malformed => (StatusCode::OK, "{not json").into_response(),
        Act::Answer { ttft, .. } => {
            tokio::time::sleep(ttft).await;
            let mut j = json!({"content": text, "usage": {"input_tokens": 5, "output_tokens": 7}});
            if let Some(c) = confidence {
                j["confidence"] = json!(c);
            }
            (StatusCode::OK, j.to_string()).into_response()
        }
        Act::Reset | Act::ResetMidStream => sse(vec![reset()], &fake.script),
        Act::StallMidStream => sse(vec![stall()], &fake.script),
    }
}

/// A classifier: `{"value": V}` after the act's TTFT, or the act's status.
async fn classify(
    State(s): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fake = Fake {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        script: s,
    };
    let (act, ..) = fake.next("/classify", &headers, &body);
    let value = fake.script.lock().unwrap().class_value.clone();
    match act {
        Act::Status(code, ra) => error_status(code, ra),
        Act::Malformed => (StatusCode::OK, "{not json").into_response(),
        Act::Answer { ttft, .. } => {
            tokio::time::sleep(ttft).await;
            (StatusCode::OK, json!({ "value": value }).to_string()).into_response()
        }
        Act::Reset | Act::ResetMidStream => sse(vec![reset()], &fake.script),
        Act::StallMidStream => sse(vec![stall()], &fake.script),
    }
}

/// A loader over a policy text (compiled by the driver), swappable.
#[derive(Debug)]
pub struct TextLoader {
    pub text: Mutex<String>,
}

impl TextLoader {
    pub fn new(text: &str) -> Arc<TextLoader> {
        Arc::new(TextLoader {
            text: Mutex::new(text.to_owned()),
        })
    }
    pub fn set(&self, text: &str) {
        *self.text.lock().unwrap() = text.to_owned();
    }
}

pub fn compile(text: &str) -> Result<Table, String> {
    let source = routec_driver::Source::buffer("policy.route", text, None);
    match routec_driver::compile_source(source, None) {
        Ok(p) => Ok(p.compiled.table),
        Err(f) => Err(format!("{f:?}")),
    }
}

impl Loader for TextLoader {
    fn load(&self) -> Result<routec_runtime::Router, String> {
        let text = self.text.lock().unwrap().clone();
        routec_runtime::Router::new(compile(&text)?).map_err(|e| e.to_string())
    }
    fn watched(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
    fn refit(&self, records: String) -> Result<(routec_runtime::Router, String), String> {
        let text = self.text.lock().unwrap().clone();
        let source = routec_driver::Source::buffer("policy.route", &text, None);
        let checked = routec_driver::check(source).map_err(|f| format!("{f:?}"))?;
        let p =
            routec_driver::refit(checked, None, "window", records).map_err(|f| format!("{f:?}"))?;
        let router = routec_runtime::Router::new(p.compiled.table).map_err(|e| e.to_string())?;
        Ok((router, "re-fitted".to_owned()))
    }
}

pub fn env(vars: &[(&str, String)]) -> Env {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    Arc::new(move |k: &str| map.get(k).cloned())
}

pub fn options() -> Options {
    Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        watch_interval: None,
        ..Options::default()
    }
}

pub async fn gateway(loader: Arc<dyn Loader>, env: Env, options: Options) -> Running {
    routec_gateway::start(loader, options, env, Arc::new(LocalState::new()), false)
        .await
        .unwrap()
}

/// A plain HTTP client for the gateway.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

pub fn chat(model: &str) -> J {
    json!({"model": model, "messages": [{"role": "user", "content": "hi there"}]})
}

/// Reads an SSE body into its `data:` payloads.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// The value of a metric line (exact name and labels), 0 when absent.
pub fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == name_and_labels).then(|| v.parse::<f64>().ok())?
        })
        .unwrap_or(0.0)
}

/// The gateway's `/metrics` text, with the inbound bearer `key` when the
/// gateway asks for one.
pub async fn scrape(addr: SocketAddr, key: Option<&str>) -> String {
    let mut request = client().get(format!("http://{addr}/metrics"));
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    request.send().await.unwrap().text().await.unwrap()
}

/// A fresh directory under the system's temporary one, removed when
/// dropped: `routec-KIND-NAME-PID`.
#[derive(Debug)]
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(kind: &str, name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("routec-{kind}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}
