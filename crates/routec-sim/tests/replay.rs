//! Offline evaluation (`routec_sim::replay`): invariants that hold for any
//! labeled file, checked on random ones (proptest), and the progress
//! callback. The hand-computed figures of a fixed file are in
//! `crates/routec/tests/evaluate.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use routec_check::ir::Policy;
use routec_opt::{CompileOptions, compile};
use routec_runtime::Table;
use routec_sim::replay::replay;
use routec_traffic::BoundTraffic;

const POLICY: &str = include_str!("../../routec/tests/fixtures/evaluate/labeled.route");

fn compiled() -> (Policy, Table) {
    let parsed = routec_syntax::parse(POLICY);
    assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
    let checked = routec_check::check(&parsed.file);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let compiled = compile(
        &checked.policy,
        POLICY,
        &CompileOptions {
            traffic: None,
            compiler_version: "test".into(),
            slo_margin: None,
        },
    )
    .unwrap();
    (checked.policy, compiled.table)
}

/// One record: task (0..3, or 3 for none), and per model (cheap, strong) an
/// outcome or none: (success, cost in micro-dollars, latency in ms).
type Rec = (usize, [Option<(bool, u32, Option<u32>)>; 2]);

fn jsonl(records: &[Rec]) -> String {
    let mut out = String::new();
    for (i, (task, outcomes)) in records.iter().enumerate() {
        let signals = match ["easy", "hard", "code"].get(*task) {
            Some(t) => format!("{{\"task\": \"{t}\"}}"),
            None => "{}".into(),
        };
        let mut parts = Vec::new();
        for (name, o) in ["cheap", "strong"].iter().zip(outcomes) {
            if let Some((ok, cost, latency)) = o {
                let lat = latency.map_or(String::new(), |l| format!(", \"latency_ms\": {l}"));
                parts.push(format!(
                    "\"{name}\": {{\"success\": {ok}, \"cost_usd\": {}{lat}}}",
                    f64::from(*cost) / 1e6
                ));
            }
        }
        out.push_str(&format!(
            "{{\"id\": \"r{i}\", \"signals\": {signals}, \"outcomes\": {{{}}}}}\n",
            parts.join(", ")
        ));
    }
    out
}

fn bound(policy: &Policy, records: &[Rec]) -> BoundTraffic {
    let parsed = routec_traffic::parse(&jsonl(records)).unwrap();
    routec_traffic::bind(policy, &parsed).unwrap()
}

fn record() -> impl Strategy<Value = Rec> {
    let outcome = proptest::option::weighted(
        0.9,
        (
            any::<bool>(),
            0u32..50_000,
            proptest::option::of(1u32..5_000),
        ),
    );
    (0usize..4, [outcome.clone(), outcome])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_oracle_bounds_every_routing(records in proptest::collection::vec(record(), 1..60)) {
        let (policy, table) = compiled();
        let traffic = bound(&policy, &records);
        let r = replay(&policy, &table, "t", &traffic, &mut |_, _| {}).unwrap();
        let n = records.len() as u64;
        prop_assert_eq!(r.requests, n);
        prop_assert_eq!(r.policy.requests, n);
        prop_assert_eq!(r.oracle.requests, n);
        // A request the policy (or any single model) gets right has a
        // model that succeeded, which the oracle picks.
        prop_assert!(r.policy.accuracy <= r.oracle.accuracy + 1e-12);
        for m in &r.models {
            prop_assert_eq!(m.outcomes.requests, n);
            prop_assert!(m.outcomes.accuracy <= r.oracle.accuracy + 1e-12);
            prop_assert!((0.0..=1.0).contains(&m.answered));
        }
        // Every request is answered by exactly one model.
        let answered: f64 = r.models.iter().map(|m| m.answered).sum();
        prop_assert!((answered - 1.0).abs() < 1e-9, "answered {answered}");
        if let Some(c) = &r.cpt {
            prop_assert!(0.0 <= c.cpt50 && c.cpt50 <= c.cpt80 && c.cpt80 <= 1.0);
            prop_assert!(c.strong_only > c.weak_only);
        }
        // Replaying twice gives the same report (splits hash the ids).
        let again = replay(&policy, &table, "t", &traffic, &mut |_, _| {}).unwrap();
        prop_assert_eq!(r, again);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// A judge (`docs/semantics.md`, "The judge") adds to each answered
    /// record its share of a judge call, for the default prompt (1000
    /// tokens) and answer (`DEFAULT_OUTPUT_TOKENS`, the records have no
    /// `output_tokens`): to a single model, once per record it has an
    /// outcome for; to the oracle, once per record any model has one; to
    /// the policy, once per answered record. Nothing else changes.
    #[test]
    fn a_judge_adds_its_share_of_a_call_per_answer(records in proptest::collection::vec(record(), 1..40)) {
        let (policy, table) = compiled();
        let source = format!("{POLICY}\nlearn {{\n  judge strong sample 40%\n}}\n");
        let judged = routec_check::check(&routec_syntax::parse(&source).file).policy;
        let traffic = bound(&policy, &records);
        let plain = replay(&policy, &table, "t", &traffic, &mut |_, _| {}).unwrap();
        let r = replay(&judged, &table, "t", &traffic, &mut |_, _| {}).unwrap();
        // `strong` at $10/Mtok input and $30/Mtok output.
        let call = 0.4 * ((1000.0 + routec_opt::model::DEFAULT_OUTPUT_TOKENS + 160.0) * 10e-6 + 4.0 * 30e-6);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-9);
        for (m, (a, b)) in r.models.iter().zip(&plain.models).enumerate() {
            let answers = records.iter().filter(|(_, o)| o[m].is_some()).count() as f64;
            prop_assert!(close(a.outcomes.cost, b.outcomes.cost + answers * call), "{}", a.name);
            prop_assert_eq!(a.outcomes.accuracy, b.outcomes.accuracy);
        }
        let any = records.iter().filter(|(_, o)| o.iter().any(Option::is_some)).count() as f64;
        prop_assert!(close(r.oracle.cost, plain.oracle.cost + any * call));
        let added = (r.policy.cost - plain.policy.cost) / call;
        prop_assert!((added - added.round()).abs() < 1e-6 && added.round() <= records.len() as f64, "{added}");
        prop_assert_eq!(r.policy.accuracy, plain.policy.accuracy);
        prop_assert_eq!(r.policy.missing, plain.policy.missing);
    }
}

#[test]
fn progress_is_reported_up_to_the_total() {
    let (policy, table) = compiled();
    let records: Vec<Rec> = (0..10_000)
        .map(|i| {
            (
                i % 4,
                [Some((i % 3 == 0, 100, None)), Some((true, 1000, None))],
            )
        })
        .collect();
    let traffic = bound(&policy, &records);
    let mut seen = Vec::new();
    replay(&policy, &table, "t", &traffic, &mut |done, total| {
        seen.push((done, total));
    })
    .unwrap();
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
    assert_eq!(seen.last(), Some(&(10_000, 10_000)));
    assert!(seen.len() >= 2, "{seen:?}");
}

#[test]
fn a_sampled_simulation_reports_progress_too() {
    let (policy, table) = compiled();
    let mut seen = Vec::new();
    let run = routec_sim::run_with_progress(
        &policy,
        &table,
        routec_check::ir::TrafficId(0),
        40_000,
        1,
        &mut |done, total| seen.push((done, total)),
    )
    .unwrap();
    assert_eq!(run.requests, 40_000);
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    assert_eq!(seen.last(), Some(&(40_000, 40_000)));
    // Latencies are kept per answering model, for the latency CDFs.
    let kept: usize = run.answered_latencies.iter().map(Vec::len).sum();
    assert!(kept > 0 && kept <= 40_000);
}
