//! What the routec-diff test crates share: a compiled policy as a diff
//! side, and the plans a table routes a request to.

use routec_check::Policy;
use routec_diff::Side;
use routec_opt::{CompileOptions, Compiled};
use routec_runtime::Router;

pub struct Built {
    pub source: String,
    pub policy: Policy,
    pub compiled: Compiled,
}

/// Checks and compiles `source`; `Err` is the message of every error of the
/// step that failed.
pub fn try_build(source: &str) -> Result<Built, Vec<String>> {
    let (policy, errors) = routec_conformance::check_source(source);
    if !errors.is_empty() {
        return Err(errors);
    }
    let compiled = routec_opt::compile(
        &policy,
        source,
        &CompileOptions {
            traffic: None,
            compiler_version: "test".into(),
            slo_margin: None,
        },
    )
    .map_err(|e| e.iter().map(|d| d.message.clone()).collect::<Vec<_>>())?;
    Ok(Built {
        source: source.to_owned(),
        policy,
        compiled,
    })
}

/// A side for its first traffic profile, without recorded traffic.
pub fn side(b: &Built) -> Side<'_> {
    Side {
        policy: &b.policy,
        source: &b.source,
        compiled: &b.compiled,
        traffic: b.policy.traffic.first().map(|t| t.name.as_str()),
        recorded: None,
    }
}

/// The plans of the leaf a request reaches, as `(text, share)` sorted.
pub fn routed(router: &Router, json: &serde_json::Value) -> Vec<(String, u64)> {
    let request = router.request_from_json(json).unwrap();
    let d = router.decide(&request);
    let table = router.table();
    let mut out: Vec<(String, u64)> = table.leaves[d.leaf as usize]
        .splits
        .iter()
        .map(|s| {
            (
                table.plans[s.plan as usize].text.clone(),
                (s.share * 1e6).round() as u64,
            )
        })
        .collect();
    out.sort();
    out
}
