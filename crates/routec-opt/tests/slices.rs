//! The table's slice diagrams agree with the policy's slice conditions: for
//! every example policy with slices and random requests (signals missing,
//! at, just below and just above every cut, or anywhere), a request is in
//! a slice by `Router::in_slice` exactly when `Policy::holds` says the
//! slice's condition holds for its values (defaults applied).

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests read fixtures and fail loudly"
)]

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use routec_runtime::Router;
use routec_table::{NodeRef, SignalKind, Test};

/// Interesting values of each signal: every cut of the table's diagrams
/// (routing and slices) with its neighbours, plus the range's ends.
fn candidates(table: &routec_table::Table) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = table
        .signals
        .iter()
        .map(|s| match &s.kind {
            SignalKind::Enum { variants } => (0..variants.len()).map(|v| v as f64).collect(),
            SignalKind::Bool => vec![0.0, 1.0],
            _ => vec![0.0, 1e9],
        })
        .collect();
    let diagrams = std::iter::once(&table.diagram).chain(table.slices.iter().map(|s| &s.diagram));
    for d in diagrams {
        for n in &d.nodes {
            if let Test::Threshold { cut, .. } = n.test {
                let step = (cut.abs() * 1e-9).max(1e-9);
                out[n.signal as usize].extend([cut - step, cut, cut + step]);
            }
        }
    }
    out
}

#[test]
fn slice_diagrams_agree_with_the_slice_conditions() {
    let mut checked = 0;
    for (name, source) in common::examples() {
        let policy = common::check(&source);
        if policy.slices.is_empty() {
            continue;
        }
        let compiled = common::compile(&source).unwrap_or_else(|e| panic!("{name}: {e:#?}"));
        let table = &compiled.table;
        let names: Vec<&str> = table.signals.iter().map(|s| s.name.as_str()).collect();
        let policy_names: Vec<&str> = policy.signals.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, policy_names, "{name}: signals are indexed alike");
        assert_eq!(table.slices.len(), policy.slices.len(), "{name}");
        for (t, p) in table.slices.iter().zip(&policy.slices) {
            assert_eq!(t.name, p.name, "{name}");
            // Only leaves 0 and 1.
            assert!(
                t.diagram
                    .nodes
                    .iter()
                    .flat_map(|n| match &n.test {
                        Test::Enum { branches } => branches.clone(),
                        Test::Bool { if_false, if_true } => vec![*if_false, *if_true],
                        Test::Threshold {
                            below, at_or_above, ..
                        } => vec![*below, *at_or_above],
                    })
                    .chain([t.diagram.root])
                    .all(|r| matches!(r, NodeRef::Node(_) | NodeRef::Leaf(0 | 1)))
            );
        }
        let router = Router::new(table.clone()).unwrap();
        let candidates = candidates(table);
        // Each signal: missing, or one of its candidates.
        let request = candidates
            .iter()
            .map(|c| prop::option::of(prop::sample::select(c.clone())))
            .collect::<Vec<_>>();
        let mut runner = TestRunner::new(Config {
            cases: 2_000,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&request, |values| {
                let mut req = router.request();
                let mut with_defaults = Vec::with_capacity(values.len());
                for (i, v) in values.iter().enumerate() {
                    match v {
                        Some(x) => {
                            req.set(i, *x);
                            with_defaults.push(*x);
                        }
                        None => with_defaults.push(table.signals[i].default),
                    }
                }
                for (i, slice) in policy.slices.iter().enumerate() {
                    prop_assert_eq!(
                        router.in_slice(i, &req),
                        policy.holds(&slice.cond, &with_defaults),
                        "{}: slice `{}`, values {:?}",
                        name,
                        slice.name,
                        values
                    );
                }
                Ok(())
            })
            .unwrap();
        checked += 1;
    }
    assert!(checked >= 2, "the examples have slices");
}
