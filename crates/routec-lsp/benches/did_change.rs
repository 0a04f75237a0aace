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
//! - `did_change_tenants/N` and `did_change_tenants_overlapping/N`: the
//!   same measurement on the generated tenant policies of issue 17 (one
//!   model and one rule per tenant; the adversarial variant's rules all
//!   overlap) of 5,000, 20,000 and 50,000 lines: a digit typed into a
//!   number in the middle of the file and deleted again, sent as edits (the
//!   server's sync kind), every version checking (target: < 100 ms at
//!   50,000 lines). The simulation delay is set beyond the run so that no
//!   compile of the whole policy shares the cores.
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
use routec_conformance::TenantShape;
use routec_ide::{Analysis, Figures};
use routec_lsp::Config;
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

/// A tenant policy and the LSP position (line, column) in the middle of the
/// file where a digit typed into a number keeps it checking.
fn tenant_policy(lines: usize, shape: TenantShape) -> (String, (usize, usize)) {
    let text = routec_conformance::generated_tenant_policy(lines, shape);
    let at = text.len() / 2 + text[text.len() / 2..].find("p99 ").unwrap() + 4;
    let mut typed = text.clone();
    typed.insert(at, '1');
    assert!(Analysis::new(&text).checks() && Analysis::new(&typed).checks());
    let line = text[..at].matches('\n').count();
    let column = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    (text, (line, column))
}

/// Measures change -> diagnostics for edits (the server's sync kind): a
/// digit typed at `(line, column)`, then deleted, and so on.
fn bench_keystrokes(bencher: divan::Bencher, text: &str, (line, column): (usize, usize)) {
    let rt = runtime();
    let config = Config {
        compile_delay: std::time::Duration::from_secs(3600),
        ..Config::default()
    };
    let mut client = rt.block_on(async {
        let mut client = Client::start(config, common::refresh_capabilities())
            .await
            .0;
        client.open(URI, 1, text).await;
        client.diagnostics(URI, 1).await;
        client
    });
    let at = |c: usize| serde_json::json!({ "line": line, "character": c });
    let mut version = 1;
    bencher.bench_local(|| {
        version += 1;
        let (range, typed) = if version % 2 == 0 {
            (
                serde_json::json!({ "start": at(column), "end": at(column) }),
                "1",
            )
        } else {
            (
                serde_json::json!({ "start": at(column), "end": at(column + 1) }),
                "",
            )
        };
        rt.block_on(async {
            client.edit(URI, version, &[(range, typed)]).await;
            let published = client.diagnostics(URI, version).await;
            assert_eq!(published["diagnostics"], serde_json::json!([]));
            black_box(published);
            client.take_backlog("textDocument/publishDiagnostics");
        });
    });
    rt.block_on(client.shutdown());
}

#[divan::bench(args = [5_000, 20_000, 50_000], sample_count = 20)]
fn did_change_tenants(bencher: divan::Bencher, lines: usize) {
    let (text, at) = tenant_policy(lines, TenantShape::Disjoint);
    bench_keystrokes(bencher, &text, at);
}

#[divan::bench(args = [5_000, 20_000, 50_000], sample_count = 20)]
fn did_change_tenants_overlapping(bencher: divan::Bencher, lines: usize) {
    let (text, at) = tenant_policy(lines, TenantShape::Overlapping);
    bench_keystrokes(bencher, &text, at);
}

#[divan::bench(sample_count = 5)]
fn simulation_2000_lines(bencher: divan::Bencher) {
    let analysis = Analysis::new(&policy());
    bencher.bench(|| black_box(Figures::compute(&analysis, &|| false).is_some()));
}
