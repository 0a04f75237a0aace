//! Decisions and explanations, driven by the fixtures in `tests/decide/`:
//! each names a table (relative to `tests/`) and lists requests as JSON, the
//! way the proxy and `routec explain --request` receive them. The snapshot
//! shows each request, then what the runtime read from it, the decision and
//! its explanation (or the error, for a request that cannot be read).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and may fail loudly"
)]

use std::fmt::Write as _;

use routec_runtime::{Router, ValueOrigin};
use serde_json::Value;

fn render(router: &Router, case: &Value) -> String {
    let table = router.table();
    let mut out = String::new();
    writeln!(out, "## {}", case["about"].as_str().unwrap()).unwrap();
    write!(out, "request: {}", case["request"]).unwrap();
    if let Some(key) = case.get("key") {
        write!(out, "  key: {key}").unwrap();
    }
    out.push('\n');
    let mut request = match router.request_from_json(&case["request"]) {
        Ok(request) => request,
        Err(e) => {
            writeln!(out, "error: {e}").unwrap();
            return out;
        }
    };
    if let Some(key) = case.get("key").and_then(Value::as_str) {
        request.set_key(key);
    }
    let decision = router.decide(&request);
    let explanation = router.explain(&request, &decision);
    let rule = &table.rules[decision.rule as usize];
    assert_eq!(explanation.rule_line, rule.line);
    assert_eq!(explanation.rule_text, rule.text);
    writeln!(
        out,
        "rule {} (line {}): {}",
        decision.rule, explanation.rule_line, explanation.rule_text
    )
    .unwrap();
    let splits: Vec<String> = explanation
        .splits
        .iter()
        .map(|(plan, share)| format!("{plan} {share}"))
        .collect();
    writeln!(
        out,
        "plan: {}  (leaf {}: {})",
        explanation.plan,
        decision.leaf,
        splits.join(", ")
    )
    .unwrap();
    match (&explanation.cell, decision.cell) {
        (Some(predicate), Some(cell)) => writeln!(out, "cell {cell}: {predicate}").unwrap(),
        (None, None) => writeln!(out, "cell: none").unwrap(),
        other => panic!("the decision and its explanation disagree on the cell: {other:?}"),
    }
    writeln!(out, "path:").unwrap();
    for step in &explanation.path {
        let origin = match step.origin {
            ValueOrigin::Request => "",
            ValueOrigin::Default => "  (missing: default)",
            ValueOrigin::InvalidDefaulted => "  (invalid: default)",
        };
        writeln!(out, "  {}{origin}", step.test).unwrap();
        // The step's value is the one its test shows.
        assert!(
            step.test
                .starts_with(&format!("{} = {}", step.signal, step.value))
        );
    }
    let names = |set: routec_runtime::SignalSet| -> Vec<&str> {
        set.iter().map(|i| table.signals[i].name.as_str()).collect()
    };
    writeln!(out, "defaulted: {:?}", names(decision.defaulted)).unwrap();
    writeln!(out, "invalid: {:?}", names(decision.invalid)).unwrap();
    assert_eq!(
        decision.defaulted.is_empty() && decision.invalid.is_empty(),
        explanation
            .path
            .iter()
            .all(|s| s.origin == ValueOrigin::Request),
        "the defaulted signals are the path's defaulted values"
    );
    out
}

#[test]
fn decisions_and_explanations() {
    insta::glob!("../../../tests/decide", "*.json", |path| {
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let table = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests")
            .join(fixture["table"].as_str().unwrap());
        let router = Router::load(&std::fs::read(&table).unwrap()).unwrap();
        let mut shown = format!("table: tests/{}\n", fixture["table"].as_str().unwrap());
        for case in fixture["requests"].as_array().unwrap() {
            shown.push('\n');
            shown.push_str(&render(&router, case));
        }
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(shown);
        });
    });
}
