//! The language server's typing path, measured with divan
//! (`cargo bench -p routec-lsp`); results go to BENCHMARKS.md.
//!
//! - `did_change_to_diagnostics/*`: from sending a `textDocument/didChange`
//!   (full text) of a generated 2,000-line policy to receiving its
//!   `textDocument/publishDiagnostics` for that version, over the real
//!   server and JSON-RPC framing in process (target: < 50 ms, debounce
//!   included). `with_errors`: every version has an error (no simulation
//!   starts); `checks`: every version checks, as when typing in a correct
//!   file (changes come back to back, well within the simulation delay, so
//!   no simulation starts between them; `benches/typing.rs` measures what
//!   typing costs with and without that delay).
//! - `simulation_2000_lines`: `Figures::compute` alone on that policy
//!   (informational: it runs off the typing path).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmarks"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{Client, URI};
use routec_ide::{Analysis, Figures};
use tokio::runtime::Runtime;

fn main() {
    divan::main();
}

/// The generated 2,000-line policy (models with quality tables and
/// fallbacks, signals, slices, SLOs, ~150 rules, faults, traffic, a test).
fn policy() -> String {
    let text = routec_conformance::generated_front_end_policy(2_000);
    let lines = text.lines().count();
    assert!((1_900..=2_100).contains(&lines), "{lines} lines");
    text
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Measures change -> diagnostics, alternating between `a` and `b` so every
/// change is a real edit.
fn bench_changes(bencher: divan::Bencher, a: &str, b: &str) {
    let rt = runtime();
    let mut client = rt.block_on(async {
        let mut client = Client::new().await;
        client.open(URI, 1, a).await;
        client.diagnostics(URI, 1).await;
        client
    });
    let mut version = 1;
    bencher.bench_local(|| {
        version += 1;
        let text = if version % 2 == 0 { b } else { a };
        rt.block_on(async {
            client.change(URI, version, text).await;
            let published = client.diagnostics(URI, version).await;
            black_box(published);
            // Drop what else arrived (earlier versions' late results).
            client.take_backlog("textDocument/publishDiagnostics");
        });
    });
    rt.block_on(client.shutdown());
}

#[divan::bench(sample_count = 40)]
fn did_change_to_diagnostics_with_errors(bencher: divan::Bencher) {
    let text = policy();
    let a = text.replacen("otherwise => m0", "otherwise => m0x", 1);
    let b = text.replacen("otherwise => m0", "otherwise => m0y", 1);
    assert_ne!(a, text);
    bench_changes(bencher, &a, &b);
}

#[divan::bench(sample_count = 40)]
fn did_change_to_diagnostics_checks(bencher: divan::Bencher) {
    let a = policy();
    assert!(
        Analysis::new(&a).checks(),
        "the generated policy must check"
    );
    let b = a.replacen("qps 100", "qps 101", 1);
    assert_ne!(a, b);
    bench_changes(bencher, &a, &b);
}

#[divan::bench(sample_count = 5)]
fn simulation_2000_lines(bencher: divan::Bencher) {
    let analysis = Analysis::new(&policy());
    bencher.bench(|| black_box(Figures::compute(&analysis, &|| false).is_some()));
}
