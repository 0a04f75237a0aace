//! The cost of reading signals, on its own (BENCHMARKS.md): parsing a
//! request body, counting a 10,000-token prompt with `o200k_base` and
//! estimating it, and reading every signal of `support.route`'s table from
//! a request plus the decision.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::hint::black_box;

use axum::http::HeaderMap;
use routec_gateway::signals;
use routec_runtime::Router;
use serde_json::{Value as J, json};

fn main() {
    signals::warm_up();
    divan::main();
}

/// About 10,000 tokens of English-like text.
fn long_prompt() -> String {
    let words = [
        "the",
        "router",
        "sends",
        "each",
        "request",
        "to",
        "a",
        "model",
        "that",
        "meets",
        "its",
        "latency",
        "and",
        "cost",
        "objectives",
        "while",
        "quality",
        "stays",
        "above",
        "floor",
    ];
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(words[i % words.len()]);
        text.push(if i % 17 == 16 { '.' } else { ' ' });
    }
    text
}

fn body(content: &str) -> Vec<u8> {
    json!({
        "model": "support_chat",
        "max_tokens": 400,
        "metadata": {"plan": "pro"},
        "messages": [
            {"role": "system", "content": "You are a helpful support agent."},
            {"role": "user", "content": content},
        ],
    })
    .to_string()
    .into_bytes()
}

#[divan::bench]
fn parse_small_body(b: divan::Bencher) {
    let bytes = body("My invoice shows the wrong amount; can you fix it?");
    b.bench(|| serde_json::from_slice::<J>(black_box(&bytes)).unwrap());
}

#[divan::bench]
fn parse_10k_token_body(b: divan::Bencher) {
    let bytes = body(&long_prompt());
    b.bench(|| serde_json::from_slice::<J>(black_box(&bytes)).unwrap());
}

#[divan::bench]
fn count_10k_tokens_o200k(b: divan::Bencher) {
    let j: J = serde_json::from_slice(&body(&long_prompt())).unwrap();
    let map = j.as_object().unwrap().clone();
    assert!(signals::count_tokens(&map) > 9_000);
    b.bench(|| signals::count_tokens(black_box(&map)));
}

#[divan::bench]
fn estimate_10k_tokens(b: divan::Bencher) {
    let j: J = serde_json::from_slice(&body(&long_prompt())).unwrap();
    let map = j.as_object().unwrap().clone();
    b.bench(|| signals::estimate_tokens(black_box(&map)));
}

/// Every cheap signal of the support table read from headers and body,
/// then `decide` and the slices the request belongs to (what a routed
/// request costs before any upstream call, lazy signals aside).
#[divan::bench]
fn read_signals_and_decide(b: divan::Bencher) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/tables/support.table.json"
    );
    let router = Router::load(&std::fs::read(path).unwrap()).unwrap();
    let table = router.table().clone();
    let readers: Vec<signals::Reader> = table.signals.iter().map(signals::Reader::of).collect();
    let j: J = serde_json::from_slice(&body("My invoice is wrong")).unwrap();
    let map = j.as_object().unwrap().clone();
    let mut headers = HeaderMap::new();
    headers.insert("x-route-task", "chat".parse().unwrap());
    headers.insert("x-route-lang", "en".parse().unwrap());
    let mut request = router.request();
    b.bench_local(|| {
        request.clear();
        for (i, (reader, s)) in readers.iter().zip(&table.signals).enumerate() {
            match signals::read_cheap(reader, &s.kind, &headers, &map) {
                Some(Ok(v)) => request.set(i, v),
                Some(Err(())) => request.set_invalid(i),
                None => {}
            }
        }
        request.set(0, 900.0);
        request.set_key("user-42");
        let slices = (0..table.slices.len())
            .filter(|&i| router.in_slice(i, &request))
            .count();
        black_box((router.decide(&request), slices))
    });
}
