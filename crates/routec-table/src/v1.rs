//! Schema version 1, read for compatibility: the types that changed in
//! version 2 (models gained `price`, classifier sources gained `endpoint`
//! and `timeout`), as version 1 wrote them, and their upgrade. JSON tables
//! of version 1 read directly (the new fields default); binary ones are
//! postcard, which is not self-describing, so they decode through these.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::types as t;

#[derive(Deserialize)]
pub(crate) struct Table {
    schema_version: u32,
    language_version: String,
    compiler_version: String,
    source_hash: String,
    policy: t::PolicyInfo,
    signals: Vec<Signal>,
    models: Vec<Model>,
    plans: Vec<t::Plan>,
    rules: Vec<t::Rule>,
    diagram: t::Diagram,
    leaves: Vec<t::Leaf>,
    faults: t::Faults,
    learn: t::Learn,
    assumed: Option<t::Assumed>,
}

#[derive(Deserialize)]
struct Signal {
    name: String,
    kind: t::SignalKind,
    source: Source,
    default: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Source {
    Builtin,
    Header { name: String },
    Metadata { key: String },
    Classifier { name: String, cost: f64 },
}

#[derive(Deserialize)]
struct Model {
    name: String,
    provider: Option<String>,
    endpoint: Option<t::Endpoint>,
    upstream: Option<String>,
    api_key_env: Option<String>,
    params: BTreeMap<String, t::Param>,
    context_tokens: Option<u64>,
    fallback: Option<u32>,
}

impl Table {
    /// The same table in the current version (no prices, no classifier
    /// endpoints: version 1 could not say them).
    pub(crate) fn upgrade(self) -> Option<t::Table> {
        if self.schema_version != 1 {
            return None;
        }
        Some(t::Table {
            schema_version: crate::SCHEMA_VERSION,
            language_version: self.language_version,
            compiler_version: self.compiler_version,
            source_hash: self.source_hash,
            policy: self.policy,
            signals: self
                .signals
                .into_iter()
                .map(|s| t::Signal {
                    name: s.name,
                    kind: s.kind,
                    source: match s.source {
                        Source::Builtin => t::Source::Builtin,
                        Source::Header { name } => t::Source::Header { name },
                        Source::Metadata { key } => t::Source::Metadata { key },
                        Source::Classifier { name, cost } => t::Source::Classifier {
                            name,
                            cost,
                            endpoint: None,
                            timeout: None,
                        },
                    },
                    default: s.default,
                })
                .collect(),
            models: self
                .models
                .into_iter()
                .map(|m| t::Model {
                    name: m.name,
                    provider: m.provider,
                    endpoint: m.endpoint,
                    upstream: m.upstream,
                    api_key_env: m.api_key_env,
                    params: m.params,
                    context_tokens: m.context_tokens,
                    fallback: m.fallback,
                    price: t::Price::default(),
                })
                .collect(),
            plans: self.plans,
            rules: self.rules,
            diagram: self.diagram,
            leaves: self.leaves,
            faults: self.faults,
            learn: self.learn,
            assumed: self.assumed,
            slices: Vec::new(),
            pacing: None,
            explore_candidates: Vec::new(),
            judge: None,
            model_health: Vec::new(),
        })
    }
}
