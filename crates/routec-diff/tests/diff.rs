//! The behavioral diff on the shipped examples and small edits of them.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and fail loudly"
)]

mod support;

use routec_diff::{ExampleValue, diff};
use routec_runtime::Router;
use support::{Built, routed, side, try_build};

fn build(source: &str) -> Built {
    try_build(source).unwrap_or_else(|errors| panic!("{errors:?}"))
}

fn example(name: &str) -> String {
    let path = routec_conformance::root().join("examples").join(name);
    std::fs::read_to_string(path).unwrap()
}

fn json_of(example: &[(String, ExampleValue)], router: &Router) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (name, v) in example {
        if !router.table().signals.iter().any(|s| &s.name == name) {
            continue;
        }
        map.insert(name.clone(), v.to_json());
    }
    serde_json::Value::Object(map)
}

/// Every changed region's example routes differently on the two tables, and
/// every piece's share adds up to the whole traffic.
fn check_examples(old: &Built, new: &Built) -> routec_diff::Diff {
    let d = diff(&side(old), &side(new)).unwrap();
    assert!(
        (d.regions.total_share - 1.0).abs() < 1e-6,
        "total share {}",
        d.regions.total_share
    );
    let ro = Router::new(old.compiled.table.clone()).unwrap();
    let rn = Router::new(new.compiled.table.clone()).unwrap();
    for r in &d.regions.changed {
        let a = routed(&ro, &json_of(&r.example, &ro));
        let b = routed(&rn, &json_of(&r.example, &rn));
        assert_ne!(
            a, b,
            "example of `{}` routes the same: {:?}",
            r.condition, r.example
        );
    }
    d
}

#[test]
fn every_example_against_itself_has_no_behavioral_change() {
    for path in routec_conformance::examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        let a = build(&text);
        let b = build(&text);
        let d = check_examples(&a, &b);
        assert!(
            !d.behavior_changed(),
            "{}: {:?}",
            path.display(),
            d.regions.changed
        );
        assert!(d.slos.iter().all(|s| !s.changed()), "{}", path.display());
    }
}

#[test]
fn aggregate_reproduces_the_tables_overall_figures() {
    for path in routec_conformance::examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        let b = build(&text);
        let agg = routec_diff::aggregate(&side(&b));
        let predicted = &b.compiled.table.assumed.as_ref().unwrap().predicted;
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * y.abs().max(1.0);
        assert!(
            close(agg.quality, predicted.quality),
            "{}: quality {} vs {}",
            path.display(),
            agg.quality,
            predicted.quality
        );
        assert!(
            close(agg.cost_per_1k_requests, predicted.cost_per_1k_requests),
            "{}: cost {} vs {}",
            path.display(),
            agg.cost_per_1k_requests,
            predicted.cost_per_1k_requests
        );
    }
}

#[test]
fn a_changed_threshold_is_one_region() {
    let old = example("support.route");
    let new = old.replace(
        "when prompt_tokens > 100k => large",
        "when prompt_tokens > 64k => large",
    );
    let (a, b) = (build(&old), build(&new));
    let d = check_examples(&a, &b);
    for r in &d.regions.changed {
        eprintln!(
            "{:.4}% {}: {} -> {}  {:?}",
            r.share * 100.0,
            r.condition,
            r.old,
            r.new,
            r.example
        );
    }
    assert!(d.behavior_changed());
}

/// Text edits that keep the behaviour: whitespace, comments, two rules with
/// one plan merged into one, declarations reordered.
#[test]
fn equivalent_rewrites_have_no_behavioral_change() {
    let base = example("support.route");
    let rewrites: Vec<(&str, String)> = vec![
        (
            "whitespace",
            base.lines()
                .map(|l| {
                    let t = l.trim_start();
                    let depth = (l.len() - t.len()) / 2;
                    format!("{}{}", "\t".repeat(depth), t.replace(" => ", "   =>   "))
                })
                .collect::<Vec<_>>()
                .join("\n\n"),
        ),
        (
            "comments",
            base.replace("// Signals: what is known", "// Signals (edited): known")
                .replace(
                    "  when has_images => large\n",
                    "  // images first\n  when has_images => large // always\n",
                ),
        ),
        (
            "merged rules",
            base.replace(
                "  when has_images => large\n  when prompt_tokens > 100k => large\n",
                "  when has_images or prompt_tokens > 100k => large\n",
            ),
        ),
        (
            "reordered slices",
            base.replace(
                "slice english = lang == en\nslice non_english = lang != en\n",
                "slice non_english = lang != en\nslice english = lang == en\n",
            ),
        ),
    ];
    let old = build(&base);
    for (name, text) in rewrites {
        assert_ne!(text, base, "{name}: the rewrite changed nothing");
        let new = build(&text);
        let d = check_examples(&old, &new);
        assert!(
            !d.behavior_changed(),
            "{name}: {:?}",
            d.regions
                .changed
                .iter()
                .map(|r| (&r.condition, &r.old, &r.new))
                .collect::<Vec<_>>()
        );
    }
}

/// The conformance crate's generated large policies: against themselves no
/// change; one more rule changes exactly the region of that rule.
#[test]
fn generated_policies() {
    let a = build(&routec_conformance::generated_rules_policy(90));
    let b = build(&routec_conformance::generated_rules_policy(90));
    let d = check_examples(&a, &b);
    assert!(!d.behavior_changed());
    let c = build(&routec_conformance::generated_rules_policy(91));
    let d = check_examples(&a, &c);
    // Rule 91 (`tier == free and account >= 3000 and account < 3100 => m6`)
    // takes requests that the 90-rule policy sent to `otherwise => m0`.
    let changed: Vec<_> = d
        .regions
        .changed
        .iter()
        .map(|r| (r.condition.as_str(), r.old.as_str(), r.new.as_str()))
        .collect();
    assert_eq!(
        changed,
        [(
            "account >= 3k and account < 3.1k and tier == free",
            "m0",
            "m6"
        )]
    );
}
