//! Upstream adapters. Every provider's answer becomes a stream of
//! [`Chunk`]s in OpenAI's `chat.completion.chunk` shape, whatever the
//! client asked: streaming upstreams are always called with `stream: true`
//! (so the gateway sees the first token, enforces TTFT timeouts and hedges),
//! and non-streaming clients get the chunks aggregated ([`aggregate`]).
//!
//! - `openai` (and no provider): OpenAI-compatible `POST
//!   {endpoint}/chat/completions` (OpenAI, vLLM, TGI, Together, Groq...).
//! - `anthropic`: the Messages API, translated both ways ([`anthropic`]).
//! - `http`: a non-LLM backend with a small JSON contract ([`http`]).

pub mod anthropic;
pub mod chunk;
pub mod client;
pub mod egress;
pub mod http;
pub mod openai;
pub mod sse;

use std::borrow::Cow;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use serde_json::Value as J;

pub use chunk::{Chunk, Kind, aggregate};

/// Which adapter talks to a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Anthropic,
    Http,
}

impl Provider {
    /// `openai` and unknown or absent providers speak OpenAI's API.
    pub fn parse(provider: Option<&str>) -> Provider {
        match provider {
            Some("anthropic") => Provider::Anthropic,
            Some("http") => Provider::Http,
            _ => Provider::OpenAi,
        }
    }

    /// Where a model without `endpoint` is served.
    pub fn default_endpoint(self) -> Option<&'static str> {
        match self {
            Provider::OpenAi => Some("https://api.openai.com/v1"),
            Provider::Anthropic => Some("https://api.anthropic.com"),
            Provider::Http => None,
        }
    }
}

/// Tokens billed for one call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub input: Option<u64>,
    pub output: Option<u64>,
}

impl Usage {
    pub fn merge(&mut self, other: Usage) {
        if other.input.is_some() {
            self.input = other.input;
        }
        if other.output.is_some() {
            self.output = other.output;
        }
    }
}

/// Why an attempt failed.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// The upstream answered with an error status.
    Status {
        code: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    /// No first token within the TTFT timeout.
    TtftTimeout,
    /// The answer did not end within the total timeout.
    Timeout,
    /// Could not connect, or the connection broke.
    Connection(String),
    /// The answer could not be read (bad JSON, bad events).
    Malformed(String),
    /// The model is cooling down; it was not called.
    Cooldown,
    /// The model has no endpoint.
    Unconfigured,
}

impl Fault {
    /// The label metrics and decision logs use: the status code, or
    /// `ttft_timeout`, `timeout`, `connection`, `malformed`, `cooldown`,
    /// `unconfigured`.
    pub fn label(&self) -> String {
        match self {
            Fault::Status { code, .. } => code.to_string(),
            Fault::TtftTimeout => "ttft_timeout".into(),
            Fault::Timeout => "timeout".into(),
            Fault::Connection(_) => "connection".into(),
            Fault::Malformed(_) => "malformed".into(),
            Fault::Cooldown => "cooldown".into(),
            Fault::Unconfigured => "unconfigured".into(),
        }
    }

    /// Whether a `retry ... on [...]` list covers this fault: a status code
    /// (`429`), a class (`5xx`, `4xx`) or `timeout` (TTFT or total). A
    /// connection failure or a malformed answer counts as a `5xx` (the
    /// model's base errors). Cooldowns and missing endpoints are never
    /// retried.
    pub fn retryable(&self, on: &[String]) -> bool {
        on.iter().any(|class| {
            let class = class.trim().to_ascii_lowercase();
            match self {
                Fault::Status { code, .. } => {
                    class == code.to_string()
                        || (class.len() == 3
                            && class.ends_with("xx")
                            && class.as_bytes()[0] == b'0' + (code / 100) as u8)
                }
                Fault::TtftTimeout | Fault::Timeout => class == "timeout",
                Fault::Connection(_) | Fault::Malformed(_) => class == "5xx",
                Fault::Cooldown | Fault::Unconfigured => false,
            }
        })
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, Fault::TtftTimeout | Fault::Timeout)
    }

    /// A short description for error messages (never the upstream's body
    /// beyond 200 characters).
    pub fn describe(&self) -> String {
        match self {
            Fault::Status { code, message, .. } if message.is_empty() => format!("status {code}"),
            Fault::Status { code, message, .. } => {
                let m: String = message.chars().take(200).collect();
                format!("status {code}: {m}")
            }
            Fault::TtftTimeout => "no first token within the TTFT timeout".into(),
            Fault::Timeout => "timed out".into(),
            Fault::Connection(e) => format!("connection failed: {e}"),
            Fault::Malformed(e) => format!("malformed answer: {e}"),
            Fault::Cooldown => "cooling down".into(),
            Fault::Unconfigured => "no endpoint configured".into(),
        }
    }
}

/// The chunks of one upstream answer.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, Fault>> + Send>>;

/// The byte stream of a response body.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, client::Error>> + Send>>;

/// What an attempt needs from the request.
#[derive(Clone, Copy, Debug)]
pub struct CallOptions {
    /// Ask for token log-probabilities (a cascade stage that is not last).
    pub logprobs: bool,
}

/// Builds the upstream request for `model` (to the URL parsed when the
/// table loaded).
pub fn build(
    client: &client::Client,
    model: &crate::loaded::ModelRt,
    body: &serde_json::Map<String, J>,
    options: CallOptions,
) -> Result<client::RequestBuilder, Fault> {
    let Some(target) = &model.call_url else {
        return Err(Fault::Unconfigured);
    };
    Ok(match model.provider {
        Provider::OpenAi => openai::build(client, target, model, body, options),
        Provider::Anthropic => anthropic::build(client, target, model, body),
        Provider::Http => http::build(client, target, model, body),
    })
}

/// Reads a successful response as chunks. A streaming provider that
/// answers with `application/json` (one whole answer) is read as such.
pub fn chunks(provider: Provider, response: client::Response) -> ChunkStream {
    let json = response
        .headers()
        .get(::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = response.bytes_stream();
    match provider {
        Provider::OpenAi if json => whole(bytes, |b| openai::json_chunk(b).map(|c| vec![c])),
        Provider::Anthropic if json => whole(bytes, |b| {
            let j: J = serde_json::from_slice(b)
                .map_err(|e| Fault::Malformed(format!("bad JSON: {e}")))?;
            anthropic::message_chunks(&j)
        }),
        Provider::OpenAi => openai::chunks(bytes),
        Provider::Anthropic => anthropic::chunks(bytes),
        Provider::Http => http::chunks(bytes),
    }
}

/// Reads a whole body, then yields the chunks `read` makes of it.
fn whole(mut bytes: ByteStream, read: fn(&[u8]) -> Result<Vec<Chunk>, Fault>) -> ChunkStream {
    use futures_util::StreamExt;
    let all = futures_util::stream::once(async move {
        let mut buf = Vec::new();
        while let Some(part) = bytes.next().await {
            let part = part.map_err(|e| Fault::Connection(e.to_string()))?;
            buf.extend_from_slice(&part);
            if buf.len() > http::MAX_ANSWER_BYTES {
                return Err(Fault::Malformed("the answer is too large".into()));
            }
        }
        read(&buf)
    });
    Box::pin(all.flat_map(|r| {
        let items: Vec<Result<Chunk, Fault>> = match r {
            Ok(chunks) => chunks.into_iter().map(Ok).collect(),
            Err(f) => vec![Err(f)],
        };
        futures_util::stream::iter(items)
    }))
}

/// The request body for an OpenAI-shaped upstream: the client's body with
/// `model` replaced by the model's `upstream` (when set) and its `params`
/// merged in; `metadata` (read by routing) is not forwarded. It borrows the
/// client's values (nothing is copied per attempt) and serializes as the
/// object would (keys in order, as `serde_json::Map` keeps them).
pub fn forwarded_body<'a>(
    model: &'a crate::loaded::ModelRt,
    body: &'a serde_json::Map<String, J>,
) -> Forwarded<'a> {
    let mut out: Forwarded<'a> = body
        .iter()
        .map(|(k, v)| (k.as_str(), Cow::Borrowed(v)))
        .collect();
    out.remove("metadata");
    let name = model.upstream.as_deref().unwrap_or(&model.name);
    out.insert("model", Cow::Owned(J::String(name.to_owned())));
    for (k, v) in &model.params {
        out.insert(k.as_str(), Cow::Borrowed(v));
    }
    out
}

/// A request body borrowing the client's values ([`forwarded_body`]).
pub type Forwarded<'a> = std::collections::BTreeMap<&'a str, Cow<'a, J>>;

/// The JSON text of a forwarded body.
pub fn body_bytes(body: &Forwarded<'_>) -> Vec<u8> {
    // Keys are strings and values JSON: serializing cannot fail.
    serde_json::to_vec(body).unwrap_or_default()
}

/// The wait a `Retry-After` value asks for at `now`: delay-seconds
/// (`120`, fractions accepted) or an HTTP date (`Wed, 21 Oct 2015 07:28:00
/// GMT`; a date in the past is no wait). At most a day; `None` when the
/// value is neither.
pub fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s.min(86_400.0)),
        Ok(_) => return None,
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(Duration::from_secs(86_400)))
}

/// Reads an error response: its status, `Retry-After` ([`retry_after`])
/// and a short message (from a body of at most [`http::MAX_ANSWER_BYTES`]
/// read within 500 ms).
pub async fn fault_of(response: client::Response) -> Fault {
    let code = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(::http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, std::time::SystemTime::now()));
    let text = tokio::time::timeout(
        Duration::from_millis(500),
        response.text(http::MAX_ANSWER_BYTES),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default();
    let message = serde_json::from_str::<J>(&text)
        .ok()
        .and_then(|j| {
            j.get("error")
                .and_then(|e| e.get("message").or(Some(e)))
                .and_then(J::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| text.chars().take(200).collect());
    Fault::Status {
        code,
        retry_after,
        message,
    }
}

/// Joins an endpoint and a path unless the endpoint already ends with it.
pub fn join(endpoint: &str, suffixes: &[&str]) -> String {
    let base = endpoint.trim_end_matches('/');
    // `suffixes` go from the full path to the shortest: `/v1/chat/completions`,
    // then what follows `/v1`.
    let full = suffixes.first().copied().unwrap_or("");
    if base.ends_with(full) {
        return base.to_owned();
    }
    if base.ends_with("/v1")
        && let Some(rest) = full.strip_prefix("/v1")
    {
        return format!("{base}{rest}");
    }
    format!("{base}{full}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classes() {
        let on: Vec<String> = ["429", "5xx", "timeout"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let status = |code| Fault::Status {
            code,
            retry_after: None,
            message: String::new(),
        };
        assert!(status(429).retryable(&on));
        assert!(status(503).retryable(&on));
        assert!(!status(400).retryable(&on));
        assert!(Fault::TtftTimeout.retryable(&on));
        assert!(Fault::Connection("reset".into()).retryable(&on));
        assert!(!Fault::Cooldown.retryable(&on));
        assert!(!status(503).retryable(&["429".to_string()]));
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_400);
        // 2015-10-21 07:26:40 UTC; the date below is 80 seconds later.
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(80))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(" 2 ", now), Some(Duration::from_secs(2)));
        assert_eq!(retry_after("0.5", now), Some(Duration::from_millis(500)));
        assert_eq!(
            retry_after("9999999", now),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(retry_after("-1", now), None);
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn endpoints_join_paths_once() {
        let s = ["/v1/chat/completions"];
        assert_eq!(
            join("http://h:8000", &s),
            "http://h:8000/v1/chat/completions"
        );
        assert_eq!(
            join("http://h:8000/v1/", &s),
            "http://h:8000/v1/chat/completions"
        );
        assert_eq!(
            join("http://h/v1/chat/completions", &s),
            "http://h/v1/chat/completions"
        );
    }
}
