//! On 100,000 random requests per example, the compiled table decides what
//! the checked policy says: same rule, a plan the rule (or its optimized
//! cell) allows, with the same split shares.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use routec_conformance::generate::{Rng, fill, request, thresholds};
use routec_conformance::interpret::{effective_values, interpret};
use routec_conformance::{Fixture, compile_file, examples};
use routec_runtime::Router;

const REQUESTS: u64 = 100_000;

fn check(fixture: &Fixture) -> Result<(), String> {
    let policy = &fixture.policy;
    let table = &fixture.compiled.table;
    let router = Router::new(table.clone()).expect("the table loads");
    // The table lists signals in the policy's order.
    let names: Vec<&str> = table.signals.iter().map(|s| s.name.as_str()).collect();
    let policy_names: Vec<&str> = policy.signals.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, policy_names, "{}: signal order", fixture.name);

    let cuts = thresholds(policy);
    let mut rng = Rng::new(0x5eed ^ fixture.name.len() as u64);
    let mut req = router.request();
    let mut rules_hit = vec![0u64; policy.rules.len()];
    for n in 0..REQUESTS {
        let slots = request(policy, &cuts, &mut rng);
        req.clear();
        req.set_key(&format!("key-{n}"));
        fill(&mut req, &slots);
        let effective = effective_values(policy, &slots);
        let decision = router.decide(&req);
        let expected = interpret(policy, &fixture.compiled, &effective)
            .ok_or_else(|| format!("{}: no rule or cell for {slots:?}", fixture.name))?;
        if decision.rule as usize != expected.rule {
            return Err(format!(
                "{}: request {slots:?} matched rule {} in the table, rule {} in the policy",
                fixture.name, decision.rule, expected.rule
            ));
        }
        let chosen = &table.plans[decision.plan as usize].text;
        if !expected.plans.iter().any(|(p, _)| p == chosen) {
            return Err(format!(
                "{}: request {slots:?} got `{chosen}`, the policy allows {:?}",
                fixture.name, expected.plans
            ));
        }
        let leaf = &table.leaves[decision.leaf as usize];
        let mut got: Vec<(String, f64)> = leaf
            .splits
            .iter()
            .map(|s| (table.plans[s.plan as usize].text.clone(), s.share))
            .collect();
        let mut want = expected.plans.clone();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        want.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == want.len()
            && got
                .iter()
                .zip(&want)
                .all(|((gp, gs), (wp, ws))| gp == wp && (gs - ws).abs() < 1e-9);
        if !same {
            return Err(format!(
                "{}: splits {got:?}, the policy says {want:?}",
                fixture.name
            ));
        }
        rules_hit[expected.rule] += 1;
    }
    // The generator reaches most rules; report the rest so gaps are visible.
    let unreached: Vec<usize> = (0..rules_hit.len())
        .filter(|&r| rules_hit[r] == 0)
        .collect();
    assert!(
        unreached.len() * 2 <= rules_hit.len(),
        "{}: the generator reached too few rules; unreached: {unreached:?}",
        fixture.name
    );
    Ok(())
}

#[test]
fn tables_agree_with_their_policies() {
    let paths = examples();
    assert!(paths.len() >= 5, "examples: {paths:?}");
    for path in paths {
        let fixture = compile_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        check(&fixture).unwrap();
    }
}

/// A large generated table: many rules over a numeric signal and an enum,
/// whose threshold trees the runtime flattens into interval searches.
#[test]
fn a_table_with_a_thousand_rules_agrees() {
    let dir = std::env::temp_dir().join(format!("routec-differential-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("generated.route");
    std::fs::write(&path, routec_conformance::generated_rules_policy(1_000)).unwrap();
    let fixture = compile_file(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    check(&fixture).unwrap();
}

/// The check can fail: a table whose first threshold moved, or whose first
/// bool test is inverted, is caught.
#[test]
fn corrupted_tables_are_caught() {
    let path = routec_conformance::root().join("examples/support.route");
    let fixture = compile_file(&path).unwrap();
    let mut moved = compile_file(&path).unwrap();
    let mut inverted = compile_file(&path).unwrap();
    let mut mutated = 0;
    if let Some(node) =
        moved
            .compiled
            .table
            .diagram
            .nodes
            .iter_mut()
            .find_map(|n| match &mut n.test {
                routec_table::Test::Threshold { cut, .. } => Some(cut),
                _ => None,
            })
    {
        *node += 1.0;
        assert!(check(&moved).is_err(), "a moved threshold went unnoticed");
        mutated += 1;
    }
    if let Some((f, t)) =
        inverted
            .compiled
            .table
            .diagram
            .nodes
            .iter_mut()
            .find_map(|n| match &mut n.test {
                routec_table::Test::Bool { if_false, if_true } => Some((if_false, if_true)),
                _ => None,
            })
    {
        std::mem::swap(f, t);
        assert!(check(&inverted).is_err(), "an inverted test went unnoticed");
        mutated += 1;
    }
    assert_eq!(mutated, 2);
    check(&fixture).unwrap();
}
