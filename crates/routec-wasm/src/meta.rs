//! The `routec` custom section: JSON that tells a host how to turn a request
//! into the module's inputs (signal names, kinds, enum variants, defaults,
//! units, sources) and a result into a plan (plan texts, rules and their
//! lines, leaves with their split shares), plus the table's versions and
//! hash and, for explanations, the decision diagram. Its shape is part of
//! the ABI (`docs/wasm.md`).

use routec_table::{NodeRef, PlanKind, SignalKind, Source, Table, Test};
use serde::Serialize;

use crate::layout::Layout;

/// The metadata of one module.
#[derive(Clone, Debug, Serialize)]
pub struct Meta {
    /// [`crate::ABI_VERSION`].
    pub abi: u32,
    /// `routec-wasm` and its version.
    pub generator: String,
    pub table: TableInfo,
    pub layout: LayoutInfo,
    /// Indexed like the module's `values`.
    pub signals: Vec<SignalInfo>,
    pub plans: Vec<PlanInfo>,
    pub rules: Vec<RuleInfo>,
    pub leaves: Vec<LeafInfo>,
    pub diagram: DiagramInfo,
}

#[derive(Clone, Debug, Serialize)]
pub struct TableInfo {
    pub policy: String,
    pub schema_version: u32,
    pub language_version: String,
    pub compiler_version: String,
    pub source_hash: String,
}

/// The addresses of [`Layout`], also available from the module's exports.
#[derive(Clone, Debug, Serialize)]
pub struct LayoutInfo {
    pub result: u32,
    pub missing: u32,
    pub invalid: u32,
    pub values: u32,
    pub key: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct SignalInfo {
    pub name: String,
    /// `bool`, `int`, `tokens`, `ratio`, `duration`, `money` or `enum`.
    pub kind: &'static str,
    /// The variants of an enum, in index order (empty otherwise).
    pub variants: Vec<String>,
    /// The default in base units (an enum's variant index, 0/1 for bools).
    pub default: f64,
    /// The default as the language writes it.
    pub default_text: String,
    /// The base unit of values: `tokens`, `ratio` (0..1), `seconds`, `usd`,
    /// or none.
    pub unit: Option<&'static str>,
    /// Where a request carries it: `builtin`, `header`, `metadata` or
    /// `classifier`, with the header, key or classifier name.
    pub source: &'static str,
    pub source_name: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanInfo {
    /// The plan in the language's syntax, as `routec explain` prints it.
    pub text: String,
    /// The models it calls, in order (a chain's plans flattened).
    pub models: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleInfo {
    /// 1-based line in the policy.
    pub line: u32,
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct LeafInfo {
    /// Index into `rules`.
    pub rule: u32,
    /// The optimizer's cell, as a readable predicate, when known.
    pub cell: Option<String>,
    /// `[plan index, share]` pairs (shares sum to 1).
    pub splits: Vec<(u32, f64)>,
}

/// The decision diagram, for explanations: a reference `r >= 0` is node
/// `r`, `r < 0` is leaf `-1 - r`. Nodes only refer to smaller indices.
#[derive(Clone, Debug, Serialize)]
pub struct DiagramInfo {
    pub root: i64,
    pub nodes: Vec<NodeInfo>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeInfo {
    pub signal: u32,
    /// `enum` (`next` has one reference per variant), `bool` (`next` is
    /// `[if false, if true]`) or `threshold` (`next` is `[below, at or
    /// above]` the `cut`).
    pub test: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cut: Option<f64>,
    pub next: Vec<i64>,
}

fn reference(r: NodeRef) -> i64 {
    match r {
        NodeRef::Node(n) => i64::from(n),
        NodeRef::Leaf(l) => -1 - i64::from(l),
    }
}

/// A value of a signal as the language writes it: exactly
/// `routec_runtime::Router::show_value`.
pub fn show_value(kind: &SignalKind, value: f64) -> String {
    match kind {
        SignalKind::Enum { variants } => variants
            .get(value.max(0.0) as usize)
            .cloned()
            .unwrap_or_else(|| value.to_string()),
        SignalKind::Bool => (value != 0.0).to_string(),
        SignalKind::Ratio => format!("{}%", trim(value * 100.0)),
        SignalKind::Duration => format!("{}ms", trim(value * 1000.0)),
        SignalKind::Money => format!("${}", trim(value)),
        SignalKind::Int | SignalKind::Tokens => trim(value),
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

fn plan_models(table: &Table, plan: usize, out: &mut Vec<String>, depth: usize) {
    let Some(p) = table.plans.get(plan) else {
        return;
    };
    let name = |m: u32| {
        table
            .models
            .get(m as usize)
            .map_or_else(String::new, |m| m.name.clone())
    };
    match &p.kind {
        PlanKind::Target { model } => out.push(name(*model)),
        PlanKind::Cascade { models, .. } => out.extend(models.iter().map(|&m| name(m))),
        // Chains refer to earlier plans only (validated), so this ends; the
        // depth guard is for safety.
        PlanKind::Chain { plans } if depth < 64 => {
            for &q in plans {
                plan_models(table, q as usize, out, depth + 1);
            }
        }
        PlanKind::Chain { .. } => {}
    }
}

impl Meta {
    pub fn of(table: &Table, layout: &Layout) -> Meta {
        let signals = table
            .signals
            .iter()
            .map(|s| {
                let (kind, unit) = match &s.kind {
                    SignalKind::Bool => ("bool", None),
                    SignalKind::Int => ("int", None),
                    SignalKind::Tokens => ("tokens", Some("tokens")),
                    SignalKind::Ratio => ("ratio", Some("ratio")),
                    SignalKind::Duration => ("duration", Some("seconds")),
                    SignalKind::Money => ("money", Some("usd")),
                    SignalKind::Enum { .. } => ("enum", None),
                };
                let variants = match &s.kind {
                    SignalKind::Enum { variants } => variants.clone(),
                    _ => Vec::new(),
                };
                let (source, source_name) = match &s.source {
                    Source::Builtin => ("builtin", None),
                    Source::Header { name } => ("header", Some(name.clone())),
                    Source::Metadata { key } => ("metadata", Some(key.clone())),
                    Source::Classifier { name, .. } => ("classifier", Some(name.clone())),
                };
                SignalInfo {
                    name: s.name.clone(),
                    kind,
                    variants,
                    default: s.default,
                    default_text: show_value(&s.kind, s.default),
                    unit,
                    source,
                    source_name,
                }
            })
            .collect();
        let plans = (0..table.plans.len())
            .map(|i| {
                let mut models = Vec::new();
                plan_models(table, i, &mut models, 0);
                PlanInfo {
                    text: table.plans[i].text.clone(),
                    models,
                }
            })
            .collect();
        let cells = table.assumed.as_ref().map(|a| &a.cells);
        let leaves = table
            .leaves
            .iter()
            .map(|l| LeafInfo {
                rule: l.rule,
                cell: l.cell.and_then(|c| {
                    cells
                        .and_then(|cells| cells.get(c as usize))
                        .map(|c| c.predicate.clone())
                }),
                splits: l.splits.iter().map(|s| (s.plan, s.share)).collect(),
            })
            .collect();
        let nodes = table
            .diagram
            .nodes
            .iter()
            .map(|n| match &n.test {
                Test::Enum { branches } => NodeInfo {
                    signal: n.signal,
                    test: "enum",
                    cut: None,
                    next: branches.iter().map(|&b| reference(b)).collect(),
                },
                Test::Bool { if_false, if_true } => NodeInfo {
                    signal: n.signal,
                    test: "bool",
                    cut: None,
                    next: vec![reference(*if_false), reference(*if_true)],
                },
                Test::Threshold {
                    cut,
                    below,
                    at_or_above,
                } => NodeInfo {
                    signal: n.signal,
                    test: "threshold",
                    cut: Some(*cut),
                    next: vec![reference(*below), reference(*at_or_above)],
                },
            })
            .collect();
        Meta {
            abi: crate::ABI_VERSION,
            generator: format!("routec-wasm {}", env!("CARGO_PKG_VERSION")),
            table: TableInfo {
                policy: table.policy.name.clone(),
                schema_version: table.schema_version,
                language_version: table.language_version.clone(),
                compiler_version: table.compiler_version.clone(),
                source_hash: table.source_hash.clone(),
            },
            layout: LayoutInfo {
                result: crate::layout::RESULT_PLAN,
                missing: crate::layout::MISSING,
                invalid: crate::layout::INVALID,
                values: layout.values,
                key: layout.key,
            },
            signals,
            plans,
            rules: table
                .rules
                .iter()
                .map(|r| RuleInfo {
                    line: r.line,
                    text: r.text.clone(),
                })
                .collect(),
            leaves,
            diagram: DiagramInfo {
                root: reference(table.diagram.root),
                nodes,
            },
        }
    }

    /// The section's bytes: compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
