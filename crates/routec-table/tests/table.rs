//! Encoding round trips, refusal of corrupt, truncated and future tables,
//! and the committed JSON Schema.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and may fail loudly"
)]

use std::collections::BTreeMap;
use std::path::Path;

use routec_table::*;

/// A small table: `when has_images => large`, `otherwise => small`.
pub fn sample() -> Table {
    Table {
        schema_version: SCHEMA_VERSION,
        language_version: LANGUAGE_VERSION.into(),
        compiler_version: "0.1.0".into(),
        source_hash: source_hash("policy"),
        policy: PolicyInfo {
            name: "p".into(),
            owner: Some("team".into()),
            baseline: Some(1),
        },
        signals: vec![
            Signal {
                name: "has_images".into(),
                kind: SignalKind::Bool,
                source: Source::Builtin,
                default: 0.0,
            },
            Signal {
                name: "task".into(),
                kind: SignalKind::Enum {
                    variants: vec!["chat".into(), "code".into()],
                },
                source: Source::Header {
                    name: "x-task".into(),
                },
                default: 0.0,
            },
        ],
        models: vec![
            Model {
                name: "small".into(),
                provider: Some("openai".into()),
                endpoint: Some(Endpoint::Env {
                    var: "SMALL_URL".into(),
                }),
                upstream: None,
                api_key_env: None,
                params: BTreeMap::from([("quantization".into(), Param::String("fp8".into()))]),
                context_tokens: Some(128_000),
                price: Price::default(),
                fallback: Some(1),
            },
            Model {
                name: "large".into(),
                provider: None,
                endpoint: Some(Endpoint::Url {
                    url: "https://example.com".into(),
                }),
                upstream: None,
                api_key_env: Some("KEY".into()),
                params: BTreeMap::new(),
                context_tokens: None,
                price: Price::default(),
                fallback: None,
            },
        ],
        plans: vec![
            Plan {
                text: "large".into(),
                kind: PlanKind::Target { model: 1 },
            },
            Plan {
                text: "small".into(),
                kind: PlanKind::Target { model: 0 },
            },
        ],
        rules: vec![
            Rule {
                line: 3,
                text: "when has_images => large".into(),
            },
            Rule {
                line: 4,
                text: "otherwise => small".into(),
            },
        ],
        diagram: Diagram {
            root: NodeRef::Node(0),
            nodes: vec![Node {
                signal: 0,
                test: Test::Bool {
                    if_false: NodeRef::Leaf(1),
                    if_true: NodeRef::Leaf(0),
                },
            }],
        },
        leaves: vec![
            Leaf {
                rule: 0,
                cell: None,
                splits: vec![Split {
                    plan: 0,
                    share: 1.0,
                }],
            },
            Leaf {
                rule: 1,
                cell: None,
                splits: vec![
                    Split {
                        plan: 1,
                        share: 0.25,
                    },
                    Split {
                        plan: 0,
                        share: 0.75,
                    },
                ],
            },
        ],
        faults: Faults::default(),
        learn: Learn::default(),
        assumed: None,
        slices: vec![Slice {
            name: "coders".into(),
            diagram: Diagram {
                root: NodeRef::Node(0),
                nodes: vec![Node {
                    signal: 1,
                    test: Test::Enum {
                        branches: vec![NodeRef::Leaf(0), NodeRef::Leaf(1)],
                    },
                }],
            },
        }],
        pacing: None,
        explore_candidates: Vec::new(),
        judge: None,
        model_health: Vec::new(),
    }
}

/// `tests/tables/sample.json` is the sample table as this version writes it:
/// a golden artifact that must keep loading.
#[test]
fn golden_sample_table_is_current_and_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tables/sample.json");
    if std::env::var_os("ROUTEC_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, sample().to_json()).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap();
    assert_eq!(Table::from_json(&golden).unwrap(), sample());
    assert_eq!(golden, sample().to_json());
}

#[test]
fn json_and_binary_round_trip() {
    let table = sample();
    assert_eq!(Table::from_json(&table.to_json()).unwrap(), table);
    assert_eq!(Table::from_binary(&table.to_binary()).unwrap(), table);
    assert_eq!(Table::from_bytes(&table.to_binary()).unwrap(), table);
    assert_eq!(
        Table::from_bytes(table.to_json().as_bytes()).unwrap(),
        table
    );
}

#[test]
fn every_truncation_and_bit_flip_of_the_binary_is_refused() {
    let bytes = sample().to_binary();
    for len in 0..bytes.len() {
        assert!(
            Table::from_binary(&bytes[..len]).is_err(),
            "truncated to {len}"
        );
    }
    for i in 0..bytes.len() {
        let mut corrupt = bytes.clone();
        corrupt[i] ^= 0x10;
        assert!(Table::from_binary(&corrupt).is_err(), "flipped byte {i}");
    }
}

#[test]
fn future_and_old_versions_get_clear_errors() {
    let mut json: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
    json["schema_version"] = (SCHEMA_VERSION + 1).into();
    json["a_field_from_the_future"] = true.into();
    let err = Table::from_json(&json.to_string()).unwrap_err();
    assert!(matches!(err, LoadError::FutureVersion { .. }), "{err}");
    assert!(err.to_string().contains("upgrade routec"));

    json["schema_version"] = 0.into();
    let err = Table::from_json(&json.to_string()).unwrap_err();
    assert!(matches!(err, LoadError::UnsupportedVersion { .. }), "{err}");

    let mut bytes = sample().to_binary();
    bytes[4] = 9;
    assert!(matches!(
        Table::from_binary(&bytes).unwrap_err(),
        LoadError::FutureVersion { found: 9, .. }
    ));
}

#[test]
fn unknown_fields_and_inconsistent_tables_are_refused() {
    let mut json: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
    json["extra"] = 1.into();
    assert!(matches!(
        Table::from_json(&json.to_string()).unwrap_err(),
        LoadError::Malformed(_)
    ));

    let mut bad = sample();
    bad.leaves[0].splits[0].plan = 7;
    assert!(matches!(
        Table::from_json(&bad.to_json()).unwrap_err(),
        LoadError::Invalid(_)
    ));
    assert!(Table::from_binary(&bad.to_binary()).is_err());

    let mut cyclic = sample();
    cyclic.diagram.nodes[0].test = Test::Bool {
        if_false: NodeRef::Node(0),
        if_true: NodeRef::Leaf(0),
    };
    assert!(cyclic.validate().is_err());

    let mut uneven = sample();
    uneven.leaves[1].splits[0].share = 0.5;
    assert!(uneven.validate().is_err());

    assert!(Table::from_json("{}").is_err());
    assert!(Table::from_json("not json").is_err());
    assert!(Table::from_bytes(&[0xff, 0xfe]).is_err());
}

#[test]
fn committed_json_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/table.schema.json");
    let current = Table::json_schema();
    if std::env::var_os("ROUTEC_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &current).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "schema/table.schema.json is stale; regenerate it with \
         `ROUTEC_UPDATE_SCHEMA=1 cargo test -p routec-table` and review the diff"
    );
}

/// Tables written by schema version 1 (before prices and classifier
/// endpoints), committed in `tests/tables/v1/` as that routec wrote them,
/// keep loading in both encodings, upgraded to the current version, and
/// decode to the same table.
#[test]
fn version_1_tables_keep_loading() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tables/v1");
    let json = std::fs::read(dir.join("support.table.json")).unwrap();
    let bin = std::fs::read(dir.join("support.table.bin")).unwrap();
    assert_eq!(u32::from_le_bytes([bin[4], bin[5], bin[6], bin[7]]), 1);
    let from_json = Table::from_bytes(&json).unwrap();
    let from_bin = Table::from_bytes(&bin).unwrap();
    assert_eq!(from_json.schema_version, SCHEMA_VERSION);
    assert_eq!(from_json, from_bin);
    assert!(from_json.models.iter().all(|m| m.price == Price::default()));
    assert!(from_json.signals.iter().any(|s| matches!(
        &s.source,
        Source::Classifier {
            endpoint: None,
            timeout: None,
            ..
        }
    )));
    // Re-encoded, it is a current table.
    assert_eq!(
        Table::from_bytes(&from_json.to_binary()).unwrap(),
        from_json
    );
}

/// Tables written by schema version 2 (before the pacing ladder), committed
/// in `tests/tables/v2/` as that routec wrote them (`batch_summarization`,
/// which has a spend SLO), keep loading in both encodings, as tables
/// without a ladder.
#[test]
fn version_2_tables_keep_loading() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tables/v2");
    let json = std::fs::read(dir.join("batch_summarization.table.json")).unwrap();
    let bin = std::fs::read(dir.join("batch_summarization.table.bin")).unwrap();
    assert_eq!(u32::from_le_bytes([bin[4], bin[5], bin[6], bin[7]]), 2);
    let from_json = Table::from_bytes(&json).unwrap();
    let from_bin = Table::from_bytes(&bin).unwrap();
    assert_eq!(from_json.schema_version, SCHEMA_VERSION);
    assert_eq!(from_json, from_bin);
    assert_eq!(from_json.pacing, None);
    assert_eq!(from_json.rungs(), 1);
    assert_eq!(
        Table::from_bytes(&from_json.to_binary()).unwrap(),
        from_json
    );
}

/// Tables written by schema version 3 (before the judge), committed in
/// `tests/tables/v3/` as that routec wrote them (`tests/pacing/paced_chat`,
/// which has a pacing ladder), keep loading in both encodings, ladder
/// included, as tables without a judge.
#[test]
fn version_3_tables_keep_loading() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tables/v3");
    let json = std::fs::read(dir.join("paced_chat.table.json")).unwrap();
    let bin = std::fs::read(dir.join("paced_chat.table.bin")).unwrap();
    assert_eq!(u32::from_le_bytes([bin[4], bin[5], bin[6], bin[7]]), 3);
    let from_json = Table::from_bytes(&json).unwrap();
    let from_bin = Table::from_bytes(&bin).unwrap();
    assert_eq!(from_json.schema_version, SCHEMA_VERSION);
    assert_eq!(from_json, from_bin);
    assert_eq!(from_json.judge, None);
    assert_eq!(from_json.rungs(), 5);
    assert_eq!(
        Table::from_bytes(&from_json.to_binary()).unwrap(),
        from_json
    );
}

/// The smallest envelope (a header, no payload, a checksum) is read up to
/// its payload: the checksum is checked, then the empty payload refused.
#[test]
fn the_smallest_envelope_is_read_up_to_its_payload() {
    use sha2::{Digest, Sha256};
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    let digest = Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    assert_eq!(bytes.len(), 48);
    let err = Table::from_binary(&bytes).unwrap_err();
    assert!(
        matches!(&err, LoadError::Malformed(why) if why.starts_with("invalid payload")),
        "{err}"
    );
    bytes[47] ^= 1;
    assert!(matches!(
        Table::from_binary(&bytes).unwrap_err(),
        LoadError::Checksum
    ));
    assert!(matches!(
        Table::from_binary(&bytes[..47]).unwrap_err(),
        LoadError::Malformed(_)
    ));
}
