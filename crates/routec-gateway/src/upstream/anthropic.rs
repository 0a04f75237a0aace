//! Anthropic's Messages API, translated both ways.
//!
//! Request (OpenAI → Anthropic): `system` messages become `system`; text
//! and `image_url` parts (data URLs as base64 sources, others as URL
//! sources) become content blocks; an assistant's `tool_calls` become
//! `tool_use` blocks and `tool` messages `tool_result` blocks of a user
//! turn; consecutive turns of one role are merged; `max_completion_tokens`
//! or `max_tokens` (default [`DEFAULT_MAX_TOKENS`]) is `max_tokens`;
//! `temperature`, `top_p` and `stop` (as `stop_sequences`) carry over;
//! `tools` become `{name, description, input_schema}` and `tool_choice`
//! `auto`/`required`/`none`/a function becomes `auto`/`any`/`none`/`tool`.
//! The model's `params` are merged into the body last.
//!
//! Answer (Anthropic → OpenAI): the stream's `message_start`,
//! `content_block_*`, `message_delta` and `message_stop` events become
//! `chat.completion.chunk`s (text deltas as `content`, `tool_use` blocks as
//! `tool_calls` with their JSON arguments streamed); `stop_reason`
//! `end_turn`/`stop_sequence` → `stop`, `max_tokens` → `length`,
//! `tool_use` → `tool_calls`; `usage.input_tokens`/`output_tokens` →
//! `prompt_tokens`/`completion_tokens`; an `error` event is a failure
//! (`overloaded_error` 529, `rate_limit_error` 429, others 500).

use futures_util::StreamExt;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde_json::{Value as J, json};

use super::client::{Client, RequestBuilder, Target};
use super::{ByteStream, Chunk, ChunkStream, Fault, Usage, sse};
use crate::loaded::ModelRt;

/// `max_tokens` when the client gave none (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;
/// The API version sent as `anthropic-version`.
pub const API_VERSION: &str = "2023-06-01";

fn text_of(content: Option<&J>) -> String {
    match content {
        Some(J::String(s)) => s.clone(),
        Some(J::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(J::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn blocks(content: Option<&J>) -> Vec<J> {
    match content {
        Some(J::String(s)) if !s.is_empty() => vec![json!({"type": "text", "text": s})],
        Some(J::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p.get("type").and_then(J::as_str) {
                Some("text") => Some(json!({"type": "text", "text": p.get("text").cloned().unwrap_or(J::String(String::new()))})),
                Some("image_url") => {
                    let url = p
                        .get("image_url")
                        .and_then(|u| u.get("url").or(Some(u)))
                        .and_then(J::as_str)?;
                    Some(image(url))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn image(url: &str) -> J {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
    {
        let media = meta.strip_suffix(";base64").unwrap_or(meta);
        return json!({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}});
    }
    json!({"type": "image", "source": {"type": "url", "url": url}})
}

/// The Messages request for an OpenAI chat request.
pub fn translate_request(model: &ModelRt, body: &serde_json::Map<String, J>) -> J {
    let mut system = Vec::new();
    let mut turns: Vec<(String, Vec<J>)> = Vec::new();
    let mut push = |role: &str, mut content: Vec<J>| {
        if content.is_empty() {
            return;
        }
        match turns.last_mut() {
            Some((r, c)) if r == role => c.append(&mut content),
            _ => turns.push((role.to_owned(), content)),
        }
    };
    for m in body
        .get("messages")
        .and_then(J::as_array)
        .into_iter()
        .flatten()
    {
        match m.get("role").and_then(J::as_str) {
            Some("system" | "developer") => system.push(text_of(m.get("content"))),
            Some("assistant") => {
                let mut content = blocks(m.get("content"));
                for tc in m
                    .get("tool_calls")
                    .and_then(J::as_array)
                    .into_iter()
                    .flatten()
                {
                    let f = tc.get("function");
                    let args = f
                        .and_then(|f| f.get("arguments"))
                        .and_then(J::as_str)
                        .and_then(|a| serde_json::from_str::<J>(a).ok())
                        .unwrap_or_else(|| json!({}));
                    content.push(json!({
                        "type": "tool_use",
                        "id": tc.get("id").cloned().unwrap_or(J::String(String::new())),
                        "name": f.and_then(|f| f.get("name")).cloned().unwrap_or(J::String(String::new())),
                        "input": args,
                    }));
                }
                push("assistant", content);
            }
            Some("tool") => push(
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": m.get("tool_call_id").cloned().unwrap_or(J::String(String::new())),
                    "content": text_of(m.get("content")),
                })],
            ),
            _ => push("user", blocks(m.get("content"))),
        }
    }
    let messages: Vec<J> = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut out = serde_json::Map::new();
    out.insert(
        "model".into(),
        J::String(model.upstream.clone().unwrap_or_else(|| model.name.clone())),
    );
    out.insert("messages".into(), J::Array(messages));
    let system = system.join("\n\n");
    if !system.is_empty() {
        out.insert("system".into(), J::String(system));
    }
    let max = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(J::as_u64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), J::from(max));
    for k in ["temperature", "top_p"] {
        if let Some(v) = body.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    match body.get("stop") {
        Some(J::String(s)) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Some(J::Array(a)) if !a.is_empty() => {
            out.insert("stop_sequences".into(), J::Array(a.clone()));
        }
        _ => {}
    }
    if let Some(tools) = body
        .get("tools")
        .and_then(J::as_array)
        .filter(|t| !t.is_empty())
    {
        let tools: Vec<J> = tools
            .iter()
            .filter_map(|t| {
                let f = t.get("function")?;
                let mut tool = serde_json::Map::new();
                tool.insert("name".into(), f.get("name")?.clone());
                if let Some(d) = f.get("description") {
                    tool.insert("description".into(), d.clone());
                }
                tool.insert(
                    "input_schema".into(),
                    f.get("parameters")
                        .cloned()
                        .unwrap_or_else(|| json!({"type": "object"})),
                );
                Some(J::Object(tool))
            })
            .collect();
        out.insert("tools".into(), J::Array(tools));
    }
    match body.get("tool_choice") {
        Some(J::String(s)) if s == "auto" => {
            out.insert("tool_choice".into(), json!({"type": "auto"}));
        }
        Some(J::String(s)) if s == "required" => {
            out.insert("tool_choice".into(), json!({"type": "any"}));
        }
        Some(J::String(s)) if s == "none" => {
            out.insert("tool_choice".into(), json!({"type": "none"}));
        }
        Some(J::Object(o)) => {
            if let Some(name) = o.get("function").and_then(|f| f.get("name")) {
                out.insert("tool_choice".into(), json!({"type": "tool", "name": name}));
            }
        }
        _ => {}
    }
    out.insert("stream".into(), J::Bool(true));
    for (k, v) in &model.params {
        out.insert(k.clone(), v.clone());
    }
    J::Object(out)
}

pub fn build(
    client: &Client,
    target: &Target,
    model: &ModelRt,
    body: &serde_json::Map<String, J>,
) -> RequestBuilder {
    let mut req = client
        .post(target)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        )
        .body(translate_request(model, body).to_string());
    if let Some(key) = &model.api_key {
        req = req.header(HeaderName::from_static("x-api-key"), key.as_str());
    }
    req
}

fn finish_reason(stop: &str) -> &'static str {
    match stop {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Turns Anthropic stream events into OpenAI chunks.
#[derive(Debug, Default)]
pub struct Translator {
    id: String,
    model: String,
    usage: Usage,
    /// Content block index → tool call index.
    tools: Vec<(u64, u64)>,
    finished: bool,
}

impl Translator {
    fn chunk(&self, delta: J, finish: Option<&str>) -> J {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
        })
    }

    /// The chunk of one event: `Ok(None)` to skip it, `Err` on failure.
    /// `message_stop` gives the final usage chunk and marks the end.
    pub fn event(&mut self, kind: &str, data: &J) -> Result<Option<Chunk>, Fault> {
        let chunk = |json: J, token: bool| Chunk::written(&json, token, Usage::default());
        Ok(match kind {
            "message_start" => {
                let m = data.get("message");
                self.id = m
                    .and_then(|m| m.get("id"))
                    .and_then(J::as_str)
                    .unwrap_or("msg")
                    .to_owned();
                self.model = m
                    .and_then(|m| m.get("model"))
                    .and_then(J::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let u = m.and_then(|m| m.get("usage"));
                self.usage.input = u.and_then(|u| u.get("input_tokens")).and_then(J::as_u64);
                let mut c = chunk(
                    self.chunk(json!({"role": "assistant", "content": ""}), None),
                    false,
                );
                // Known from the start: an answer cut short still costs it.
                c.usage.input = self.usage.input;
                Some(c)
            }
            "content_block_start" => {
                let block = data.get("content_block");
                let index = data.get("index").and_then(J::as_u64).unwrap_or(0);
                match block.and_then(|b| b.get("type")).and_then(J::as_str) {
                    Some("tool_use") => {
                        let k = self.tools.len() as u64;
                        self.tools.push((index, k));
                        let delta = json!({"tool_calls": [{
                            "index": k,
                            "id": block.and_then(|b| b.get("id")).cloned().unwrap_or(J::Null),
                            "type": "function",
                            "function": {
                                "name": block.and_then(|b| b.get("name")).cloned().unwrap_or(J::Null),
                                "arguments": "",
                            },
                        }]});
                        Some(chunk(self.chunk(delta, None), true))
                    }
                    Some("text") => {
                        let text = block
                            .and_then(|b| b.get("text"))
                            .and_then(J::as_str)
                            .unwrap_or("");
                        (!text.is_empty())
                            .then(|| chunk(self.chunk(json!({"content": text}), None), true))
                    }
                    _ => None,
                }
            }
            "content_block_delta" => {
                let d = data.get("delta");
                let index = data.get("index").and_then(J::as_u64).unwrap_or(0);
                match d.and_then(|d| d.get("type")).and_then(J::as_str) {
                    Some("text_delta") => {
                        let text = d
                            .and_then(|d| d.get("text"))
                            .and_then(J::as_str)
                            .unwrap_or("");
                        Some(chunk(
                            self.chunk(json!({"content": text}), None),
                            !text.is_empty(),
                        ))
                    }
                    Some("input_json_delta") => {
                        let k = self
                            .tools
                            .iter()
                            .find(|(i, _)| *i == index)
                            .map_or(0, |(_, k)| *k);
                        let part = d
                            .and_then(|d| d.get("partial_json"))
                            .and_then(J::as_str)
                            .unwrap_or("");
                        let delta =
                            json!({"tool_calls": [{"index": k, "function": {"arguments": part}}]});
                        Some(chunk(self.chunk(delta, None), true))
                    }
                    _ => None,
                }
            }
            "message_delta" => {
                if let Some(o) = data
                    .get("usage")
                    .and_then(|u| u.get("output_tokens"))
                    .and_then(J::as_u64)
                {
                    self.usage.output = Some(o);
                }
                let stop = data
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(J::as_str)
                    .map(finish_reason);
                stop.map(|s| chunk(self.chunk(json!({}), Some(s)), false))
            }
            "message_stop" => {
                self.finished = true;
                let input = self.usage.input.unwrap_or(0);
                let output = self.usage.output.unwrap_or(0);
                let mut c = chunk(
                    json!({
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": self.model,
                        "choices": [],
                        "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
                    }),
                    false,
                );
                c.usage = self.usage;
                Some(c)
            }
            "error" => {
                let e = data.get("error");
                let kind = e
                    .and_then(|e| e.get("type"))
                    .and_then(J::as_str)
                    .unwrap_or("");
                let code = match kind {
                    "overloaded_error" => 529,
                    "rate_limit_error" => 429,
                    _ => 500,
                };
                let message = e
                    .and_then(|e| e.get("message"))
                    .and_then(J::as_str)
                    .unwrap_or(kind)
                    .to_owned();
                return Err(Fault::Status {
                    code,
                    retry_after: None,
                    message,
                });
            }
            _ => None,
        })
    }

    pub fn finished(&self) -> bool {
        self.finished
    }
}

/// A whole (non-streamed) Messages answer as chunks.
pub fn message_chunks(j: &J) -> Result<Vec<Chunk>, Fault> {
    let mut t = Translator::default();
    let mut out = Vec::new();
    let start =
        json!({"message": {"id": j.get("id"), "model": j.get("model"), "usage": j.get("usage")}});
    out.extend(t.event("message_start", &start)?);
    for (i, block) in j
        .get("content")
        .and_then(J::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match block.get("type").and_then(J::as_str) {
            Some("text") => {
                let start = json!({"index": i, "content_block": {"type": "text", "text": ""}});
                out.extend(t.event("content_block_start", &start)?);
                let d =
                    json!({"index": i, "delta": {"type": "text_delta", "text": block.get("text")}});
                out.extend(t.event("content_block_delta", &d)?);
            }
            Some("tool_use") => {
                let start = json!({"index": i, "content_block": block});
                out.extend(t.event("content_block_start", &start)?);
                let args = block.get("input").map(J::to_string).unwrap_or_default();
                let d = json!({"index": i, "delta": {"type": "input_json_delta", "partial_json": args}});
                out.extend(t.event("content_block_delta", &d)?);
            }
            _ => {}
        }
    }
    let delta = json!({"delta": {"stop_reason": j.get("stop_reason")}, "usage": j.get("usage")});
    out.extend(t.event("message_delta", &delta)?);
    out.extend(t.event("message_stop", &json!({}))?);
    Ok(out)
}

pub fn chunks(bytes: ByteStream) -> ChunkStream {
    struct St {
        events:
            std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<sse::Event, Fault>> + Send>>,
        t: Translator,
        done: bool,
    }
    let st = St {
        events: Box::pin(sse::events(bytes)),
        t: Translator::default(),
        done: false,
    };
    Box::pin(futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if st.done || st.t.finished() {
                return None;
            }
            match st.events.next().await {
                None => {
                    st.done = true;
                    return Some((
                        Err(Fault::Connection(
                            "the stream ended before message_stop".into(),
                        )),
                        st,
                    ));
                }
                Some(Err(f)) => {
                    st.done = true;
                    return Some((Err(f), st));
                }
                Some(Ok(e)) => {
                    let data: J = match serde_json::from_str(&e.data) {
                        Ok(j) => j,
                        Err(err) => {
                            st.done = true;
                            return Some((
                                Err(Fault::Malformed(format!("bad JSON event: {err}"))),
                                st,
                            ));
                        }
                    };
                    let kind = e
                        .event
                        .clone()
                        .or_else(|| data.get("type").and_then(J::as_str).map(str::to_owned))
                        .unwrap_or_default();
                    match st.t.event(&kind, &data) {
                        Ok(Some(c)) => return Some((Ok(c), st)),
                        Ok(None) => continue,
                        Err(f) => {
                            st.done = true;
                            return Some((Err(f), st));
                        }
                    }
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelRt {
        ModelRt {
            name: "large".into(),
            provider: super::super::Provider::Anthropic,
            endpoint: Some("http://x".into()),
            call_url: None,
            api_key: None,
            upstream: Some("claude-sonnet-4-5".into()),
            params: serde_json::Map::new(),
            price: Default::default(),
            faults: Default::default(),
            fallback: None,
            openai_family: false,
        }
    }

    #[test]
    fn requests_translate() {
        let body = json!({
            "model": "p",
            "max_tokens": 100,
            "stop": "END",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
        });
        let out = translate_request(&model(), body.as_object().unwrap());
        insta::assert_snapshot!(format!(
            "OpenAI request:\n{}\n\nAnthropic request:\n{}",
            serde_json::to_string_pretty(&body).unwrap(),
            serde_json::to_string_pretty(&out).unwrap()
        ));
    }

    #[test]
    fn answers_translate() {
        let answer = json!({
            "id": "msg_1", "model": "claude", "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "Hello"}],
            "usage": {"input_tokens": 12, "output_tokens": 3},
        });
        let chunks = message_chunks(&answer).unwrap();
        let agg = super::super::aggregate(&chunks, "large", false);
        assert_eq!(agg["choices"][0]["message"]["content"], "Hello");
        assert_eq!(agg["choices"][0]["finish_reason"], "stop");
        assert_eq!(agg["usage"]["prompt_tokens"], 12);
        assert_eq!(agg["usage"]["completion_tokens"], 3);
    }
}
