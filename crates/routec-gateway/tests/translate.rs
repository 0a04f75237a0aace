//! Streamed upstream answers, as recorded server-sent events
//! (`tests/fixtures/{openai,anthropic}/*.sse`), through the adapters: each
//! snapshot shows the events, then the OpenAI chunks (or the failure) the
//! gateway makes of them, then the `chat.completion` a non-streaming
//! client would get. The bytes arrive in 7-byte reads, so events are split
//! across reads.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::fmt::Write;

use bytes::Bytes;
use futures_util::StreamExt;
use routec_gateway::upstream::{self, ByteStream, ChunkStream};

fn bytes(text: &str) -> ByteStream {
    let parts: Vec<Result<Bytes, upstream::client::Error>> = text
        .as_bytes()
        .chunks(7)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures_util::stream::iter(parts))
}

async fn render(text: &str, chunks: ChunkStream) -> String {
    let mut out = format!("{text}\n=== chunks\n");
    let got: Vec<_> = chunks.collect().await;
    let mut ok = Vec::new();
    let mut failed = false;
    for c in got {
        match c {
            Ok(c) => {
                let _ = writeln!(
                    out,
                    "{} token={} logprobs={:?} usage={:?}",
                    c.text, c.token, c.logprobs, c.usage
                );
                ok.push(c);
            }
            Err(f) => {
                failed = true;
                let _ = writeln!(out, "failure `{}`: {}", f.label(), f.describe());
            }
        }
    }
    if !failed {
        let whole = upstream::aggregate(&ok, "the-model", true);
        let _ = write!(
            out,
            "=== aggregated\n{}\n",
            serde_json::to_string_pretty(&whole).unwrap()
        );
    }
    out
}

#[test]
fn streamed_answers_translate() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    insta::glob!("fixtures/*/*.sse", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let provider = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap();
        let chunks = match provider {
            "openai" => upstream::openai::chunks(bytes(&text)),
            "anthropic" => upstream::anthropic::chunks(bytes(&text)),
            other => panic!("no adapter for `{other}`"),
        };
        let rendered = runtime.block_on(render(&text, chunks));
        insta::assert_snapshot!(rendered);
    });
}
