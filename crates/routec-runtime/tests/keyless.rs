//! Requests without a sticky-split key still split by the compiled shares:
//! the router places them on a low-discrepancy sequence, so over any run of
//! keyless requests each plan's count is within a couple of its share.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "the test reads a fixture"
)]

use routec_runtime::{Router, keyless_fraction};

fn sample_router() -> Router {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/tables/sample.json"
    );
    Router::load(&std::fs::read(path).unwrap()).unwrap()
}

/// The split leaf of `sample.json`: the bool signal false, plans 1 (25%)
/// and 0 (75%).
fn keyless_request(router: &Router) -> routec_runtime::Request {
    let mut request = router.request();
    request.set(0, 0.0);
    request
}

#[test]
fn keyless_requests_take_each_plan_in_its_share() {
    let router = sample_router();
    let request = keyless_request(&router);
    for n in [4usize, 20, 100, 1000, 100_000] {
        let router = sample_router();
        let first = (0..n).filter(|_| router.decide(&request).plan == 1).count();
        let expected = 0.25 * n as f64;
        assert!(
            (first as f64 - expected).abs() <= 2.0,
            "{n} requests: {first} took the 25% plan"
        );
    }
    // Not stuck on the first plan, as a fixed default hash would be.
    let plans: Vec<u32> = (0..8).map(|_| router.decide(&request).plan).collect();
    assert!(plans.contains(&0) && plans.contains(&1), "{plans:?}");
}

#[test]
fn a_key_is_still_sticky() {
    let router = sample_router();
    let mut request = keyless_request(&router);
    request.set_key("user-42");
    let first = router.decide(&request).plan;
    assert!((0..100).all(|_| router.decide(&request).plan == first));
}

#[test]
fn the_sequence_is_the_documented_one() {
    assert_eq!(keyless_fraction(0), 0.0);
    // frac(φ) and frac(2φ), in 53 bits.
    assert!((keyless_fraction(1) - 0.618_033_988_749_895).abs() < 1e-15);
    assert!((keyless_fraction(2) - 0.236_067_977_499_79).abs() < 1e-14);
}
