//! Exploration on the shared support table (`explore 2% budget $20 per
//! day`): which plans are candidates, the explored share, the propensities
//! (exact, and summing to 1 over what could have been chosen), the bandit's
//! preference for plans with few outcomes, and the budget per period.
//! Time and random draws are passed in: no clock, no sleeps.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and may fail loudly"
)]

use std::path::Path;

use routec_runtime::explore::{Explorer, split_share};
use routec_runtime::{Decision, Request, Router, SignalSet, Table};

/// The shared support table as it is compiled, with its SLO-safe
/// candidates.
fn compiled_table() -> Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/support.table.json");
    Router::load(&std::fs::read(path).unwrap())
        .unwrap()
        .table()
        .clone()
}

/// The shared support table without its candidate lists, as a table of
/// schema version 2: the candidates are the plans of sibling leaves. The
/// tests of the bandit, the propensities and the budget use it, so their
/// candidates do not move with the compiler's.
fn table() -> Table {
    let mut t = compiled_table();
    t.explore_candidates.clear();
    t
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

fn decision(table: &Table, leaf: u32, plan: u32) -> Decision {
    let l = &table.leaves[leaf as usize];
    Decision {
        plan,
        rule: l.rule,
        leaf,
        cell: l.cell,
        defaulted: SignalSet::default(),
        invalid: SignalSet::default(),
    }
}

const DAY: f64 = 86_400.0;
/// 2026-12-06 00:00 UTC.
const T0: f64 = 1_796_515_200.0;

/// A table of schema version 3 carries each leaf's SLO-safe candidates
/// (the compiler's check is in `routec-opt`'s tests); the explorer uses
/// exactly those. On support, leaf 4 (`small`) may explore `large`,
/// `medium` and `medium_spec`; the split leaves, the plans outside their
/// splits.
#[test]
fn the_tables_candidates_are_the_ones_explored() {
    let t = compiled_table();
    assert_eq!(t.explore_candidates.len(), t.leaves.len());
    let mut e = Explorer::new(&t).unwrap().unwrap();
    for (leaf, listed) in t.explore_candidates.iter().enumerate() {
        assert_eq!(&e.candidates(leaf as u32).collect::<Vec<_>>(), listed);
    }
    assert_eq!(e.candidates(4).collect::<Vec<_>>(), [0, 5, 6]);
    assert_eq!(e.candidates(6).collect::<Vec<_>>(), [0, 5]);
    for leaf in 0..4 {
        assert_eq!(e.candidates(leaf).count(), 0, "leaf {leaf}");
    }
    // Every explored request goes to a listed candidate, and the
    // propensities of the leaf's plans sum to 1.
    let req = Request::new(t.signals.len());
    let d = decision(&t, 4, 2);
    let mut rng = Uniform(5);
    let mut propensity = std::collections::BTreeMap::new();
    for _ in 0..20_000 {
        let c = e.choose(&req, &d, None, rng.next(), rng.next(), T0 + 10.0);
        assert!(c.plan == 2 || [0, 5, 6].contains(&c.plan), "{c:?}");
        propensity.insert(c.plan, c.propensity);
    }
    assert_eq!(propensity.len(), 4);
    let sum: f64 = propensity.values().sum();
    assert!((sum - 1.0).abs() < 1e-9, "{propensity:?}");
}

/// Without candidate lists (schema version 2), a leaf's candidates are
/// the other plans of its rule's sibling leaves.
#[test]
fn candidates_are_the_other_plans_of_the_leafs_rule() {
    let t = table();
    let e = Explorer::new(&t).unwrap().unwrap();
    // Leaves 4..=7 are rule 5's (`optimize`): `small` (plan 2) alone, then
    // `medium_spec` (6) alone, then two splits of both.
    assert_eq!(e.candidates(4).collect::<Vec<_>>(), [6]);
    assert_eq!(e.candidates(5).collect::<Vec<_>>(), [2]);
    assert_eq!(e.candidates(6).count(), 0);
    // Rules with one plan are never explored.
    for leaf in 0..4 {
        assert_eq!(e.candidates(leaf).count(), 0, "leaf {leaf}");
    }
}

#[test]
fn the_explored_share_and_the_propensities_are_the_declared_ones() {
    let t = table();
    let req = Request::new(t.signals.len());
    let mut e = Explorer::new(&t).unwrap().unwrap();
    let mut rng = Uniform(7);
    let d = decision(&t, 4, 2);
    let n = 100_000;
    let mut explored = 0;
    for _ in 0..n {
        let c = e.choose(&req, &d, None, rng.next(), rng.next(), T0 + 10.0);
        if c.explored {
            explored += 1;
            assert_eq!(c.plan, 6);
            assert!((c.propensity - 0.02).abs() < 1e-12, "{c:?}");
        } else {
            assert_eq!(c.plan, 2);
            assert!((c.propensity - 0.98).abs() < 1e-12, "{c:?}");
        }
    }
    // 2% of 100k: 2000 ± 4.4 sd (sd = 44).
    assert!((1800..=2200).contains(&explored), "{explored}");
    assert_eq!(e.period_totals(T0 + 10.0).0, explored);
    // A split leaf without candidates: the split share, unexplored.
    let split = decision(&t, 6, 6);
    let c = e.choose(&req, &split, None, 0.0, 0.0, T0 + 10.0);
    assert!(!c.explored);
    assert!((c.propensity - split_share(&t, 6, 6)).abs() < 1e-12);
}

/// With two candidates, the one with fewer outcomes is drawn more often, in
/// the documented proportion `1/sqrt(1+n)`, and the logged propensities of
/// every plan the leaf could take sum to 1.
#[test]
fn the_bandit_favors_plans_with_few_outcomes() {
    let mut t = table();
    // Give rule 5 a third plan (`medium`, plan 5) in leaf 5's place.
    t.leaves[5].splits[0].plan = 5;
    let req = Request::new(t.signals.len());
    let mut e = Explorer::new(&t).unwrap().unwrap();
    assert_eq!(e.candidates(4).collect::<Vec<_>>(), [5, 6]);
    for _ in 0..3 {
        e.outcome(4, 6);
    }
    let d = decision(&t, 4, 2);
    let (w5, w6) = (1.0, 0.5); // 1/sqrt(1+0), 1/sqrt(1+3)
    let mut seen = std::collections::BTreeMap::new();
    let mut rng = Uniform(11);
    let n = 200_000;
    for _ in 0..n {
        let c = e.choose(&req, &d, None, rng.next(), rng.next(), T0);
        let p = seen.entry(c.plan).or_insert((0u32, c.propensity));
        p.0 += 1;
        assert!((p.1 - c.propensity).abs() < 1e-12);
    }
    let p5 = 0.02 * w5 / (w5 + w6);
    let p6 = 0.02 * w6 / (w5 + w6);
    assert!((seen[&5].1 - p5).abs() < 1e-12);
    assert!((seen[&6].1 - p6).abs() < 1e-12);
    assert!((seen[&2].1 - 0.98).abs() < 1e-12);
    assert!((seen.values().map(|v| v.1).sum::<f64>() - 1.0).abs() < 1e-12);
    for (plan, (count, p)) in &seen {
        let expected = p * f64::from(n);
        let sd = (expected * (1.0 - p)).sqrt();
        assert!(
            (f64::from(*count) - expected).abs() < 5.0 * sd,
            "plan {plan}: {count} vs {expected}"
        );
    }
}

#[test]
fn the_budget_stops_exploration_until_the_next_period() {
    let t = table();
    let req = Request::new(t.signals.len());
    let mut e = Explorer::new(&t).unwrap().unwrap();
    let d = decision(&t, 4, 2);
    assert_eq!(e.remaining(T0), Some(20.0));
    // u = 0 always explores while the budget lasts.
    let c = e.choose(&req, &d, None, 0.0, 0.5, T0 + 1.0);
    assert!(c.explored);
    e.spend(15.0, T0 + 2.0);
    assert_eq!(e.remaining(T0 + 2.0), Some(5.0));
    assert!(e.choose(&req, &d, None, 0.0, 0.5, T0 + 3.0).explored);
    e.spend(5.0, T0 + 4.0);
    assert_eq!(e.remaining(T0 + 4.0), Some(0.0));
    // Spent: routed with the split share, not `(1 - share) * s`.
    let c = e.choose(&req, &d, None, 0.0, 0.5, T0 + 5.0);
    assert_eq!((c.plan, c.explored, c.propensity), (2, false, 1.0));
    assert_eq!(e.period_totals(T0 + 5.0), (2, 20.0));
    // The next day starts a new budget.
    assert_eq!(e.remaining(T0 + DAY), Some(20.0));
    assert!(e.choose(&req, &d, None, 0.0, 0.5, T0 + DAY + 1.0).explored);
    assert_eq!(e.period_totals(T0 + DAY + 1.0), (1, 0.0));
}

/// Replicas sharing one budget keep the spend outside, keyed by the
/// period's start, and feed the total before each choice.
#[test]
fn an_outside_spend_total_stops_exploration() {
    let t = table();
    let req = Request::new(t.signals.len());
    let mut e = Explorer::new(&t).unwrap().unwrap();
    let d = decision(&t, 4, 2);
    let start = e.period_start(T0 + 10.0).unwrap();
    assert_eq!(start as f64, (T0 / DAY).floor() * DAY);
    assert_eq!(e.period_start(T0 + DAY + 10.0), Some(start + DAY as u64));
    e.set_spent(19.0, T0 + 10.0);
    assert_eq!(e.remaining(T0 + 10.0), Some(1.0));
    assert!(e.choose(&req, &d, None, 0.0, 0.5, T0 + 11.0).explored);
    // Another replica spent the rest: the shared total is the budget.
    e.set_spent(20.0, T0 + 12.0);
    assert!(!e.choose(&req, &d, None, 0.0, 0.5, T0 + 13.0).explored);
    // Nonsense totals are ignored.
    e.set_spent(f64::NAN, T0 + 14.0);
    e.set_spent(-1.0, T0 + 14.0);
    assert_eq!(e.remaining(T0 + 14.0), Some(0.0));
    // A new period starts from zero until its total is fed.
    assert_eq!(e.remaining(T0 + DAY), Some(20.0));
}

#[test]
fn bad_settings_are_errors_and_a_zero_share_explores_nothing() {
    let mut t = table();
    t.learn.explore.as_mut().unwrap().period = Some("fortnight".into());
    assert_eq!(
        Explorer::new(&t).unwrap_err(),
        "unknown exploration budget period `fortnight` (expected hour, day, week or month)"
    );
    t.learn.explore.as_mut().unwrap().share = 1.5;
    assert_eq!(
        Explorer::new(&t).unwrap_err(),
        "the exploration share must be within 0..1, got 1.5"
    );
    t.learn.explore.as_mut().unwrap().share = 0.0;
    assert!(Explorer::new(&t).unwrap().is_none());
    t.learn.explore = None;
    assert!(Explorer::new(&t).unwrap().is_none());
}

/// A candidate whose context window is below the request's prompt is
/// skipped (here the only one: the request is not explored), and requests
/// with images or tools are never explored (the table does not say which
/// models take them).
#[test]
fn candidates_must_fit_the_request() {
    let mut t = table();
    // `medium_spec` (plan 6) with a 4k window.
    let medium_spec = t
        .models
        .iter()
        .position(|m| m.name == "medium_spec")
        .unwrap();
    t.models[medium_spec].context_tokens = Some(4_000);
    let mut e = Explorer::new(&t).unwrap().unwrap();
    let d = decision(&t, 4, 2);
    let mut req = Request::new(t.signals.len());
    assert!(e.choose(&req, &d, Some(3_000.0), 0.0, 0.5, T0).explored);
    let c = e.choose(&req, &d, Some(5_000.0), 0.0, 0.5, T0);
    assert_eq!((c.plan, c.explored, c.propensity), (2, false, 1.0));
    req.set(2, 1.0); // has_images
    let c = e.choose(&req, &d, Some(10.0), 0.0, 0.5, T0);
    assert_eq!((c.plan, c.explored, c.propensity), (2, false, 1.0));
    req.set(2, 0.0);
    req.set(3, 1.0); // has_tools
    assert!(!e.choose(&req, &d, Some(10.0), 0.0, 0.5, T0).explored);
    req.set(3, 0.0);
    assert!(e.choose(&req, &d, Some(10.0), 0.0, 0.5, T0).explored);
}
