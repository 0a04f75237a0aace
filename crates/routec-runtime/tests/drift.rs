//! The drift monitor on the shared support table (8 leaves, 315 cells,
//! `drift kl > 0.1 nats over 1h => alert`): traffic drawn from the assumed
//! mix stays quiet over a long run, a shifted mix alerts once naming the
//! bins that moved, the window slides, and too few requests never alert.
//! Time is passed in: no clock, no sleeps.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and may fail loudly"
)]

use std::path::Path;

use routec_runtime::{DriftMonitor, Router};

fn monitor() -> DriftMonitor {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/support.table.json");
    let router = Router::load(&std::fs::read(path).unwrap()).unwrap();
    DriftMonitor::new(router.table()).unwrap()
}

/// A deterministic stream of uniform numbers in `0..1` (splitmix64).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A leaf drawn from `shares`.
fn draw(shares: &[f64], u: f64) -> u32 {
    let mut acc = 0.0;
    for (i, s) in shares.iter().enumerate() {
        acc += s;
        if u < acc {
            return i as u32;
        }
    }
    (shares.len() - 1) as u32
}

#[test]
fn bins_are_the_leaves_with_their_cells_shares() {
    let m = monitor();
    let bins: Vec<(String, f64)> = m.bins().map(|(n, s)| (n.to_owned(), s)).collect();
    assert_eq!(bins.len(), 8);
    assert!((bins.iter().map(|b| b.1).sum::<f64>() - 1.0).abs() < 1e-9);
    let shown: Vec<String> = bins
        .iter()
        .map(|(n, s)| format!("{:>6.2}%  {n}", s * 100.0))
        .collect();
    insta::assert_snapshot!(shown.join("\n"));
}

#[test]
fn the_assumed_mix_does_not_alert_over_a_long_run() {
    let mut m = monitor();
    let shares: Vec<f64> = m.bins().map(|(_, s)| s).collect();
    let mut u = Uniform(7);
    // Six hours at 2 requests a second; checked at every new bucket.
    let mut checks = 0;
    let mut worst: f64 = 0.0;
    for i in 0..(6 * 3600 * 2) {
        let now = f64::from(i) * 0.5;
        if m.observe(draw(&shares, u.next()), now) {
            let (status, fired) = m.check(now);
            assert!(!fired, "{}", status.describe());
            checks += 1;
            if status.requests >= status.min_requests {
                worst = worst.max(status.kl);
            }
        }
    }
    assert!(checks >= 6 * 60, "{checks}");
    assert!(worst < 0.01, "{worst}");
    let status = m.status(6.0 * 3600.0);
    // A full window: one hour of requests.
    assert!(
        (7000..=7200).contains(&status.requests),
        "{}",
        status.requests
    );
}

#[test]
fn a_shifted_mix_alerts_once_naming_the_bins_that_moved() {
    let mut m = monitor();
    let mut shares: Vec<f64> = m.bins().map(|(_, s)| s).collect();
    // Half the traffic moves to the smallest bin.
    let (small, _) = shares
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap();
    shares.iter_mut().for_each(|s| *s *= 0.5);
    shares[small] += 0.5;
    let mut u = Uniform(11);
    let mut fired_at = Vec::new();
    for i in 0..3600 {
        let now = f64::from(i);
        m.observe(draw(&shares, u.next()), now);
        let (status, fired) = m.check(now);
        if fired {
            fired_at.push((i, status));
        }
    }
    assert_eq!(fired_at.len(), 1, "an alert fires on the crossing only");
    let (at, status) = &fired_at[0];
    // As soon as the window holds enough requests.
    assert_eq!(*at as u64 + 1, status.min_requests);
    assert!(status.kl > 0.1);
    let name = m.bins().nth(small).unwrap().0.to_owned();
    assert_eq!(status.moved[0].name, name);
    assert!(status.moved[0].observed > 0.4 && status.moved[0].assumed < 0.05);
    insta::assert_snapshot!(m.status(3599.0).describe());
}

#[test]
fn too_few_requests_never_alert() {
    let mut m = monitor();
    for i in 0..349 {
        m.observe(0, f64::from(i));
    }
    let (status, fired) = m.check(349.0);
    assert_eq!(status.min_requests, 350);
    assert!(status.kl > 1.0 && !fired);
    m.observe(0, 349.0);
    assert!(m.check(349.0).1);
}

#[test]
fn the_window_slides_and_expired_buckets_are_reused() {
    let mut m = monitor();
    // One request per minute for an hour: a full window, one per bucket.
    for i in 0..60 {
        m.observe(1, f64::from(i) * 60.0);
    }
    assert_eq!(m.status(3599.0).requests, 60);
    // Half an hour later, half the buckets expired.
    assert_eq!(m.status(3599.0 + 1800.0).requests, 30);
    // A request an hour after the first reuses its bucket, cleared.
    m.observe(2, 3600.0);
    let status = m.status(3600.0);
    assert_eq!(status.requests, 60);
    // Long after, the window is empty and the divergence 0.
    let status = m.status(10.0 * 3600.0);
    assert_eq!((status.requests, status.kl), (0, 0.0));
    assert!(status.moved.is_empty());
}

#[test]
fn a_bin_assumed_empty_gives_a_finite_divergence() {
    let mut m = monitor();
    let empty = m.bins().position(|(_, s)| s == 0.0);
    // The support table assumes every leaf some traffic; the floor still
    // bounds the divergence of a request in the smallest bin.
    let (i, s) = m
        .bins()
        .enumerate()
        .map(|(i, (_, s))| (i, s))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert!(empty.is_none() || s == 0.0);
    m.observe(i as u32, 0.0);
    let kl = m.status(0.0).kl;
    assert!(kl.is_finite() && kl > 0.0);
    // ln(1 / q'), with q' = (s + 1e-4) / (1 + 8e-4).
    let q = (s + 1e-4) / (1.0 + 8e-4);
    assert!((kl - (1.0 / q).ln()).abs() < 1e-9);
}

/// Two monitors of one table, fed wall-clock seconds, agree on the buckets:
/// their counts added per bucket (as replicas add them in a shared store)
/// give the fleet's window, which alerts where neither replica's own
/// window has enough requests; buckets outside the window are ignored.
#[test]
fn counts_added_per_bucket_give_the_fleets_window() {
    let (mut a, mut b) = (monitor(), monitor());
    let k = a.len();
    let noon = 1_796_558_400.0;
    assert_eq!(a.bucket(noon), b.bucket(noon));
    assert_eq!(a.width(), 60.0);
    assert_eq!(a.buckets_at(noon).count(), 60);
    let mut fleet: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
    // Every request on one leaf: far from the assumed mix. Each replica
    // gets 200, under the 350 an alert needs on 8 bins.
    for i in 0..400 {
        let now = noon + f64::from(i);
        let m = if i % 2 == 0 { &mut a } else { &mut b };
        m.observe(0, now);
        fleet.entry(m.bucket(now)).or_insert_with(|| vec![0; k])[0] += 1;
    }
    let now = noon + 400.0;
    let (own, fired) = a.check(now);
    assert_eq!(own.requests, 200);
    assert!(!fired && own.requests < own.min_requests);
    // An old bucket, past the window, does not count.
    fleet.insert(a.bucket(now) - 60, vec![1000; k]);
    let view = || fleet.iter().map(|(b, c)| (*b, c.as_slice()));
    let (shared, fired) = a.check_counts(now, view());
    assert_eq!(shared.requests, 400);
    assert!(fired, "{}", shared.describe());
    // Once per crossing.
    assert!(!a.check_counts(now, view()).1);
    assert!(b.check_counts(now, view()).1);
    assert_eq!(b.shared_status(now, view()), shared);
}
