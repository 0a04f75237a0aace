//! Sticky splits, requests and signal sets: the parts of `decide` that the
//! fixtures of `tests/decide/` reach only by chance.
//!
//! A split of shares `s1, s2, ...` gives plan `k` the keys whose fraction
//! (`Request::key_fraction`, in `[0, 1)`) is in `[s1 + ... + s(k-1),
//! s1 + ... + sk)`: the boundary belongs to the next plan, and every
//! runtime must agree on that to the last bit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and may fail loudly"
)]

use std::path::Path;

use proptest::prelude::*;
use routec_runtime::{Router, SignalSet, SignalValue, Table};
use routec_table::{NodeRef, Split};

fn complete() -> Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tables/complete.json");
    Table::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The complete table with its root replaced by one leaf splitting
/// between plans `0..shares.len()` with these shares.
fn split_router(shares: &[f64]) -> Router {
    let mut table = complete();
    table.diagram.root = NodeRef::Leaf(4);
    table.leaves[4].splits = shares
        .iter()
        .enumerate()
        .map(|(plan, &share)| Split {
            plan: plan as u32,
            share,
        })
        .collect();
    Router::new(table).unwrap()
}

/// The plan `router` gives a request with this key, and the key's fraction
/// (a keyless request: the position of the router's next keyless decision).
fn decide_key(router: &Router, key: Option<&str>) -> (u32, f64) {
    let mut request = router.request();
    if let Some(key) = key {
        request.set_key(key);
    }
    let plan = router.decide(&request).plan;
    (plan, request.key_fraction().unwrap_or(0.0))
}

#[test]
fn a_key_exactly_at_a_cumulative_share_takes_the_next_plan() {
    let router = split_router(&[0.5, 0.5]);
    let (_, u) = decide_key(&router, Some("user-42"));
    // Both shares are exact: the fraction is a multiple of 2^-53 below 1.
    assert!(u > 0.0 && u < 1.0 && u + (1.0 - u) == 1.0);

    // Plan 0 gets [0, u), plan 1 gets [u, 1): the key is plan 1's.
    let router = split_router(&[u, 1.0 - u]);
    assert_eq!(decide_key(&router, Some("user-42")).0, 1);
    // Three plans, the boundary reached by summing two shares.
    let router = split_router(&[u / 2.0, u / 2.0, 1.0 - u]);
    assert_eq!(decide_key(&router, Some("user-42")).0, 2);
    // Just past the key, the key is plan 0's.
    let above = u + f64::EPSILON;
    let router = split_router(&[above, 1.0 - above]);
    assert_eq!(decide_key(&router, Some("user-42")).0, 0);
}

#[test]
fn a_zero_share_gets_no_key() {
    // A fresh router's first keyless request has position 0, the lowest
    // there is; no keyless request ever takes a zero share.
    let router = split_router(&[0.0, 1.0]);
    assert_eq!(decide_key(&router, None), (1, 0.0));
    assert!((0..1000).all(|_| decide_key(&router, None).0 == 1));
    let router = split_router(&[1.0, 0.0]);
    assert_eq!(decide_key(&router, None), (0, 0.0));
    assert!((0..1000).all(|_| decide_key(&router, None).0 == 0));
}

proptest! {
    #[test]
    fn each_key_falls_in_its_plans_interval(
        weights in prop::collection::vec(0u32..100, 1..6),
        key in "[a-z0-9-]{0,12}",
    ) {
        let total: u32 = weights.iter().sum();
        prop_assume!(total > 0);
        let shares: Vec<f64> = weights.iter().map(|&w| f64::from(w) / f64::from(total)).collect();
        let router = split_router(&shares);
        let (plan, u) = decide_key(&router, Some(&key));
        let plan = plan as usize;
        prop_assert!(shares[plan] > 0.0, "a plan with no share got a key");
        let below: f64 = shares[..plan].iter().sum();
        prop_assert!(below <= u, "{u} is below plan {plan}'s interval, from {below}");
        if plan + 1 < shares.len() {
            prop_assert!(u < below + shares[plan], "{u} is past plan {plan}'s interval");
        }
    }
}

#[test]
fn requests_keep_values_states_and_keys() {
    let router = Router::new(complete()).unwrap();
    let mut request = router.request();
    assert_eq!(request.get(0), SignalValue::Missing);
    request.set(0, 12.0);
    request.set(3, f64::NAN);
    request.set_invalid(5);
    request.set(99, 1.0); // out of range: ignored
    request.set_invalid(99);
    request.set_key("user-1");
    assert_eq!(request.get(0), SignalValue::Present(12.0));
    assert_eq!(request.get(3), SignalValue::Invalid);
    assert_eq!(request.get(5), SignalValue::Invalid);
    assert_eq!(request.get(99), SignalValue::Missing);
    assert!(request.key_fraction().is_some_and(|u| u > 0.0));

    // Cleared, it is a new request again, allocation kept.
    request.clear();
    for i in 0..8 {
        assert_eq!(request.get(i), SignalValue::Missing);
    }
    assert_eq!(request.key_fraction(), None);
}

#[test]
fn an_enum_index_past_the_variants_takes_the_first_branch() {
    // `Request::set` does not know the kinds; an enum index past the last
    // variant must not read another node's branches.
    let router = Router::new(complete()).unwrap();
    let decide_task = |task: f64| {
        let mut request = router.request();
        request.set(1, 0.0); // has_images = false
        request.set(2, task);
        request.set(0, 100.0); // prompt_tokens
        request.set(3, 0.9); // difficulty
        router.decide(&request)
    };
    let first = decide_task(0.0);
    for past in [3.0, 4.0, 1e9] {
        assert_eq!(decide_task(past), first, "task = {past}");
    }
    assert_ne!(decide_task(1.0), first);
}

#[test]
fn signal_sets_hold_any_of_256_signals() {
    let mut set = SignalSet::default();
    assert!(set.is_empty());
    for i in [0, 1, 63, 64, 130, 255] {
        set.insert(i);
    }
    set.insert(256); // past the end: ignored
    assert!(!set.is_empty());
    assert_eq!(set.iter().collect::<Vec<_>>(), [0, 1, 63, 64, 130, 255]);
    for i in [2, 62, 65, 129, 254, 256, 1000] {
        assert!(!set.contains(i), "{i}");
    }

    // A decision's sets: what the diagram read and did not get.
    let router = Router::new(complete()).unwrap();
    let mut request = router.request();
    let d = router.decide(&request);
    assert!(!d.defaulted.is_empty() && d.invalid.is_empty());
    request.set(1, 1.0); // has_images: the root, which routes to a leaf
    let d = router.decide(&request);
    assert!(d.defaulted.is_empty() && d.invalid.is_empty());
}
