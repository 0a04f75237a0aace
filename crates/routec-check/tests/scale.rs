//! Reachability and shadowing at scale: hundreds of rules over an enum of
//! hundreds of tenants, checked by `routec_check::check` (the cover index,
//! the least-covered-slice probe, the budgeted search), against the
//! reference set algebra: a rule is shadowed exactly when its region minus
//! the union of the earlier reachable rules' regions is empty, with the
//! regions materialised by `Space::union` and `Space::subtract` (which the
//! space's own property tests check against evaluation at sample points).

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::BTreeSet;
use std::fmt::Write as _;

use proptest::prelude::*;
use routec_check::space::{CoverIndex, Region, Space, Witness};

const TASKS: [&str; 4] = ["chat", "code", "factual", "reasoning"];

/// One rule's condition, over `tenant` (an enum of `tenants` values),
/// `task` and `prompt_tokens`.
#[derive(Clone, Debug)]
enum Shape {
    /// `tenant == tA`
    One(usize),
    /// `tenant in { ... }`
    Some(Vec<usize>),
    /// `tenant in { ... } and task != X`
    SomeNotTask(Vec<usize>, usize),
    /// `tenant in { ... } and task == X and prompt_tokens <= N`
    SomeTaskShort(Vec<usize>, usize, u32),
    /// `(tenant == tA or task == X) and prompt_tokens > N`
    OrLong(usize, usize, u32),
    /// `not (tenant in { ... }) and task == X`
    NotSome(Vec<usize>, usize),
}

fn text(shape: &Shape) -> String {
    let set = |ts: &[usize]| {
        ts.iter()
            .map(|t| format!("t{t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match shape {
        Shape::One(t) => format!("tenant == t{t}"),
        Shape::Some(ts) => format!("tenant in {{ {} }}", set(ts)),
        Shape::SomeNotTask(ts, x) => {
            format!("tenant in {{ {} }} and task != {}", set(ts), TASKS[*x])
        }
        Shape::SomeTaskShort(ts, x, n) => format!(
            "tenant in {{ {} }} and task == {} and prompt_tokens <= {n}k",
            set(ts),
            TASKS[*x]
        ),
        Shape::OrLong(t, x, n) => {
            format!(
                "(tenant == t{t} or task == {}) and prompt_tokens > {n}k",
                TASKS[*x]
            )
        }
        Shape::NotSome(ts, x) => {
            format!(
                "not (tenant in {{ {} }}) and task == {}",
                set(ts),
                TASKS[*x]
            )
        }
    }
}

/// Rules whose tenants are near their position, so each meets a few
/// earlier ones and some are shadowed by their union; now and then a broad
/// rule (any tenant with a task, or long prompts) takes a slab of the
/// space from all later ones.
fn rules(tenants: usize, count: usize) -> impl Strategy<Value = Vec<Shape>> {
    let near = move |i: usize, d: usize| (i * tenants / count.max(1) + d) % tenants;
    proptest::collection::vec(
        (
            0..40usize,
            proptest::collection::vec(0..6usize, 1..4),
            0..4usize,
            prop::sample::select(vec![8u32, 16, 32, 64]),
        ),
        count,
    )
    .prop_map(move |raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (kind, ds, x, n))| {
                let mut ts: Vec<usize> = ds.iter().map(|&d| near(i, d)).collect();
                ts.sort_unstable();
                ts.dedup();
                match kind {
                    0..=11 => Shape::One(ts[0]),
                    12..=23 => Shape::Some(ts),
                    24..=31 => Shape::SomeNotTask(ts, x),
                    32..=37 => Shape::SomeTaskShort(ts, x, n),
                    38 => Shape::OrLong(ts[0], x, n),
                    _ => Shape::NotSome(ts, x),
                }
            })
            .collect()
    })
}

fn policy(tenants: usize, shapes: &[Shape]) -> String {
    let names: Vec<String> = (0..tenants).map(|t| format!("t{t}")).collect();
    let mut s = format!(
        "policy p {{\n  owner \"tests\"\n  baseline m\n}}\n\nsignal tenant: enum {{ {} }} from header \"x-tenant\" default t0\nsignal task: enum {{ chat, code, factual, reasoning }} from header \"x-task\" default chat\n\nmodel m {{\n  provider openai\n  endpoint env(\"M_URL\")\n  context 200k tokens\n  price input $1/Mtok, output $2/Mtok\n  latency ttft p50 100ms p95 300ms p99 600ms, decode 100 tok/s\n  quality 80%\n}}\n\nroute {{\n",
        names.join(", ")
    );
    for shape in shapes {
        let _ = writeln!(s, "  when {} => m", text(shape));
    }
    s.push_str("  otherwise => m\n}\n");
    s
}

/// The rules (by index) the checker reports as shadowed (`E0303`).
fn shadowed_by_checker(source: &str) -> (BTreeSet<usize>, routec_check::Policy) {
    let parsed = routec_syntax::parse(source);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    let checked = routec_check::check(&parsed.file);
    let rule_at = |span: routec_syntax::Span| {
        checked
            .policy
            .rules
            .iter()
            .position(|r| r.cond_span == span)
            .unwrap()
    };
    let shadowed = checked
        .diagnostics
        .iter()
        .filter(|d| d.code == routec_check::codes::SHADOWED_RULE)
        .map(|d| rule_at(d.span))
        .collect();
    (shadowed, checked.policy)
}

/// The reference: rules whose region lies inside the union of the earlier
/// reachable rules' regions, by materialised set algebra. Rules the
/// checker's bounded search could not decide (it reports nothing on them
/// and counts them reachable) are returned apart.
fn shadowed_by_reference(policy: &routec_check::Policy) -> (BTreeSet<usize>, BTreeSet<usize>) {
    let space = Space::for_policy(policy);
    let mut union = Region::empty();
    let mut index = CoverIndex::new(&space);
    let (mut shadowed, mut undecided) = (BTreeSet::new(), BTreeSet::new());
    for (i, rule) in policy.rules.iter().enumerate() {
        let region = space.lower(&rule.cond, &[]).unwrap();
        if region.is_empty() {
            continue;
        }
        let rest = space.subtract(&region, &union);
        if space.covered_in(&region, &index) == Witness::GaveUp {
            undecided.insert(i);
        } else if rest.is_empty() {
            shadowed.insert(i);
            continue;
        }
        union = space.union(&union, &region);
        for c in region.cubes {
            index.push(c);
        }
    }
    (shadowed, undecided)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn shadowing_at_scale_is_the_set_algebras(shapes in rules(400, 600)) {
        let source = policy(400, &shapes);
        let (checker, policy) = shadowed_by_checker(&source);
        let (reference, undecided) = shadowed_by_reference(&policy);
        prop_assert!(undecided.len() * 20 <= shapes.len(), "{} undecided", undecided.len());
        let decided: BTreeSet<usize> = reference.difference(&undecided).copied().collect();
        prop_assert_eq!(&checker, &decided);
        // Shapes this dense shadow some rules and leave others reachable.
        prop_assert!(!checker.is_empty() && checker.len() < shapes.len());
    }
}

/// The rules of the benchmarks' generated tenant policies
/// (`routec_conformance::generated_tenant_policy`): one per tenant,
/// disjoint, or (adversarial) naming three tenants each with overlapping
/// task and prompt conditions, every fifth mostly shadowed by two earlier
/// ones. The checker's verdicts are the reference's.
#[test]
fn tenant_policies_shadow_as_the_set_algebra_says() {
    let tenants = 2_000;
    for overlapping in [false, true] {
        let mut rules = String::new();
        for t in 0..tenants {
            let ctx = [64, 128, 200][t % 3];
            let rule = if !overlapping {
                format!("tenant == t{t} and prompt_tokens <= {ctx}k")
            } else if t % 5 == 4 {
                let task = TASKS[(t - 2) % 4];
                format!(
                    "tenant == t{} and task == {task} and prompt_tokens <= {ctx}k",
                    t - 2
                )
            } else {
                let mut group = vec![t, t.saturating_sub(1), t.saturating_sub(7)];
                group.dedup();
                let names: Vec<String> = group.iter().map(|g| format!("t{g}")).collect();
                format!(
                    "tenant in {{ {} }} and (task != {} or task == {}) and prompt_tokens <= {}k",
                    names.join(", "),
                    TASKS[t % 4],
                    TASKS[(t / 4) % 4],
                    [8, 16, 32][t % 3]
                )
            };
            let _ = writeln!(rules, "  when {rule} => m");
        }
        let source = policy(tenants, &[]).replace("route {\n", &format!("route {{\n{rules}"));
        let (checker, policy) = shadowed_by_checker(&source);
        let (reference, undecided) = shadowed_by_reference(&policy);
        assert!(undecided.is_empty());
        assert_eq!(checker, reference, "overlapping: {overlapping}");
    }
}
