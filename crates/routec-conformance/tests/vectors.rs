//! The shared test vectors in `tests/vectors/`: for each example, its
//! compiled table and requests (as JSON, the way proxies and wasm hosts
//! receive them) with the decision every runtime must reproduce. This test
//! checks that the library reproduces them, and that they are current
//! (regenerate with `ROUTEC_UPDATE_VECTORS=1 cargo test -p routec-conformance
//! --test vectors`, then review the diff).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use routec_conformance::generate::{Rng, Slot, request, thresholds};
use routec_conformance::interpret::{effective_values, interpret};
use routec_conformance::{Fixture, compile_file, root};
use routec_runtime::Router;
use routec_table::SignalKind;
use serde_json::{Value, json};

const VECTORS: u64 = 1_000;
const EXAMPLES: &[&str] = &["support"];

fn json_value(kind: &SignalKind, slot: Slot) -> Option<Value> {
    match slot {
        Slot::Missing => None,
        Slot::Invalid => Some(match kind {
            SignalKind::Enum { .. } => json!("no-such-value"),
            SignalKind::Bool => json!("maybe"),
            _ => json!("not a number"),
        }),
        Slot::Value(v) => Some(match kind {
            SignalKind::Bool => json!(v != 0.0),
            SignalKind::Enum { variants } => json!(variants[v as usize]),
            SignalKind::Int | SignalKind::Tokens => json!(v as i64),
            _ => json!(v),
        }),
    }
}

/// The vectors of one fixture, as the runtime decides them, after checking
/// each against the policy.
fn vectors(fixture: &Fixture) -> Value {
    let policy = &fixture.policy;
    let table = &fixture.compiled.table;
    let router = Router::new(table.clone()).unwrap();
    let cuts = thresholds(policy);
    let mut rng = Rng::new(0x7e57);
    let mut out = Vec::new();
    for n in 0..VECTORS {
        let slots = request(policy, &cuts, &mut rng);
        let mut object = serde_json::Map::new();
        for (i, slot) in slots.iter().enumerate() {
            let signal = &table.signals[i];
            if let Some(v) = json_value(&signal.kind, *slot) {
                object.insert(signal.name.clone(), v);
            }
        }
        let effective = effective_values(policy, &slots);
        let key = format!("user-{n}");
        let request_json = Value::Object(object);
        let mut req = router.request_from_json(&request_json).unwrap();
        req.set_key(&key);
        let decision = router.decide(&req);
        let expected = interpret(policy, &fixture.compiled, &effective).unwrap();
        let plan = &table.plans[decision.plan as usize].text;
        assert_eq!(decision.rule as usize, expected.rule, "vector {n}");
        assert!(expected.plans.iter().any(|(p, _)| p == plan), "vector {n}");
        let defaulted: Vec<&str> = decision
            .defaulted
            .iter()
            .chain(decision.invalid.iter())
            .map(|i| table.signals[i].name.as_str())
            .collect();
        out.push(json!({
            "request": request_json,
            "key": key,
            "expect": {
                "rule_line": table.rules[decision.rule as usize].line,
                "plan": plan,
                "defaulted": defaulted,
            }
        }));
    }
    json!({
        "about": "Requests and the decisions every routec runtime must reproduce with the table beside this file. `key` is the sticky-split key; `defaulted` lists the signals the decision read that were missing or invalid (their defaults applied).",
        "table": format!("{}.table.json", fixture.name),
        "source_hash": table.source_hash,
        "vectors": out,
    })
}

#[test]
fn shared_vectors_are_current_and_reproduced() {
    let dir = root().join("tests/vectors");
    let update = std::env::var_os("ROUTEC_UPDATE_VECTORS").is_some();
    for name in EXAMPLES {
        let fixture = compile_file(&root().join(format!("examples/{name}.route"))).unwrap();
        let table_text = fixture.compiled.table.to_json();
        let mut vectors_text = serde_json::to_string_pretty(&vectors(&fixture)).unwrap();
        vectors_text.push('\n');
        let table_path = dir.join(format!("{name}.table.json"));
        let vectors_path = dir.join(format!("{name}.vectors.json"));
        if update {
            std::fs::write(&table_path, &table_text).unwrap();
            std::fs::write(&vectors_path, &vectors_text).unwrap();
        }
        let committed_table = std::fs::read_to_string(&table_path).unwrap_or_default();
        let committed_vectors = std::fs::read_to_string(&vectors_path).unwrap_or_default();
        assert!(
            committed_table == table_text && committed_vectors == vectors_text,
            "tests/vectors/{name}.* are stale: regenerate with ROUTEC_UPDATE_VECTORS=1 and review the diff"
        );

        // What another runtime does: load the committed files, replay.
        let router = Router::load(committed_table.as_bytes()).unwrap();
        let file: Value = serde_json::from_str(&committed_vectors).unwrap();
        for v in file["vectors"].as_array().unwrap() {
            let mut req = router.request_from_json(&v["request"]).unwrap();
            req.set_key(v["key"].as_str().unwrap());
            let d = router.decide(&req);
            let table = router.table();
            assert_eq!(
                json!(table.rules[d.rule as usize].line),
                v["expect"]["rule_line"]
            );
            assert_eq!(
                json!(table.plans[d.plan as usize].text),
                v["expect"]["plan"]
            );
        }
    }
}
