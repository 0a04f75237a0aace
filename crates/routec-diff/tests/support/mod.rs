//! What the routec-diff test crates share: a compiled policy as a diff
//! side, and the plans a table routes a request to.

use routec_check::Policy;
use routec_diff::Side;
use routec_opt::Compiled;
use routec_runtime::Router;

pub struct Built {
    pub source: String,
    pub policy: Policy,
    pub compiled: Compiled,
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
