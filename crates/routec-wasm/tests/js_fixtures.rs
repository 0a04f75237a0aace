//! The fixtures of the JavaScript package's tests (`js/test/fixtures/`), made
//! here from the Rust side so both sides are checked against one truth:
//!
//! - `support.wasm`: the module of the shared vectors' table
//!   (`tests/vectors/support.table.json`);
//! - `support.explain.json`: `routec-runtime`'s explanations of the first
//!   vectors, which the package's `explain` must reproduce;
//! - `values.json`: request values and what `routec_runtime::values` reads
//!   from them (`null`: invalid), which the package's reader must reproduce.
//!
//! This test fails when they are stale; regenerate with
//! `ROUTEC_UPDATE_JS_FIXTURES=1 cargo test -p routec-wasm --test js_fixtures`
//! and review the diff.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests"
)]

use routec_conformance::root;
use routec_runtime::{Router, ValueOrigin, values};
use serde_json::{Value, json};

const EXPLAINED: usize = 150;

fn explanations(router: &Router, vectors: &Value) -> Value {
    let table = router.table();
    // The first vectors, every vector that lands in a split leaf, and
    // requests of a split cell with and without keys.
    let all = vectors["vectors"].as_array().unwrap();
    let split = |v: &Value| {
        let mut request = router.request_from_json(&v["request"]).unwrap();
        request.set_key(v["key"].as_str().unwrap());
        table.leaves[router.decide(&request).leaf as usize]
            .splits
            .len()
            > 1
    };
    let extra: Vec<Value> = (0..6)
        .map(|n| {
            json!({
                "request": {"task": "code", "plan": "pro", "lang": "es", "prompt_tokens": 9000 + n},
                "key": if n == 0 { Value::Null } else { json!(format!("split-{n}")) },
            })
        })
        .collect();
    let chosen: Vec<&Value> = all
        .iter()
        .enumerate()
        .filter(|(i, v)| *i < EXPLAINED || split(v))
        .map(|(_, v)| v)
        .chain(&extra)
        .collect();
    let cases: Vec<Value> = chosen
        .into_iter()
        .map(|v| {
            let mut request = router.request_from_json(&v["request"]).unwrap();
            if let Some(key) = v["key"].as_str() {
                request.set_key(key);
            }
            let d = router.decide(&request);
            let e = router.explain(&request, &d);
            let names = |set: routec_runtime::SignalSet| -> Vec<String> {
                set.iter().map(|i| table.signals[i].name.clone()).collect()
            };
            json!({
                "request": v["request"],
                "key": v["key"],
                "expect": {
                    "rule": e.rule_line,
                    "ruleText": e.rule_text,
                    "plan": e.plan,
                    "splits": e.splits.iter().map(|(p, s)| json!({"plan": p, "share": s})).collect::<Vec<_>>(),
                    "cell": e.cell,
                    "missing": names(d.defaulted),
                    "invalid": names(d.invalid),
                    "path": e.path.iter().map(|s| json!({
                        "signal": s.signal,
                        "value": s.value,
                        "origin": match s.origin {
                            ValueOrigin::Request => "request",
                            ValueOrigin::Default => "default",
                            ValueOrigin::InvalidDefaulted => "invalid",
                        },
                        "test": s.test,
                    })).collect::<Vec<_>>(),
                }
            })
        })
        .collect();
    json!({
        "about": "routec-runtime's explanations of the first shared vectors (tests/vectors/support.vectors.json), of every vector that lands in a split leaf, and of split-cell requests with and without keys (`key` null: none); written by crates/routec-wasm/tests/js_fixtures.rs",
        "explanations": cases,
    })
}

/// Values worth checking: units, scales, signs, whitespace Rust and
/// JavaScript trim differently, number syntax at the edges, wrong types.
fn value_cases() -> Vec<Value> {
    let strings = [
        "",
        " ",
        "0",
        "-0",
        "1",
        "+1",
        "-1",
        "1.",
        ".5",
        ".",
        "-",
        "-.5",
        "1.5",
        "1e3",
        "1E3",
        "12k",
        "12 k",
        " 12k ",
        "1.5k",
        "2M",
        "1m",
        "1K",
        "k",
        "10%",
        "10 %",
        "0.5%",
        "100%",
        "101%",
        "-5%",
        "%",
        "50",
        "0.3",
        "200ms",
        "2s",
        "3m",
        "1h",
        "1d",
        "1.5h",
        "-2s",
        "200 ms",
        "ms",
        "$0.5",
        "$.5",
        "$5.",
        "$1e3",
        "$+5",
        "$-1",
        "$ 5",
        "$",
        "$inf",
        "$NaN",
        "$1e999",
        "0.5$",
        "$0x10",
        "$1_000",
        "1_000",
        "0x10",
        "inf",
        "NaN",
        "1e999",
        "1..2",
        "1-2",
        "--1",
        "1.2.3",
        "\u{85}12k",
        "\u{feff}12k",
        "\u{a0}12k\u{3000}",
        "\t5\n",
        "true",
        "false",
        "True",
        "code",
        "chat",
        "Code",
        "١٢",
        "12k\u{85}",
        "9007199254740993",
        "1e-400",
    ];
    let numbers = [
        json!(0),
        json!(-0.0),
        json!(1),
        json!(-1),
        json!(0.5),
        json!(1.5),
        json!(12000),
        json!(-3),
        json!(1e300),
        json!(9_007_199_254_740_993u64),
        json!(0.1),
        json!(1.0000000001),
    ];
    let others = [
        json!(true),
        json!(false),
        json!(null),
        json!([1]),
        json!({"a": 1}),
    ];
    let variants = ["chat".to_owned(), "code".to_owned(), "".to_owned()];
    let inputs: Vec<Value> = strings
        .iter()
        .map(|s| json!(s))
        .chain(numbers)
        .chain(others)
        .collect();
    let mut out = Vec::new();
    for input in &inputs {
        let read: [(&str, Option<f64>); 7] = [
            (
                "bool",
                values::boolean(input).map(|b| f64::from(u8::from(b))),
            ),
            ("enum", values::variant(&variants, input).map(|i| i as f64)),
            ("tokens", values::tokens(input)),
            ("int", values::int(input)),
            ("ratio", values::ratio(input)),
            ("duration", values::duration(input)),
            ("money", values::money(input)),
        ];
        for (kind, value) in read {
            // Non-finite results are invalid in a request (`Request::set`).
            let value = value.filter(|v| v.is_finite());
            out.push(json!({"kind": kind, "value": input, "expect": value}));
        }
    }
    out
}

#[test]
fn the_javascript_fixtures_are_current() {
    let dir = root().join("crates/routec-wasm/js/test/fixtures");
    let update = std::env::var_os("ROUTEC_UPDATE_JS_FIXTURES").is_some();
    let table_text =
        std::fs::read_to_string(root().join("tests/vectors/support.table.json")).unwrap();
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/vectors/support.vectors.json")).unwrap(),
    )
    .unwrap();
    let router = Router::load(table_text.as_bytes()).unwrap();
    let module = routec_wasm::compile(router.table()).unwrap();
    let mut explain = serde_json::to_string_pretty(&explanations(&router, &vectors)).unwrap();
    explain.push('\n');
    let mut values = serde_json::to_string_pretty(&json!({
        "about": "request values and what routec-runtime reads from them (null: invalid); written by crates/routec-wasm/tests/js_fixtures.rs; `enum` reads against the variants [\"chat\", \"code\", \"\"]",
        "variants": ["chat", "code", ""],
        "cases": value_cases(),
    }))
    .unwrap();
    values.push('\n');
    let files: [(&str, &[u8]); 3] = [
        ("support.wasm", &module),
        ("support.explain.json", explain.as_bytes()),
        ("values.json", values.as_bytes()),
    ];
    let mut stale = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        if std::fs::read(&path).unwrap_or_default() != bytes {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "crates/routec-wasm/js/test/fixtures/{stale:?} are stale: regenerate with ROUTEC_UPDATE_JS_FIXTURES=1 and review the diff"
    );
}
