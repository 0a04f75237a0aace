//! Every rule of table validation, driven by the fixtures in `tests/tables/`:
//! `invalid/*.json` each break exactly one rule of a valid base table and
//! must be refused, in the JSON and the binary encoding, with the error that
//! names the rule (snapshotted); `edge/*.json` each sit at the edge of a rule
//! (the last index, a share within rounding of 1, the last variant) and must
//! load in both encodings.
//!
//! A fixture is a base table and a patch: JSON Pointer (RFC 6901) operations
//! `replace`, `add` (with `times` to repeat it) and `remove`, plus
//! `replace_non_finite` for the numbers JSON cannot carry (`NaN`, `inf`,
//! `-inf`), which only a binary table can hold. Both encodings of the
//! patched table are made here from the same [`Table`] value.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and may fail loudly"
)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use routec_table::{LoadError, Table};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    /// What the fixture changes, in a few words.
    about: String,
    /// The table patched, relative to `tests/tables/`.
    base: String,
    patch: Vec<Op>,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Op {
    Replace {
        path: String,
        value: Value,
    },
    Add {
        path: String,
        value: Value,
        #[serde(default = "once")]
        times: usize,
    },
    Remove {
        path: String,
    },
    ReplaceNonFinite {
        path: String,
        value: NonFinite,
    },
}

fn once() -> usize {
    1
}

#[derive(Deserialize, Clone, Copy, Debug)]
enum NonFinite {
    NaN,
    #[serde(rename = "inf")]
    Infinity,
    #[serde(rename = "-inf")]
    NegInfinity,
}

impl NonFinite {
    fn value(self) -> f64 {
        match self {
            NonFinite::NaN => f64::NAN,
            NonFinite::Infinity => f64::INFINITY,
            NonFinite::NegInfinity => f64::NEG_INFINITY,
        }
    }
}

impl Op {
    fn show(&self) -> String {
        match self {
            Op::Replace { path, value } => format!("replace {path} with {value}"),
            Op::Add { path, value, times } if *times == 1 => format!("add {value} at {path}"),
            Op::Add { path, value, times } => format!("add {value} at {path}, {times} times"),
            Op::Remove { path } => format!("remove {path}"),
            Op::ReplaceNonFinite { path, value } => {
                format!("replace {path} with {}", value.value())
            }
        }
    }

    fn path(&self) -> &str {
        match self {
            Op::Replace { path, .. }
            | Op::Add { path, .. }
            | Op::Remove { path }
            | Op::ReplaceNonFinite { path, .. } => path,
        }
    }
}

fn tables() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tables")
}

/// The parent of `path` in `root`, and the last token of `path`.
fn parent<'a>(root: &'a mut Value, path: &str) -> (&'a mut Value, String) {
    let (parent, last) = path.rsplit_once('/').expect("a JSON Pointer");
    let last = last.replace("~1", "/").replace("~0", "~");
    let value = root
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("the fixture's path {parent} is not in the table"));
    (value, last)
}

/// A number no fixture table holds, standing in for the `k`th non-finite
/// number until the table is decoded.
fn placeholder(k: usize) -> f64 {
    987_654_321.0 + k as f64
}

/// Applies a fixture's patch to its base table.
fn patched(fixture: &Fixture) -> Table {
    let base = std::fs::read_to_string(tables().join(&fixture.base)).unwrap();
    let mut json: Value = serde_json::from_str(&base).unwrap();
    let mut non_finite = Vec::new();
    for op in &fixture.patch {
        match op {
            Op::Replace { path, value } => {
                *json
                    .pointer_mut(path)
                    .unwrap_or_else(|| panic!("the fixture's path {path} is not in the table")) =
                    value.clone();
            }
            Op::ReplaceNonFinite { path, value } => {
                let slot = json
                    .pointer_mut(path)
                    .unwrap_or_else(|| panic!("the fixture's path {path} is not in the table"));
                assert!(slot.is_f64(), "{path} is not a number");
                *slot = placeholder(non_finite.len()).into();
                non_finite.push(value.value());
            }
            Op::Add { path, value, times } => {
                let (parent, last) = parent(&mut json, path);
                for _ in 0..*times {
                    match parent {
                        Value::Array(items) if last == "-" => items.push(value.clone()),
                        Value::Array(items) => items.insert(last.parse().unwrap(), value.clone()),
                        Value::Object(fields) => {
                            fields.insert(last.clone(), value.clone());
                        }
                        _ => panic!("{path}: cannot add to a scalar"),
                    }
                }
            }
            Op::Remove { path } => {
                let (parent, last) = parent(&mut json, path);
                match parent {
                    Value::Array(items) => {
                        items.remove(last.parse().unwrap());
                    }
                    Value::Object(fields) => {
                        fields.remove(&last).expect("a field to remove");
                    }
                    _ => panic!("{path}: cannot remove from a scalar"),
                }
            }
        }
    }
    let table: Table = serde_json::from_value(json).unwrap();
    if non_finite.is_empty() {
        return table;
    }
    // JSON cannot carry the non-finite numbers: put them into the postcard
    // encoding (a float is its 8 little-endian bytes there) in place of
    // their placeholders.
    let mut bytes = postcard::to_allocvec(&table).unwrap();
    for (k, x) in non_finite.into_iter().enumerate() {
        let needle = placeholder(k).to_le_bytes();
        let at: Vec<usize> = (0..bytes.len().saturating_sub(7))
            .filter(|&i| bytes[i..i + 8] == needle)
            .collect();
        assert_eq!(at.len(), 1, "the placeholder must occur once");
        bytes[at[0]..at[0] + 8].copy_from_slice(&x.to_le_bytes());
    }
    postcard::from_bytes(&bytes).unwrap()
}

fn fixture(path: &Path) -> Fixture {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `/leaves/1/splits/0/plan` as validation errors locate it:
/// `leaves[1].splits[0].plan`.
fn location(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        if token.parse::<usize>().is_ok() || token == "-" {
            write!(out, "[{token}]").unwrap();
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(token);
        }
    }
    out
}

/// The fixture, then what each way of loading the patched table says.
fn outcome(path: &Path) -> (String, Result<(), String>) {
    let fixture = fixture(path);
    let table = patched(&fixture);
    let validated = table.validate();
    let json = Table::from_json(&table.to_json());
    let binary = Table::from_binary(&table.to_binary());
    let mut shown = format!("{}\nbase: {}\npatch:\n", fixture.about, fixture.base);
    for op in &fixture.patch {
        writeln!(shown, "  {}", op.show()).unwrap();
    }
    match (&validated, &json, &binary) {
        (Ok(()), Ok(from_json), Ok(from_binary)) => {
            assert_eq!(from_json, &table, "the JSON form decodes to another table");
            assert_eq!(
                from_binary, &table,
                "the binary form decodes to another table"
            );
            (shown, Ok(()))
        }
        (Err(e), json, binary) => {
            // The error names the field the patch broke (or a field
            // containing it).
            let at = e.to_string();
            let at = at.split_once(':').map_or("", |(at, _)| at);
            assert!(
                fixture.patch.iter().any(|op| {
                    let patched = location(op.path());
                    let patched = patched.trim_end_matches("[-]");
                    at.starts_with(patched) || patched.starts_with(at)
                }),
                "the error `{e}` is not about a field the patch changed"
            );
            // A binary table carries every number, so it must be refused by
            // validation itself; JSON may be refused earlier (by its
            // version, or because it cannot hold a non-finite number).
            match binary {
                Err(LoadError::Invalid(b)) => assert_eq!(b, e),
                Err(LoadError::Malformed(_)) if at == "schema_version" => {}
                other => panic!("the binary form: {other:?}"),
            }
            assert!(json.is_err(), "the JSON form loads");
            let error = |r: &Result<Table, LoadError>| match r {
                Ok(_) => "accepted".to_owned(),
                Err(e) => e.to_string(),
            };
            writeln!(shown, "---\nvalidate: {e}").unwrap();
            writeln!(shown, "json:     {}", error(json)).unwrap();
            writeln!(shown, "binary:   {}", error(binary)).unwrap();
            (shown, Err(e.to_string()))
        }
        _ => panic!("validation and loading disagree: {validated:?}, {json:?}, {binary:?}"),
    }
}

#[test]
fn invalid() {
    insta::glob!("../../../tests/tables/invalid", "*.json", |path| {
        let (shown, result) = outcome(path);
        assert!(result.is_err(), "{} is accepted", path.display());
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(shown);
        });
    });
}

#[test]
fn every_edge_table_is_accepted() {
    let base = Table::from_json(&std::fs::read_to_string(tables().join("complete.json")).unwrap())
        .unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(tables().join("edge")).unwrap() {
        let path = entry.unwrap().path();
        let (shown, result) = outcome(&path);
        assert_eq!(result, Ok(()), "{} is refused\n{shown}", path.display());
        assert_ne!(
            patched(&fixture(&path)),
            base,
            "{} changes nothing",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 20, "the edge fixtures are missing");
}

/// The base of the fixtures loads, and has every construct of the format
/// (so that a fixture can break any rule by changing one field).
#[test]
fn the_base_table_is_valid_and_uses_every_construct() {
    let text = std::fs::read_to_string(tables().join("complete.json")).unwrap();
    let table = Table::from_json(&text).unwrap();
    assert_eq!(Table::from_binary(&table.to_binary()).unwrap(), table);
    use routec_table::{PlanKind, SignalKind, Source, Test};
    let kinds: Vec<&SignalKind> = table.signals.iter().map(|s| &s.kind).collect();
    for kind in [
        SignalKind::Bool,
        SignalKind::Int,
        SignalKind::Tokens,
        SignalKind::Ratio,
        SignalKind::Duration,
        SignalKind::Money,
    ] {
        assert!(kinds.contains(&&kind), "no {kind:?} signal");
    }
    assert!(kinds.iter().any(|k| matches!(k, SignalKind::Enum { .. })));
    assert!(
        table
            .signals
            .iter()
            .any(|s| matches!(s.source, Source::Classifier { .. }))
    );
    for plan in ["target", "chain", "cascade"] {
        assert!(
            table.plans.iter().any(|p| match p.kind {
                PlanKind::Target { .. } => plan == "target",
                PlanKind::Chain { .. } => plan == "chain",
                PlanKind::Cascade { .. } => plan == "cascade",
            }),
            "no {plan} plan"
        );
    }
    // A threshold test of every numeric kind, and an enum and a bool test.
    let tested: Vec<(&Test, &SignalKind)> = table
        .diagram
        .nodes
        .iter()
        .map(|n| (&n.test, &table.signals[n.signal as usize].kind))
        .collect();
    assert!(tested.iter().any(|(t, _)| matches!(t, Test::Enum { .. })));
    assert!(tested.iter().any(|(t, _)| matches!(t, Test::Bool { .. })));
    for kind in [
        SignalKind::Int,
        SignalKind::Tokens,
        SignalKind::Ratio,
        SignalKind::Duration,
        SignalKind::Money,
    ] {
        assert!(
            tested
                .iter()
                .any(|(t, k)| matches!(t, Test::Threshold { .. }) && **k == kind),
            "no threshold on a {kind:?} signal"
        );
    }
    let assumed = table.assumed.as_ref().unwrap();
    assert!(!assumed.marginals.is_empty() && !assumed.cells.is_empty());
    assert!(table.leaves.iter().any(|l| l.splits.len() > 1));
}
