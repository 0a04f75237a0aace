//! The shared test vectors (`tests/vectors/*.vectors.json`), replayed the
//! way any other runtime replays them: load the committed table, read each
//! request from its JSON, set the key, decide, and compare the rule's line,
//! the plan and the defaulted signals with the expected ones. Unlike the
//! conformance crate's test, which also regenerates the vectors from the
//! policy, this needs no compiler, so the runtime's own tests prove it keeps
//! the contract.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and may fail loudly"
)]

use std::path::Path;

use routec_runtime::Router;
use serde_json::{Value, json};

#[test]
fn every_shared_vector_is_reproduced() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".vectors.json") {
            continue;
        }
        files += 1;
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let table = std::fs::read(dir.join(file["table"].as_str().unwrap())).unwrap();
        let router = Router::load(&table).unwrap();
        let table = router.table();
        assert_eq!(file["source_hash"], json!(table.source_hash));
        let vectors = file["vectors"].as_array().unwrap();
        assert!(vectors.len() >= 100, "{}: too few vectors", path.display());
        for (n, v) in vectors.iter().enumerate() {
            let mut request = router.request_from_json(&v["request"]).unwrap();
            request.set_key(v["key"].as_str().unwrap());
            let d = router.decide(&request);
            let defaulted: Vec<&str> = d
                .defaulted
                .iter()
                .chain(d.invalid.iter())
                .map(|i| table.signals[i].name.as_str())
                .collect();
            let got = json!({
                "rule_line": table.rules[d.rule as usize].line,
                "plan": table.plans[d.plan as usize].text,
                "defaulted": defaulted,
            });
            assert_eq!(got, v["expect"], "{} vector {n}", path.display());
            // The leaf's own rule and cell are the decision's.
            let leaf = &table.leaves[d.leaf as usize];
            assert_eq!((leaf.rule, leaf.cell), (d.rule, d.cell));
            assert!(leaf.splits.iter().any(|s| s.plan == d.plan));
        }
    }
    assert!(files > 0, "no vectors in {}", dir.display());
}
