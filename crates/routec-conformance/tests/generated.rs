//! The generated benchmark policies check clean (so the benchmarks measure
//! real work) and compile.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

#[test]
fn generated_policies_check_clean() {
    for (name, text) in [
        (
            "front end",
            routec_conformance::generated_front_end_policy(5_000),
        ),
        ("rules", routec_conformance::generated_rules_policy(2_000)),
    ] {
        let parse = routec_syntax::parse(&text);
        let checked = routec_check::check(&parse.file);
        let errors: Vec<_> = parse
            .diagnostics
            .iter()
            .chain(&checked.diagnostics)
            .filter(|d| d.is_error())
            .take(5)
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
    let text = routec_conformance::generated_front_end_policy(5_000);
    assert!(text.lines().count() >= 4_900, "{}", text.lines().count());
}

/// A policy generated from a table of customers: one rule per tenant.
#[test]
fn tenant_policy_checks_without_errors() {
    let text = routec_conformance::generated_checker_policy(5_000, true);
    assert!(text.lines().count() >= 4_900, "{}", text.lines().count());
    let parse = routec_syntax::parse(&text);
    assert!(
        parse.diagnostics.is_empty(),
        "{:?}",
        &parse.diagnostics[..parse.diagnostics.len().min(3)]
    );
    let checked = routec_check::check(&parse.file);
    assert!(checked.policy.rules.len() > 4_000);
    assert!(
        !checked.has_errors(),
        "{:?}",
        checked.diagnostics.iter().find(|d| d.is_error())
    );
}

/// The adversarial shape: every rule overlaps the others and most are
/// shadowed; the checker finishes (its proofs are budgeted) and reports them.
#[test]
fn overlapping_rules_are_reported_as_shadowed() {
    let text = routec_conformance::generated_checker_policy(5_000, false);
    let parse = routec_syntax::parse(&text);
    let checked = routec_check::check(&parse.file);
    let shadowed = checked
        .diagnostics
        .iter()
        .filter(|d| d.code == routec_check::codes::SHADOWED_RULE)
        .count();
    assert!(shadowed > 1_000, "{shadowed} shadowed rules reported");
}
