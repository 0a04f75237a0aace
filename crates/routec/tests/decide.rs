//! End-to-end tests of the wasm runtime's command-line side:
//! `routec compile --format wasm` and `routec decide` (batch decisions), with
//! snapshots of `decide` on a fixture of requests and a check that `decide`
//! reproduces the shared test vectors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use routec_table::Table;
use serde_json::{Value, json};

mod common;

use common::{Output, manifest_dir, repo_root};

fn fixtures() -> PathBuf {
    manifest_dir().join("tests/fixtures/decide")
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    common::run_in(dir, args, None)
}

fn run(args: &[&str]) -> Output {
    run_in(&repo_root(), args)
}

fn temp_dir() -> PathBuf {
    common::temp_dir("decide")
}

#[test]
fn compile_writes_a_wasm_module_next_to_the_policy() {
    let dir = temp_dir();
    std::fs::copy(
        repo_root().join("examples/support.route"),
        dir.join("support.route"),
    )
    .unwrap();
    let out = run_in(&dir, &["compile", "support.route", "--format", "wasm"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("wrote `support.wasm`"),
        "{}",
        out.stderr
    );
    let module = std::fs::read(dir.join("support.wasm")).unwrap();
    routec_wasm::validate(&module).unwrap();
    routec_wasm::verify(&module).unwrap();
    let json = run_in(&dir, &["compile", "support.route", "-o", "-"]);
    let table = Table::from_json(&json.stdout).unwrap();
    // The module is the table's, byte for byte what the library emits.
    assert_eq!(routec_wasm::compile(&table).unwrap(), module);
    let meta = routec_wasm::read_meta(&module).unwrap();
    assert_eq!(meta["table"]["source_hash"], json!(table.source_hash));
    // `-o -` writes the module's bytes, nothing else.
    let out = run_in(
        &dir,
        &["compile", "support.route", "--format", "wasm", "-o", "-"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.bytes, module);
}

#[test]
fn decide_a_batch_of_requests() {
    let args = [
        "decide",
        "examples/support.route",
        "--requests",
        "crates/routec/tests/fixtures/decide/requests.jsonl",
    ];
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let input = std::fs::read_to_string(fixtures().join("requests.jsonl")).unwrap();
    insta::assert_snapshot!(
        "decide_support",
        format!("$ routec {}\n{input}---\n{}", args.join(" "), out.stdout)
    );
    // One line out per request in, with its id.
    let ids: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].clone())
        .collect();
    let want: Vec<Value> = input
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids, want);
}

#[test]
fn decide_reads_tables_in_both_encodings_as_the_policy() {
    let dir = temp_dir();
    let requests = fixtures().join("requests.jsonl");
    let requests = requests.to_str().unwrap();
    let policy = repo_root().join("examples/support.route");
    let policy = policy.to_str().unwrap();
    let from_policy = run_in(&dir, &["decide", policy, "--requests", requests]);
    assert_eq!(from_policy.code, 0, "{}", from_policy.stderr);
    for format in ["json", "bin"] {
        let table = format!("support.table.{format}");
        let out = run_in(&dir, &["compile", policy, "--format", format, "-o", &table]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let out = run_in(&dir, &["decide", &table, "--requests", requests]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.stdout, from_policy.stdout, "{format}");
    }
}

/// What every runtime must reproduce: `decide` on the shared vectors' table
/// and requests (the key as the line's `id`).
#[test]
fn decide_reproduces_the_shared_vectors() {
    let dir = temp_dir();
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/vectors/support.vectors.json")).unwrap(),
    )
    .unwrap();
    let vectors = vectors["vectors"].as_array().unwrap();
    let lines: String = vectors
        .iter()
        .map(|v| format!("{}\n", json!({"id": v["key"], "signals": v["request"]})))
        .collect();
    std::fs::write(dir.join("vectors.jsonl"), lines).unwrap();
    let table = repo_root().join("tests/vectors/support.table.json");
    let out = run_in(
        &dir,
        &[
            "decide",
            table.to_str().unwrap(),
            "--requests",
            "vectors.jsonl",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let decided: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(decided.len(), vectors.len());
    for (d, v) in decided.iter().zip(vectors) {
        assert_eq!(d["id"], v["key"]);
        let got = json!({"rule_line": d["rule"], "plan": d["plan"], "defaulted": d["defaulted"]});
        assert_eq!(got, v["expect"], "{}", v["request"]);
    }
}

#[test]
fn decide_errors_are_located_and_exit_2() {
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "decide",
                "examples/support.route",
                "--requests",
                "crates/routec/tests/fixtures/decide/malformed.jsonl",
            ],
            "╭─[ crates/routec/tests/fixtures/decide/malformed.jsonl:2:",
        ),
        (
            &[
                "decide",
                "examples/support.route",
                "--requests",
                "crates/routec/tests/fixtures/decide/unknown.jsonl",
            ],
            "[E0515] Error: unknown signal `tsak`\n   ╭─[ crates/routec/tests/fixtures/decide/unknown.jsonl:2:25 ]",
        ),
        (
            &[
                "decide",
                "examples/support.route",
                "--requests",
                "no/such.jsonl",
            ],
            "routec: cannot read `no/such.jsonl`:",
        ),
        (
            &[
                "decide",
                "tests/vectors/support.vectors.json",
                "--requests",
                "crates/routec/tests/fixtures/decide/requests.jsonl",
            ],
            "is not a usable decision table",
        ),
        (
            &[
                "decide",
                "tests/vectors/support.table.json",
                "--traffic",
                "launch",
                "--requests",
                "crates/routec/tests/fixtures/decide/requests.jsonl",
            ],
            "`--traffic` applies to a policy",
        ),
        (
            &[
                "decide",
                "examples/support.route",
                "--traffic",
                "lunch",
                "--requests",
                "crates/routec/tests/fixtures/decide/requests.jsonl",
            ],
            "unknown traffic profile `lunch`; did you mean `launch`?",
        ),
    ];
    for (args, message) in cases {
        let out = run(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{args:?}: nothing is written");
    }
    let out = run(&[
        "decide",
        "examples/support.route",
        "--requests",
        "crates/routec/tests/fixtures/decide/unknown.jsonl",
    ]);
    assert!(out.stderr.contains("unknown.jsonl:3:"), "{}", out.stderr);
}

#[test]
fn decide_refuses_a_wasm_module_with_a_hint() {
    let dir = temp_dir();
    let policy = repo_root().join("examples/support.route");
    let out = run_in(
        &dir,
        &[
            "compile",
            policy.to_str().unwrap(),
            "--format",
            "wasm",
            "-o",
            "support.wasm",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = fixtures().join("requests.jsonl");
    let out = run_in(
        &dir,
        &[
            "decide",
            "support.wasm",
            "--requests",
            requests.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("a WebAssembly module"),
        "{}",
        out.stderr
    );
}

#[test]
fn decide_help_names_examples_and_exit_codes() {
    let out = run(&["decide", "--help"]);
    assert_eq!(out.code, 0);
    for needle in ["Examples:", "Exit codes:", "--requests", "docs/traffic.md"] {
        assert!(out.stdout.contains(needle), "{needle}: {}", out.stdout);
    }
    let out = run(&["compile", "--help"]);
    assert!(out.stdout.contains("--format wasm"), "{}", out.stdout);
}
