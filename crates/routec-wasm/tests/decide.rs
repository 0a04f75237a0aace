//! The module decides what `routec-runtime` decides: on the shared test
//! vectors (`tests/vectors/`), and on 100,000 random requests per example
//! (missing, invalid and on-threshold values, raw inputs no JSON request can
//! make, with and without keys), compared field by field: plan, rule, leaf,
//! cell, missing and invalid signals.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests"
)]

mod common;

use common::{Host, key_hash, native};
use routec_conformance::generate::{Rng, fill, request, thresholds};
use routec_conformance::{Fixture, compile_file, examples, root};
use routec_runtime::Router;
use routec_table::{NodeRef, SignalKind};
use serde_json::{Value, json};

const REQUESTS: u64 = 100_000;

#[test]
fn the_shared_vectors_are_reproduced() {
    let dir = root().join("tests/vectors");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".vectors.json"))
        else {
            continue;
        };
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let table_text = std::fs::read_to_string(dir.join(format!("{name}.table.json"))).unwrap();
        let router = Router::load(table_text.as_bytes()).unwrap();
        let table = router.table();
        let mut host = Host::new(&routec_wasm::compile(table).unwrap()).unwrap();
        for (n, v) in file["vectors"].as_array().unwrap().iter().enumerate() {
            let request = router.request_from_json(&v["request"]).unwrap();
            host.set_request(&request);
            let d = host.decide(v["key"].as_str());
            let defaulted: Vec<&str> = d
                .missing
                .iter()
                .chain(&d.invalid)
                .map(|&i| table.signals[i].name.as_str())
                .collect();
            let got = json!({
                "rule_line": table.rules[d.rule as usize].line,
                "plan": table.plans[d.plan as usize].text,
                "defaulted": defaulted,
            });
            assert_eq!(got, v["expect"], "{name} vector {n}: {}", v["request"]);
            checked += 1;
        }
    }
    assert!(checked >= 1_000, "only {checked} vectors");
}

/// Decides `REQUESTS` random requests with both runtimes; returns how many
/// took a split leaf.
fn differential(fixture: &Fixture) -> Result<u64, String> {
    let table = &fixture.compiled.table;
    let router = Router::new(table.clone()).unwrap();
    let bytes = routec_wasm::compile(table).map_err(|e| e.to_string())?;
    let mut host = Host::new(&bytes).unwrap();
    let cuts = thresholds(&fixture.policy);
    let mut rng = Rng::new(0x3a5e ^ fixture.name.len() as u64);
    let mut req = router.request();
    let mut splits = 0;
    for n in 0..REQUESTS {
        let slots = request(&fixture.policy, &cuts, &mut rng);
        req.clear();
        fill(&mut req, &slots);
        let key = match n % 4 {
            0 => None,
            1 => Some(format!("key-{n}")),
            2 => Some(String::new()),
            _ => Some(format!("ключ/{}-{n}", rng.next_u64())),
        };
        if let Some(k) = &key {
            req.set_key(k);
        }
        host.set_request(&req);
        // Inputs only a host writing memory can make: non-finite values
        // other than `-inf` (the runtime's `Request::set` calls them
        // invalid: NaNs of any sign and payload, `+inf`) and enum values
        // that are not variant indices.
        if n % 7 == 3 {
            let s = rng.below(table.signals.len());
            let value = match rng.below(5) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => rng.unit() * 10.0 - 3.0,
                3 => f64::from_bits(0xfff0_0000_0000_0000 | (rng.next_u64() >> 13).max(1)),
                _ => f64::from_bits(0x7ff0_0000_0000_0001),
            };
            req.set(s, value);
            host.set_raw(s, value);
        }
        let want = native(&router.decide(&req));
        let got = host.decide(key.as_deref());
        if got != want {
            return Err(format!(
                "{}: request {n} {slots:?} key {key:?}: the module decided {got:?}, the runtime {want:?}",
                fixture.name
            ));
        }
        // A key not written yet (`decide(-2)`): the module asks for it,
        // writing nothing and leaving the keyless count alone, exactly when
        // the decision splits; otherwise it decides as with the key.
        let splits_here = table.leaves[want.leaf as usize].splits.len() > 1;
        if key.is_some() {
            let before = host.result_bytes();
            let asked = host.decide_raw(-2);
            if splits_here {
                if asked != -2 || host.result_bytes() != before {
                    return Err(format!(
                        "{}: request {n}: decide(-2) gave {asked} on a split leaf, or wrote",
                        fixture.name
                    ));
                }
            } else if asked != want.plan as i32 || host.result() != want {
                return Err(format!(
                    "{}: request {n}: decide(-2) gave {asked}, the runtime {want:?}",
                    fixture.name
                ));
            }
        }
        if splits_here {
            splits += 1;
            // A host that hashes the key itself gets the same plan (a
            // keyless decision's position is the instance's own sequence).
            let Some(k) = key.as_deref() else {
                continue;
            };
            let hashed = host.decide_hashed(key_hash(k.as_bytes()));
            if hashed != want {
                return Err(format!(
                    "{}: request {n}: decide_hashed gave {hashed:?}, the runtime {want:?}",
                    fixture.name
                ));
            }
        }
    }
    Ok(splits)
}

#[test]
fn modules_decide_like_the_runtime_on_every_example() {
    let paths = examples();
    assert!(paths.len() >= 5, "examples: {paths:?}");
    let mut split_decisions = 0;
    for path in paths {
        let fixture = compile_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        split_decisions += differential(&fixture).unwrap();
    }
    // Some examples have split leaves: the split code is exercised.
    assert!(split_decisions > 1_000, "{split_decisions} split decisions");
}

#[test]
fn a_module_with_a_thousand_rules_decides_like_the_runtime() {
    let dir = std::env::temp_dir().join(format!("routec-wasm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("generated.route");
    std::fs::write(&path, routec_conformance::generated_rules_policy(1_000)).unwrap();
    let fixture = compile_file(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    differential(&fixture).unwrap();
}

/// The most signals a table may have (`routec-table`'s `MAX_SIGNALS`): the
/// module's signal sets have 256 bits, four 64-bit words.
const MOST_SIGNALS: usize = 256;

/// A table with [`MOST_SIGNALS`] signals whose decisions read every one of
/// them: `support`'s table with bool signals added and a node per added
/// signal in front of its diagram (both branches to the next). Random
/// requests leave signals of each of the four words missing or invalid in
/// one decision and present in the next, so each word of the module's sets
/// must be cleared between decisions.
#[test]
fn a_module_with_the_most_signals_decides_like_the_runtime() {
    let mut table = compile_file(&root().join("examples/support.route"))
        .unwrap()
        .compiled
        .table;
    let mut next = table.diagram.root;
    for s in table.signals.len()..MOST_SIGNALS {
        table.signals.push(routec_table::Signal {
            name: format!("wide{s}"),
            kind: SignalKind::Bool,
            source: routec_table::Source::Metadata {
                key: format!("wide{s}"),
            },
            default: (s % 2) as f64,
        });
        table.diagram.nodes.push(routec_table::Node {
            signal: s as u32,
            test: routec_table::Test::Bool {
                if_false: next,
                if_true: next,
            },
        });
        next = NodeRef::Node(table.diagram.nodes.len() as u32 - 1);
    }
    table.diagram.root = next;
    let router = Router::new(table.clone()).unwrap();
    let mut host = Host::new(&routec_wasm::compile(&table).unwrap()).unwrap();
    let mut rng = Rng::new(256);
    let mut req = router.request();
    for n in 0..10_000 {
        req.clear();
        for s in 0..MOST_SIGNALS {
            match rng.below(4) {
                0 => {}
                1 => req.set_invalid(s),
                _ => req.set(s, rng.below(2) as f64),
            }
        }
        host.set_request(&req);
        let want = native(&router.decide(&req));
        assert_eq!(host.decide(None), want, "request {n}");
    }
}

/// A fresh instance's values are `-inf` (the data segment writes them):
/// every signal is missing until the host writes it.
#[test]
fn a_fresh_instance_reads_every_signal_as_missing() {
    for path in examples() {
        let table = compile_file(&path).unwrap().compiled.table;
        let router = Router::new(table.clone()).unwrap();
        let mut host = Host::new(&routec_wasm::compile(&table).unwrap()).unwrap();
        let want = native(&router.decide(&router.request()));
        assert_eq!(host.decide(None), want, "{}", path.display());
    }
}

/// The differential test can fail: a module of a table whose first
/// threshold moved disagrees with the runtime of the original table.
#[test]
fn a_wrong_module_is_caught() {
    let path = root().join("examples/support.route");
    let fixture = compile_file(&path).unwrap();
    let mut moved = fixture.compiled.table.clone();
    let cut = moved
        .diagram
        .nodes
        .iter_mut()
        .find_map(|n| match &mut n.test {
            routec_table::Test::Threshold { cut, .. } => Some(cut),
            _ => None,
        })
        .unwrap();
    *cut += 1.0;
    let router = Router::new(fixture.compiled.table.clone()).unwrap();
    let mut host = Host::new(&routec_wasm::compile(&moved).unwrap()).unwrap();
    let cuts = thresholds(&fixture.policy);
    let mut rng = Rng::new(9);
    let mut req = router.request();
    let differ = (0..REQUESTS).any(|_| {
        req.clear();
        fill(&mut req, &request(&fixture.policy, &cuts, &mut rng));
        host.set_request(&req);
        host.decide(None) != native(&router.decide(&req))
    });
    assert!(differ, "a moved threshold went unnoticed");
}

#[test]
fn the_key_hash_is_the_runtimes() {
    let table = compile_file(&root().join("examples/support.route"))
        .unwrap()
        .compiled
        .table;
    let mut host = Host::new(&routec_wasm::compile(&table).unwrap()).unwrap();
    // The values the runtime pins as part of the table contract.
    assert_eq!(key_hash(b"user-42"), 0x7a15_96f0_e94b_5793);
    assert_eq!(host.hash_key(b""), 0xf52a_15e9_a9b5_e89b);
    assert_eq!(host.hash_key(b"user-42"), 0x7a15_96f0_e94b_5793);
    let mut rng = Rng::new(42);
    for len in [1, 2, 7, 8, 63, 64, 1000, 4096, 70_000, 200_000] {
        let key: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        assert_eq!(host.hash_key(&key), key_hash(&key), "length {len}");
    }
}

#[test]
fn a_key_longer_than_the_key_area_is_refused_not_trapped() {
    let table = compile_file(&root().join("examples/support.route"))
        .unwrap()
        .compiled
        .table;
    let mut host = Host::new(&routec_wasm::compile(&table).unwrap()).unwrap();
    let capacity = host.memory().len() - host.key;
    assert!(capacity >= 4096, "{capacity}");
    assert_eq!(host.decide_raw(capacity as i32 + 1), -1);
    assert_eq!(host.decide_raw(i32::MAX), -1);
    assert!(host.decide_raw(capacity as i32) >= 0);
    assert!(host.decide_raw(-5) >= 0);
}

#[test]
fn the_metadata_describes_the_table() {
    let table = compile_file(&root().join("examples/support.route"))
        .unwrap()
        .compiled
        .table;
    let bytes = routec_wasm::compile(&table).unwrap();
    let meta = routec_wasm::read_meta(&bytes).unwrap();
    assert_eq!(meta["abi"], json!(routec_wasm::ABI_VERSION));
    assert_eq!(meta["table"]["source_hash"], json!(table.source_hash));
    assert_eq!(meta["table"]["policy"], json!(table.policy.name));
    let signals = meta["signals"].as_array().unwrap();
    assert_eq!(signals.len(), table.signals.len());
    let router = Router::new(table.clone()).unwrap();
    for (i, (m, s)) in signals.iter().zip(&table.signals).enumerate() {
        assert_eq!(m["name"], json!(s.name));
        assert_eq!(m["default"], json!(s.default));
        assert_eq!(m["default_text"], json!(router.show_value(i, s.default)));
        if let SignalKind::Enum { variants } = &s.kind {
            assert_eq!(m["variants"], json!(variants));
        }
    }
    let rules: Vec<u32> = table.rules.iter().map(|r| r.line).collect();
    let meta_rules: Vec<u32> = meta["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(rules, meta_rules);
    let host = Host::new(&bytes).unwrap();
    assert_eq!(meta["layout"]["values"], json!(host.values));
    assert_eq!(meta["layout"]["key"], json!(host.key));
}

#[test]
fn every_example_fits_the_size_target() {
    for path in examples() {
        let fixture = compile_file(&path).unwrap();
        let bytes = routec_wasm::compile(&fixture.compiled.table).unwrap();
        assert!(
            bytes.len() < 100 * 1024,
            "{}: {} bytes",
            fixture.name,
            bytes.len()
        );
    }
}

#[test]
fn an_inconsistent_table_is_refused() {
    let mut table = compile_file(&root().join("examples/support.route"))
        .unwrap()
        .compiled
        .table;
    table.leaves[0].splits[0].plan = 10_000;
    let err = routec_wasm::compile(&table).unwrap_err();
    assert!(
        matches!(err, routec_wasm::CompileError::Invalid(_)),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("the table is inconsistent: "));
}

/// A decision diagram whose code passes the size engines accept for one
/// function (`MAX_FUNCTION_BYTES`, V8's limit) is refused as too large,
/// not emitted as a module no engine would load.
#[test]
fn a_diagram_too_large_for_one_function_is_refused() {
    let mut table = compile_file(&root().join("examples/support.route"))
        .unwrap()
        .compiled
        .table;
    let (signal, variants) = table
        .signals
        .iter()
        .enumerate()
        .find_map(|(i, s)| match &s.kind {
            SignalKind::Enum { variants } => Some((i as u32, variants.len())),
            _ => None,
        })
        .unwrap();
    // A chain of enum tests, each of some 60 bytes of code: its first
    // variant goes on down the chain, the others end in leaf 0.
    let nodes = routec_wasm::MAX_FUNCTION_BYTES / 40;
    let first = table.diagram.nodes.len();
    for n in first..first + nodes {
        let mut branches = vec![NodeRef::Leaf(0); variants];
        branches[0] = if n == first {
            table.diagram.root
        } else {
            NodeRef::Node(n as u32 - 1)
        };
        table.diagram.nodes.push(routec_table::Node {
            signal,
            test: routec_table::Test::Enum { branches },
        });
    }
    table.diagram.root = NodeRef::Node((first + nodes - 1) as u32);
    table.validate().unwrap();
    let err = routec_wasm::compile(&table).unwrap_err();
    assert!(
        matches!(err, routec_wasm::CompileError::TooLarge(_)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("its decision diagram needs"),
        "{err}"
    );
}

#[test]
fn the_checksum_catches_corrupt_and_truncated_modules() {
    let table = compile_file(&root().join("examples/support.route"))
        .unwrap()
        .compiled
        .table;
    let bytes = routec_wasm::compile(&table).unwrap();
    routec_wasm::verify(&bytes).unwrap();
    // A flipped bit in a split share still validates, and still loads in an
    // engine: only the checksum tells.
    let mut flipped = bytes.clone();
    let at = bytes.len() - 60;
    flipped[at] ^= 0x10;
    assert!(routec_wasm::validate(&flipped).is_ok() || Host::new(&flipped).is_err());
    assert_eq!(
        routec_wasm::verify(&flipped).unwrap_err(),
        "the module is corrupt: its checksum does not match"
    );
    for cut in [
        0,
        8,
        9,
        100,
        bytes.len() / 2,
        bytes.len() - 33,
        bytes.len() - 1,
    ] {
        assert!(routec_wasm::verify(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0, 0]);
    assert!(routec_wasm::verify(&longer).is_err());
}
