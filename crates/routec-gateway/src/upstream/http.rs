//! `provider http`: a non-LLM backend (search, retrieval, rules) behind a
//! small JSON contract (documented in `docs/proxy.md`):
//!
//! - request: `POST {endpoint}` with the client's chat request as JSON
//!   (`model` set to the model's `upstream` or name, `params` merged in,
//!   `stream` and `metadata` removed);
//! - answer: status 2xx and `{"content": "text", "confidence": 0.9,
//!   "usage": {"input_tokens": 10, "output_tokens": 20}}` (`confidence` and
//!   `usage` optional); any other status is a failure with that status.
//!
//! The whole answer arrives at once: its TTFT is its latency.

use ::http::header::{CONTENT_TYPE, HeaderValue};
use futures_util::StreamExt;
use serde_json::{Value as J, json};

use super::client::{Client, RequestBuilder, Target};

use super::{ByteStream, Chunk, ChunkStream, Fault, Usage, body_bytes, forwarded_body};
use crate::loaded::ModelRt;

/// The longest answer read.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

pub fn build(
    client: &Client,
    target: &Target,
    model: &ModelRt,
    body: &serde_json::Map<String, J>,
) -> RequestBuilder {
    let mut out = forwarded_body(model, body);
    out.remove("stream");
    out.remove("stream_options");
    let mut req = client
        .post(target)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(body_bytes(&out));
    if let Some(key) = &model.api_key {
        req = req.bearer_auth(key);
    }
    req
}

/// The answer as one chunk.
pub fn answer_chunk(text: &[u8]) -> Result<Chunk, Fault> {
    let j: J =
        serde_json::from_slice(text).map_err(|e| Fault::Malformed(format!("bad JSON: {e}")))?;
    let Some(content) = j.get("content").and_then(J::as_str) else {
        return Err(Fault::Malformed(
            "the answer has no string `content`".into(),
        ));
    };
    let confidence = j
        .get("confidence")
        .and_then(J::as_f64)
        .filter(|c| (0.0..=1.0).contains(c));
    let u = j.get("usage");
    let usage = Usage {
        input: u.and_then(|u| u.get("input_tokens")).and_then(J::as_u64),
        output: u.and_then(|u| u.get("output_tokens")).and_then(J::as_u64),
    };
    let mut json = json!({
        "id": "routec-http",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": "stop", "logprobs": null}],
    });
    if usage.input.is_some() || usage.output.is_some() {
        let (i, o) = (usage.input.unwrap_or(0), usage.output.unwrap_or(0));
        if let Some(obj) = json.as_object_mut() {
            obj.insert(
                "usage".into(),
                json!({"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o}),
            );
        }
    }
    Ok(Chunk {
        confidence,
        ..Chunk::written(&json, true, usage)
    })
}

pub fn chunks(mut bytes: ByteStream) -> ChunkStream {
    Box::pin(futures_util::stream::once(async move {
        let mut buf = Vec::new();
        while let Some(part) = bytes.next().await {
            let part = part.map_err(|e| Fault::Connection(e.to_string()))?;
            buf.extend_from_slice(&part);
            if buf.len() > MAX_ANSWER_BYTES {
                return Err(Fault::Malformed("the answer is too large".into()));
            }
        }
        answer_chunk(&buf)
    }))
}
