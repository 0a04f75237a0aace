//! OpenAI-compatible upstreams: `POST {endpoint}/chat/completions` with
//! `stream: true` and `stream_options.include_usage`, read as SSE chunks
//! until `data: [DONE]`. A stream that ends without `[DONE]` failed
//! (the connection broke). An upstream that answers with one JSON
//! completion instead of a stream is accepted too.

use std::borrow::Cow;

use futures_util::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde_json::Value as J;

use super::client::{Client, RequestBuilder, Target};
use super::{
    ByteStream, CallOptions, Chunk, ChunkStream, Fault, Kind, body_bytes, forwarded_body, sse,
};
use crate::loaded::ModelRt;

pub fn build(
    client: &Client,
    target: &Target,
    model: &ModelRt,
    body: &serde_json::Map<String, J>,
    options: CallOptions,
) -> RequestBuilder {
    let mut out = forwarded_body(model, body);
    out.insert("stream", Cow::Owned(J::Bool(true)));
    let mut so = out
        .get("stream_options")
        .and_then(|o| o.as_object())
        .cloned()
        .unwrap_or_default();
    so.insert("include_usage".into(), J::Bool(true));
    out.insert("stream_options", Cow::Owned(J::Object(so)));
    if options.logprobs {
        out.insert("logprobs", Cow::Owned(J::Bool(true)));
    }
    let mut req = client
        .post(target)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
        .body(body_bytes(&out));
    if let Some(key) = &model.api_key {
        req = req.bearer_auth(key);
    }
    req
}

/// A whole `chat.completion` as one chunk.
pub fn completion_as_chunk(j: &J) -> J {
    let choices: Vec<J> = j
        .get("choices")
        .and_then(J::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let mut c = c.clone();
            if let Some(o) = c.as_object_mut()
                && let Some(m) = o.remove("message")
            {
                o.insert("delta".into(), m);
            }
            c
        })
        .collect();
    let mut out = j.clone();
    if let Some(o) = out.as_object_mut() {
        o.insert("object".into(), J::String("chat.completion.chunk".into()));
        o.insert("choices".into(), J::Array(choices));
    }
    out
}

pub fn chunks(bytes: ByteStream) -> ChunkStream {
    struct St {
        events:
            std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<sse::Event, Fault>> + Send>>,
        done: bool,
    }
    let st = St {
        events: Box::pin(sse::events(bytes)),
        done: false,
    };
    Box::pin(futures_util::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.events.next().await {
                None => {
                    st.done = true;
                    return Some((
                        Err(Fault::Connection("the stream ended before [DONE]".into())),
                        st,
                    ));
                }
                Some(Err(f)) => {
                    st.done = true;
                    return Some((Err(f), st));
                }
                Some(Ok(e)) => {
                    let data = e.data.trim();
                    if data == "[DONE]" {
                        return None;
                    }
                    if data.is_empty() {
                        continue;
                    }
                    // The event's text is the chunk's (no copy unless trimmed).
                    let text = if data.len() == e.data.len() {
                        e.data
                    } else {
                        data.to_owned()
                    };
                    let (chunk, kind) = match Chunk::read(text) {
                        Ok(read) => read,
                        Err(err) => {
                            st.done = true;
                            return Some((
                                Err(Fault::Malformed(format!("bad JSON chunk: {err}"))),
                                st,
                            ));
                        }
                    };
                    return Some(match kind {
                        Kind::Chunk => (Ok(chunk), st),
                        Kind::Error => {
                            st.done = true;
                            let json = chunk.json();
                            let message = json
                                .get("error")
                                .and_then(|err| err.get("message"))
                                .and_then(J::as_str)
                                .unwrap_or("error event")
                                .to_owned();
                            (
                                Err(Fault::Status {
                                    code: 500,
                                    retry_after: None,
                                    message,
                                }),
                                st,
                            )
                        }
                        Kind::Completion => {
                            // Not a stream after all: one completion.
                            st.done = true;
                            (completion_chunk(&chunk.json()), st)
                        }
                    });
                }
            }
        }
    }))
}

/// A whole `chat.completion` read as one chunk.
fn completion_chunk(json: &J) -> Result<Chunk, Fault> {
    Chunk::read(completion_as_chunk(json).to_string())
        .map(|(c, _)| c)
        .map_err(|e| Fault::Malformed(format!("bad JSON: {e}")))
}

/// Reads a JSON (non-SSE) body as one chunk.
pub fn json_chunk(text: &[u8]) -> Result<Chunk, Fault> {
    let json: J =
        serde_json::from_slice(text).map_err(|e| Fault::Malformed(format!("bad JSON: {e}")))?;
    completion_chunk(&json)
}
