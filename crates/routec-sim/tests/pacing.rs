//! Budget pacing over a simulated day (`docs/learn.md`, "Budget pacing"):
//! `tests/pacing/paced_chat.route` spends its whole daily budget at the
//! planned 1 qps, so three times that traffic from 10:00 to 16:00 would
//! overspend by half. Paced, the day ends under the cap, having used most
//! of it, with a better quality than any single rung of the ladder that
//! stays under the cap all day.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use routec_check::ir::TrafficId;
use routec_opt::{CompileOptions, compile};
use routec_sim::pacing::{Surge, period};

const POLICY: &str = include_str!("../../../tests/pacing/paced_chat.route");

#[test]
fn a_surge_day_is_paced_under_the_cap() {
    let parsed = routec_syntax::parse(POLICY);
    let checked = routec_check::check(&parsed.file);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let compiled = compile(&checked.policy, POLICY, &CompileOptions::default()).unwrap();
    let pacing = compiled.table.pacing.as_ref().unwrap();
    assert_eq!(pacing.budget, 600.0);
    assert!(pacing.steps.len() >= 3, "{}", pacing.steps.len());
    let surge = Surge::parse("3x@10h-16h").unwrap();
    let report = period(
        &checked.policy,
        &compiled.table,
        TrafficId(0),
        Some(surge),
        7,
    )
    .unwrap();
    let budget = report.budget;
    let paced = &report.paced;
    let table = &report.fixed[0];
    // Unpaced, the surge overspends (by about half).
    assert!(table.spent > 1.3 * budget, "unpaced {}", table.spent);
    // Paced: under the cap, and most of it used.
    assert!(paced.spent <= budget, "paced {} > {budget}", paced.spent);
    assert!(
        paced.spent >= 0.9 * budget,
        "paced {} uses too little",
        paced.spent
    );
    // The same requests: every run routes the same number.
    assert!(report.fixed.iter().all(|r| r.requests == paced.requests));
    // Cut only as needed: better than every rung that fits the budget all
    // day, worse than the table.
    let best_fixed = report
        .fixed
        .iter()
        .filter(|r| r.spent <= budget)
        .map(|r| r.quality)
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(best_fixed.is_finite(), "no rung fits the budget");
    assert!(
        paced.quality > best_fixed,
        "paced quality {} <= the best rung under the cap {best_fixed}",
        paced.quality
    );
    assert!(paced.quality < table.quality);
    // Most requests before the surge are routed by the table itself.
    assert!(
        paced.per_rung[0] > paced.requests / 3,
        "{:?}",
        paced.per_rung
    );
    // The spend tracks the budget: never far above the pro-rated line
    // before the last hour.
    for (h, spent) in paced.spend_by_hour.iter().enumerate().take(23) {
        let line = budget * (h + 1) as f64 / 24.0;
        assert!(*spent <= line + 0.1 * budget, "hour {h}: {spent} vs {line}");
    }
}

/// Without a surge, the planned day is not paced (the spend SLO is met at
/// the planned rate).
#[test]
fn a_planned_day_is_barely_paced() {
    let parsed = routec_syntax::parse(POLICY);
    let checked = routec_check::check(&parsed.file);
    let compiled = compile(&checked.policy, POLICY, &CompileOptions::default()).unwrap();
    let report = period(&checked.policy, &compiled.table, TrafficId(0), None, 11).unwrap();
    let table = &report.fixed[0];
    assert!(
        (report.paced.spent - table.spent).abs() <= 0.1 * report.budget,
        "paced {} vs the table {}",
        report.paced.spent,
        table.spent
    );
    assert!(report.paced.per_rung[0] >= report.paced.requests * 8 / 10);
}

/// With a judge (`docs/semantics.md`, "The judge"): the ladder is compiled
/// with the judge's cost in the budget, so the table buys less quality; the
/// simulated day pays it at the share of the moment's rate (50% at the
/// planned 1 qps, 10% in the 3 qps surge) and is still paced under the cap.
/// Its judge cost only adds to the spend: the same table and requests
/// without the judge in the policy spend less, with the same quality.
#[test]
fn a_judged_surge_day_is_paced_under_the_cap() {
    let source =
        format!("{POLICY}\nlearn {{\n  judge medium sample 50% below 1 qps, 10% above 3 qps\n}}\n");
    let check = |source: &str| {
        let parsed = routec_syntax::parse(source);
        let checked = routec_check::check(&parsed.file);
        assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
        checked.policy
    };
    let (judged, plain) = (check(&source), check(POLICY));
    let compiled = compile(&judged, &source, &CompileOptions::default()).unwrap();
    let unjudged = compile(&plain, POLICY, &CompileOptions::default()).unwrap();
    let quality = |t: &routec_runtime::Table| t.assumed.as_ref().unwrap().predicted.quality;
    assert!(
        quality(&compiled.table) < quality(&unjudged.table) - 0.005,
        "the judge took no budget"
    );
    assert!(compiled.table.pacing.as_ref().unwrap().steps.len() >= 3);
    let surge = Surge::parse("3x@10h-16h").unwrap();
    let day = |policy| period(policy, &compiled.table, TrafficId(0), Some(surge), 7).unwrap();
    let report = day(&judged);
    let budget = report.budget;
    assert!(
        report.fixed[0].spent > 1.2 * budget,
        "unpaced {}",
        report.fixed[0].spent
    );
    assert!(
        report.paced.spent <= budget,
        "paced {} > {budget}",
        report.paced.spent
    );
    assert!(
        report.paced.spent >= 0.9 * budget,
        "paced {}",
        report.paced.spent
    );
    let without = day(&plain);
    let (a, b) = (&report.fixed[0], &without.fixed[0]);
    assert_eq!((a.requests, a.quality), (b.requests, b.quality));
    assert!(a.spent > b.spent, "{} <= {}", a.spent, b.spent);
}
