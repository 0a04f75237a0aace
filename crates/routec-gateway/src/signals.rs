//! Reading a request's signals as the table declares them: headers, the
//! body's `metadata` object, the built-ins, and (lazily, only when the
//! request's path through the diagram tests them) `prompt_tokens` and
//! classifiers.
//!
//! Built-ins: `max_output_tokens` is the body's `max_completion_tokens` or
//! `max_tokens`; `has_images` is true when a message has an `image_url` (or
//! `image`/`input_image`) content part; `has_tools` when the body has a
//! non-empty `tools` or `functions`; `stream` is the body's `stream`.
//! `prompt_tokens` is counted with OpenAI's `o200k_base` encoding
//! ([`count_tokens`]) when the request's model (a named model, else the
//! policy's baseline) is OpenAI-family, and estimated otherwise
//! ([`estimate_tokens`]).

use std::sync::OnceLock;

use axum::http::HeaderMap;
use routec_table::{Signal, SignalKind, Source};
use serde_json::Value as J;

/// Tokens every message adds besides its content, and the reply's priming
/// (OpenAI's published accounting for chat models).
pub const TOKENS_PER_MESSAGE: usize = 3;
pub const REPLY_PRIMING_TOKENS: usize = 3;
/// Characters per token of the estimate for non-OpenAI models.
pub const CHARS_PER_TOKEN: usize = 4;

/// How one signal is read.
#[derive(Clone, Debug, PartialEq)]
pub enum Reader {
    Header(axum::http::HeaderName),
    Metadata(String),
    PromptTokens,
    MaxOutputTokens,
    HasImages,
    HasTools,
    Stream,
    Classifier,
    /// A built-in this gateway does not know, or a header name that is not
    /// a valid HTTP header name: always missing (its default applies).
    Never,
}

impl Reader {
    pub fn of(s: &Signal) -> Reader {
        match &s.source {
            Source::Header { name } => axum::http::HeaderName::try_from(name.as_str())
                .map_or(Reader::Never, Reader::Header),
            Source::Metadata { key } => Reader::Metadata(key.clone()),
            Source::Classifier { .. } => Reader::Classifier,
            Source::Builtin => match s.name.as_str() {
                "prompt_tokens" => Reader::PromptTokens,
                "max_output_tokens" => Reader::MaxOutputTokens,
                "has_images" => Reader::HasImages,
                "has_tools" => Reader::HasTools,
                "stream" => Reader::Stream,
                _ => Reader::Never,
            },
        }
    }

    /// Computed only when the diagram reaches the signal.
    pub fn is_lazy(&self) -> bool {
        matches!(self, Reader::PromptTokens | Reader::Classifier)
    }
}

/// A header's text as a JSON value of the signal's kind: numbers as
/// numbers when they parse, anything else as a string (so `"25%"`,
/// `"200ms"` and `"12k"` read as the language writes them).
fn header_value(kind: &SignalKind, text: &str) -> J {
    let text = text.trim();
    match kind {
        SignalKind::Enum { .. } | SignalKind::Bool => J::String(text.to_owned()),
        _ => match text.parse::<f64>() {
            Ok(x) => serde_json::Number::from_f64(x).map_or(J::String(text.to_owned()), J::Number),
            Err(_) => J::String(text.to_owned()),
        },
    }
}

/// The value of a cheap (non-lazy) signal: `Some(Ok(v))`, `Some(Err(()))`
/// for a value that does not fit (invalid), `None` when absent.
pub fn read_cheap(
    reader: &Reader,
    kind: &SignalKind,
    headers: &HeaderMap,
    body: &serde_json::Map<String, J>,
) -> Option<Result<f64, ()>> {
    let fit = |v: &J| routec_runtime::values::read(kind, v).ok_or(());
    match reader {
        Reader::Header(name) => {
            let value = headers.get(name)?;
            Some(match value.to_str() {
                Ok(text) => fit(&header_value(kind, text)),
                Err(_) => Err(()),
            })
        }
        Reader::Metadata(key) => body.get("metadata")?.as_object()?.get(key).map(fit),
        Reader::MaxOutputTokens => body
            .get("max_completion_tokens")
            .or_else(|| body.get("max_tokens"))
            .filter(|v| !v.is_null())
            .map(fit),
        Reader::HasImages => Some(Ok(f64::from(u8::from(has_images(body))))),
        Reader::HasTools => Some(Ok(f64::from(u8::from(has_tools(body))))),
        Reader::Stream => Some(Ok(f64::from(u8::from(is_stream(body))))),
        Reader::PromptTokens | Reader::Classifier | Reader::Never => None,
    }
}

pub fn is_stream(body: &serde_json::Map<String, J>) -> bool {
    body.get("stream").and_then(J::as_bool).unwrap_or(false)
}

fn has_tools(body: &serde_json::Map<String, J>) -> bool {
    ["tools", "functions"].iter().any(|k| {
        body.get(*k)
            .and_then(J::as_array)
            .is_some_and(|a| !a.is_empty())
    })
}

fn messages(body: &serde_json::Map<String, J>) -> &[J] {
    body.get("messages")
        .and_then(J::as_array)
        .map_or(&[], Vec::as_slice)
}

fn has_images(body: &serde_json::Map<String, J>) -> bool {
    messages(body).iter().any(|m| {
        m.get("content").and_then(J::as_array).is_some_and(|parts| {
            parts.iter().any(|p| {
                matches!(
                    p.get("type").and_then(J::as_str),
                    Some("image_url" | "image" | "input_image")
                )
            })
        })
    })
}

/// The text of every message (string contents and `text` parts), and the
/// number of messages.
pub fn prompt_text(body: &serde_json::Map<String, J>) -> (String, usize) {
    let mut text = String::new();
    let msgs = messages(body);
    for m in msgs {
        if let Some(role) = m.get("role").and_then(J::as_str) {
            text.push_str(role);
            text.push('\n');
        }
        match m.get("content") {
            Some(J::String(s)) => text.push_str(s),
            Some(J::Array(parts)) => {
                for p in parts {
                    if let Some(t) = p.get("text").and_then(J::as_str) {
                        text.push_str(t);
                    }
                }
            }
            _ => {}
        }
        text.push('\n');
    }
    (text, msgs.len())
}

fn bpe() -> Option<&'static tiktoken_rs::CoreBPE> {
    static BPE: OnceLock<Option<tiktoken_rs::CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Builds the tokenizer now (it takes a while), so the first request
/// does not pay for it.
pub fn warm_up() {
    let _ = bpe();
}

/// The prompt's tokens with `o200k_base`, plus the per-message overhead.
pub fn count_tokens(body: &serde_json::Map<String, J>) -> usize {
    let (text, n) = prompt_text(body);
    match bpe() {
        Some(bpe) => {
            bpe.encode_ordinary(&text).len() + n * TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS
        }
        None => estimate(&text, n),
    }
}

/// The estimate for models whose tokenizer is not OpenAI's: one token per
/// [`CHARS_PER_TOKEN`] characters (rounded up), plus the per-message overhead.
pub fn estimate_tokens(body: &serde_json::Map<String, J>) -> usize {
    let (text, n) = prompt_text(body);
    estimate(&text, n)
}

fn estimate(text: &str, messages: usize) -> usize {
    text.chars().count().div_ceil(CHARS_PER_TOKEN)
        + messages * TOKENS_PER_MESSAGE
        + REPLY_PRIMING_TOKENS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(j: J) -> serde_json::Map<String, J> {
        j.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn builtins_are_read_from_the_body() {
        let b = body(serde_json::json!({
            "model": "p",
            "stream": true,
            "max_tokens": 300,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ]}],
        }));
        let h = HeaderMap::new();
        let tokens = SignalKind::Tokens;
        assert_eq!(
            read_cheap(&Reader::MaxOutputTokens, &tokens, &h, &b),
            Some(Ok(300.0))
        );
        assert_eq!(
            read_cheap(&Reader::HasImages, &SignalKind::Bool, &h, &b),
            Some(Ok(1.0))
        );
        assert_eq!(
            read_cheap(&Reader::HasTools, &SignalKind::Bool, &h, &b),
            Some(Ok(1.0))
        );
        assert_eq!(
            read_cheap(&Reader::Stream, &SignalKind::Bool, &h, &b),
            Some(Ok(1.0))
        );
        assert!(count_tokens(&b) > REPLY_PRIMING_TOKENS);
    }

    #[test]
    fn headers_and_metadata_read_as_the_language_writes_values() {
        let mut h = HeaderMap::new();
        h.insert("x-d", "25%".parse().unwrap());
        h.insert("x-t", "code".parse().unwrap());
        let b = body(serde_json::json!({"metadata": {"plan": "pro", "n": "12k"}}));
        let ratio = Reader::Header("x-d".parse().unwrap());
        assert_eq!(
            read_cheap(&ratio, &SignalKind::Ratio, &h, &b),
            Some(Ok(0.25))
        );
        let variants = SignalKind::Enum {
            variants: vec!["chat".into(), "code".into()],
        };
        let task = Reader::Header("x-t".parse().unwrap());
        assert_eq!(read_cheap(&task, &variants, &h, &b), Some(Ok(1.0)));
        let plan = Reader::Metadata("plan".into());
        assert_eq!(read_cheap(&plan, &variants, &h, &b), Some(Err(())));
        let n = Reader::Metadata("n".into());
        assert_eq!(
            read_cheap(&n, &SignalKind::Tokens, &h, &b),
            Some(Ok(12_000.0))
        );
        assert_eq!(
            read_cheap(&Reader::Metadata("zz".into()), &SignalKind::Tokens, &h, &b),
            None
        );
    }

    #[test]
    fn the_estimate_is_documented() {
        let b = body(serde_json::json!({"messages": [{"role": "user", "content": "abcdefgh"}]}));
        // "user\nabcdefgh\n" is 14 characters: 4 tokens, plus 3 + 3.
        assert_eq!(estimate_tokens(&b), 10);
    }
}
