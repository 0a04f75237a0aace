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
