//! The judge's cost in the optimizer (`docs/semantics.md`, "The judge"):
//! every answered request is judged with the share of the profile's rate,
//! and pays that share of a judge call, in every cost figure, SLO row and
//! prediction. Expected costs are computed here from the formula,
//! independently of the evaluator.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use routec_opt::Compiled;
use routec_opt::model::Z95;

/// `tests/judge/judged.route`.
fn fixture() -> String {
    common::read(&common::workspace().join("tests/judge/judged.route"))
}

/// `source` without the block whose first line starts with `header`.
fn without(source: &str, header: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in source.lines() {
        if line.starts_with(header) {
            skipping = true;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
        if skipping && line == "}" {
            skipping = false;
        }
    }
    assert!(out.len() < source.len(), "no `{header}` block");
    out
}

/// `source` with the cost SLO's limit replaced.
fn with_limit(source: &str, limit: &str) -> String {
    let slo = "cost per 1k requests <= $3\n";
    assert!(source.contains(slo));
    source.replace(slo, &format!("cost per 1k requests <= {limit}\n"))
}

/// Predicted cost per request (USD) and quality of a compiled table.
fn predicted(c: &Compiled) -> (f64, f64) {
    let p = &c.table.assumed.as_ref().unwrap().predicted;
    (p.cost_per_1k_requests / 1000.0, p.quality)
}

fn compiled(source: &str) -> Compiled {
    common::compile(source).unwrap_or_else(|ds| panic!("{ds:#?}"))
}

/// `E[X]` of a lognormal through p50 and p95.
fn mean(p50: f64, p95: f64) -> f64 {
    let s = (p95 / p50).ln() / Z95;
    p50 * (s * s / 2.0).exp()
}

/// The share judged at 2k qps: between 100% at 1k and 20% at 3k, linear in
/// `ln qps`.
fn share_at_2k() -> f64 {
    1.0 + (2000f64.ln() - 1000f64.ln()) / (3000f64.ln() - 1000f64.ln()) * (0.2 - 1.0)
}

/// The cost of one judge call for the fixture's mean request: `grader` at
/// $2/Mtok input and $8/Mtok output, 160 prompt tokens of instructions and
/// 4 output tokens.
fn judge_call() -> f64 {
    let input = mean(1000.0, 4000.0) + mean(200.0, 1000.0) + 160.0;
    input * 2e-6 + 4.0 * 8e-6
}

/// Without faults and with a cost SLO far away, the routing (everything to
/// `large`) does not change, and the prediction grows by exactly the
/// judge's expected cost: `s × P(answered) × judge call`, `P(answered) =
/// 99.5%` (base errors only).
#[test]
fn the_judge_adds_its_expected_cost_to_the_prediction() {
    let source = with_limit(&without(&fixture(), "faults {"), "$100");
    let judged = compiled(&source);
    let plain = compiled(&without(&source, "learn {"));
    let (cost, quality) = predicted(&judged);
    let (plain_cost, plain_quality) = predicted(&plain);
    assert_eq!(quality, plain_quality, "the routing changed");
    let expected = share_at_2k() * 0.995 * judge_call();
    let added = cost - plain_cost;
    assert!(
        (added - expected).abs() <= 1e-9 * expected,
        "the judge added ${added} per request, expected ${expected}"
    );
    // Every cell's prediction includes it too.
    let cells = &judged.table.assumed.as_ref().unwrap().cells;
    let plain_cells = &plain.table.assumed.as_ref().unwrap().cells;
    for (c, p) in cells.iter().zip(plain_cells) {
        assert!(c.predicted.cost_per_1k_requests > p.predicted.cost_per_1k_requests);
    }
    let judge_cost = judged.judge_cost().unwrap();
    assert!((judge_cost - expected).abs() <= 1e-9 * expected);
    assert_eq!(plain.judge_cost(), None);
    // Per-model costs are the routed models' calls only: the judge's
    // calls are nobody's.
    assert_eq!(judged.model_costs(), plain.model_costs());
}

/// The judge's cost is proportional to its share; at 0% the predictions do
/// not change at all.
#[test]
fn the_judge_cost_is_proportional_to_its_share() {
    let source = with_limit(&without(&fixture(), "faults {"), "$100");
    let (plain_cost, _) = predicted(&compiled(&without(&source, "learn {")));
    let judge = "judge grader sample 100% below 1k qps, 20% at 3k qps, 5% above 10k qps";
    for share in [0.0, 5.0, 37.5, 100.0] {
        let s = source.replace(judge, &format!("judge grader sample {share}%"));
        let (cost, _) = predicted(&compiled(&s));
        let expected = share / 100.0 * 0.995 * judge_call();
        assert!(
            (cost - plain_cost - expected).abs() <= 1e-9 * judge_call(),
            "at {share}%: added ${}, expected ${expected}",
            cost - plain_cost
        );
        if share == 0.0 {
            assert_eq!(cost, plain_cost);
        }
    }
}

/// `cost per 1k requests <= $3`: everything to `large` meets it without
/// the judge; with it the optimizer must send traffic to `small` and the
/// SLO binds.
#[test]
fn a_cost_slo_binds_because_of_the_judge() {
    let source = fixture();
    let (plain_cost, plain_quality) = predicted(&compiled(&without(&source, "learn {")));
    let judged = compiled(&source);
    let (cost, quality) = predicted(&judged);
    assert!(plain_cost < 0.003 * 0.99, "${plain_cost} per request");
    assert!(
        (cost - 0.003).abs() <= 1e-6 * 0.003,
        "the SLO does not bind: ${cost} per request"
    );
    assert!(
        quality < plain_quality - 0.01,
        "quality {quality} against {plain_quality} without the judge"
    );
    let slo = &judged.table.assumed.as_ref().unwrap().slos[0];
    assert!(slo.ok && slo.dual.is_some(), "{slo:?}");
}

/// `cost per 1k requests <= $1.50`: `small` alone meets it without the
/// judge; the judge alone costs more, so no routing does (`E0510`).
#[test]
fn a_cost_slo_only_the_judge_breaks_is_infeasible() {
    let source = with_limit(&fixture(), "$1.50");
    assert!(share_at_2k() * 0.9 * judge_call() > 0.0015);
    compiled(&without(&source, "learn {"));
    match common::compile(&source) {
        Ok(_) => panic!("compiled with the judge"),
        Err(ds) => assert!(ds.iter().any(|d| d.code == "E0510"), "{ds:#?}"),
    }
}
