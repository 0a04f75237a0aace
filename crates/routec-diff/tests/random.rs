//! Properties of the diff on random policies: a policy against itself (or a
//! re-indented copy) has no behavioral change; against another policy every
//! changed region's example routes differently on the two tables, every
//! region's condition is valid in the language, and the pieces cover all
//! traffic.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

mod support;

use proptest::prelude::*;
use routec_diff::{Diff, diff};
use routec_runtime::Router;
use support::{Built, routed, side, try_build};

const TASKS: [&str; 4] = ["chat", "code", "math", "other"];

/// One condition over the signals every generated policy declares.
fn condition() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        (0..4usize).prop_map(|i| format!("task == {}", TASKS[i])),
        (0..4usize).prop_map(|i| format!("task != {}", TASKS[i])),
        (1..40u32).prop_map(|k| format!("prompt_tokens > {k}k")),
        (1..40u32).prop_map(|k| format!("prompt_tokens <= {k}k")),
        (1..10u32).prop_map(|k| format!("difficulty < {}%", k * 10)),
        (1..10u32).prop_map(|k| format!("difficulty >= {}%", k * 10)),
        Just("urgent".to_owned()),
        Just("not urgent".to_owned()),
    ];
    prop::collection::vec(atom, 1..3).prop_map(|atoms| atoms.join(" and "))
}

fn rule() -> impl Strategy<Value = String> {
    (condition(), 0..3usize, prop::bool::weighted(0.2)).prop_map(|(c, m, chain)| {
        if chain {
            format!("when {c} => m{m} else m{}", (m + 1) % 3)
        } else {
            format!("when {c} => m{m}")
        }
    })
}

/// A small random policy: three models, three signals, a traffic profile,
/// up to five fixed rules and an optional optimized rule.
fn policy() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(rule(), 0..5),
        prop::bool::ANY,
        (1..90u32, 1..90u32),
    )
        .prop_map(|(rules, optimize, (code, urgent))| {
            let mut s = String::from(
                "policy random {\n  baseline m2\n}\n\n\
                 signal task: enum { chat, code, math, other } from header \"x-task\" default chat\n\
                 signal difficulty: ratio from classifier \"d\" cost 2ms default 50%\n\
                 signal urgent: bool from header \"x-urgent\" default false\n\n",
            );
            for (m, (price, ttft, q)) in [(0.1, 100, 70), (0.5, 200, 80), (3.0, 500, 90)]
                .iter()
                .enumerate()
            {
                s.push_str(&format!(
                    "model m{m} {{\n  provider openai\n  endpoint env(\"M{m}\")\n  context 128k tokens\n  price input ${price}/Mtok, output ${price}/Mtok\n  latency ttft p50 {ttft}ms p95 {}ms p99 {}ms, decode 100 tok/s\n  quality {q}%\n}}\n\n",
                    ttft * 3,
                    ttft * 6
                ));
            }
            s.push_str("slice coding = task == code\n\n");
            s.push_str("objective weighted { latency 0.3, cost 0.4, quality 0.3 }\n\n");
            s.push_str("slo {\n  quality >= 60% for each slice\n  latency p95 <= 30s\n}\n\n");
            s.push_str("route {\n");
            for r in &rules {
                s.push_str(&format!("  {r}\n"));
            }
            if optimize {
                s.push_str("  otherwise => optimize [m0, m1, m2] by task\n}\n\n");
            } else {
                s.push_str("  otherwise => m1\n}\n\n");
            }
            let rest = 100 - code.min(60);
            s.push_str(&format!(
                "traffic main {{\n  task {{ chat {}%, code {}%, math {}%, other {}% }}\n  prompt_tokens lognormal p50 2k p95 20k\n  difficulty uniform\n  urgent {}%\n}}\n",
                rest - rest / 2,
                code.min(60),
                rest / 4,
                rest / 2 - rest / 4,
                urgent
            ));
            s
        })
}

/// `None` when the policy does not check or compile (e.g. a rule shadowed
/// by the ones before it): such inputs are skipped.
fn build(source: &str) -> Option<Built> {
    try_build(source).ok()
}

fn checked_diff(old: &Built, new: &Built) -> Diff {
    let d = diff(&side(old), &side(new)).unwrap();
    assert!(
        (d.regions.total_share - 1.0).abs() < 1e-6,
        "total share {}",
        d.regions.total_share
    );
    let ro = Router::new(old.compiled.table.clone()).unwrap();
    let rn = Router::new(new.compiled.table.clone()).unwrap();
    for r in &d.regions.changed {
        assert_ne!(
            routed(&ro, &routec_diff::example_request(&r.example)),
            routed(&rn, &routec_diff::example_request(&r.example)),
            "the example of `{}` routes the same",
            r.condition
        );
        // The condition is a valid slice of the new policy.
        let with_slice = format!("{}\nslice region = {}\n", new.source, r.condition);
        let (_, errors) = routec_conformance::check_source(&with_slice);
        assert!(errors.is_empty(), "`{}`: {errors:?}", r.condition);
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_policy_against_itself_has_no_behavioral_change(text in policy()) {
        let Some(a) = build(&text) else { return Ok(()) };
        let b = build(&text).unwrap();
        let d = checked_diff(&a, &b);
        prop_assert!(!d.behavior_changed(), "{:?}", d.regions.changed);
        prop_assert!(d.slos.iter().all(|s| !s.changed()));
        // Re-indented, with comments: the same behaviour.
        let noisy: String = text
            .lines()
            .map(|l| format!("    {}  // note\n", l.trim()))
            .collect::<String>()
            .replace("{  // note", "{ // note");
        if let Some(c) = build(&noisy) {
            let d = checked_diff(&a, &c);
            prop_assert!(!d.behavior_changed(), "{:?}", d.regions.changed);
        }
    }

    #[test]
    fn changed_regions_route_differently(old in policy(), new in policy()) {
        let (Some(a), Some(b)) = (build(&old), build(&new)) else { return Ok(()) };
        let d = checked_diff(&a, &b);
        let sum: f64 = d.regions.changed.iter().map(|r| r.share).sum();
        prop_assert!((sum - d.regions.changed_share).abs() < 1e-9);
        prop_assert!(d.regions.changed_share <= 1.0 + 1e-9);
    }
}
