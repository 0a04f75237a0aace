//! Compiling the normative policy and the examples: the table validates,
//! loads in the runtime, decides like the cells it was built from, meets
//! its SLOs, and is deterministic.

mod common;

use routec_opt::ValueSet;
use routec_runtime::Router;

fn support() -> String {
    common::read(&common::workspace().join("examples/support.route"))
}

/// Every cell's example requests decide to the cell's rule and splits.
#[allow(clippy::unwrap_used, reason = "a test helper")]
fn differential(compiled: &routec_opt::Compiled) {
    let router = Router::new(compiled.table.clone()).unwrap();
    let mut checked = 0;
    for cell in compiled.cells() {
        for (b, example) in cell.boxes.iter().zip(&cell.examples) {
            let mut req = router.request();
            for (s, v) in example {
                req.set(*s, *v);
            }
            // Signals the box leaves free take their defaults.
            let d = router.decide(&req);
            let leaf = &compiled.table.leaves[d.leaf as usize];
            assert!(!b.is_empty() || compiled.cells().len() == 1 || d.rule as usize == cell.rule);
            assert_eq!(d.rule as usize, cell.rule, "cell `{}`", cell.predicate);
            assert_eq!(leaf.splits, cell.splits, "cell `{}`", cell.predicate);
            checked += 1;
        }
    }
    assert!(checked > 0);
}

#[test]
fn support_compiles_validates_and_loads() {
    let source = support();
    let compiled = common::compile(&source).unwrap_or_else(|e| panic!("{e:#?}"));
    compiled.table.validate().unwrap();
    let json = compiled.table.to_json();
    let back = routec_table::Table::from_json(&json).unwrap();
    assert_eq!(back, compiled.table);
    let bin = compiled.table.to_binary();
    Router::load(&bin).unwrap();
    differential(&compiled);
    let a = compiled.table.assumed.as_ref().unwrap();
    assert_eq!(a.traffic, "launch");
    for s in &a.slos {
        assert!(s.ok, "{} = {} (limit {})", s.constraint, s.value, s.limit);
    }
    let total: f64 = a.cells.iter().map(|c| c.share).sum();
    assert!((total - 1.0).abs() < 1e-6, "{total}");
}

#[test]
fn support_spec_tests_decide_as_expected() {
    let source = support();
    let compiled = common::compile(&source).unwrap();
    let router = Router::new(compiled.table.clone()).unwrap();
    let t = &compiled.table;
    let sig = |n: &str| t.signals.iter().position(|s| s.name == n).unwrap();
    let variant = |n: &str, v: &str| match &t.signals[sig(n)].kind {
        routec_table::SignalKind::Enum { variants } => {
            variants.iter().position(|x| x == v).unwrap() as f64
        }
        _ => unreachable!(),
    };
    let plan_of =
        |req: &routec_runtime::Request| t.plans[router.decide(req).plan as usize].text.clone();

    let mut r = router.request();
    r.set(sig("has_images"), 1.0);
    r.set(sig("task"), variant("task", "chat"));
    assert_eq!(plan_of(&r), "large");

    let mut r = router.request();
    r.set(sig("plan"), variant("plan", "free"));
    r.set(sig("task"), variant("task", "chat"));
    r.set(sig("prompt_tokens"), 500.0);
    assert_eq!(
        plan_of(&r),
        "cascade small -> medium accept when confidence >= 70%"
    );

    let mut r = router.request();
    r.set(sig("task"), variant("task", "factual"));
    r.set(sig("difficulty"), 0.1);
    r.set(sig("plan"), variant("plan", "pro"));
    assert_eq!(plan_of(&r), "search else small");

    let mut r = router.request();
    r.set(sig("prompt_tokens"), 150_000.0);
    assert_eq!(plan_of(&r), "large");
    // Rules are reported with their line and text.
    assert!(t.rules[0].text.starts_with("when has_images => large"));
    assert!(t.rules.windows(2).all(|w| w[0].line < w[1].line));
}

#[test]
fn support_slos_hold_when_recomputed_from_cells() {
    let source = support();
    let compiled = common::compile(&source).unwrap();
    let a = compiled.table.assumed.as_ref().unwrap();
    // Cost per 1k requests and quality, from the cells alone.
    let cost: f64 = compiled
        .cells()
        .iter()
        .map(|c| c.weight * c.cost)
        .sum::<f64>()
        * 1000.0;
    let quality: f64 = compiled.cells().iter().map(|c| c.weight * c.quality).sum();
    assert!((cost - a.predicted.cost_per_1k_requests).abs() < 1e-9 * cost.max(1.0));
    assert!((quality - a.predicted.quality).abs() < 1e-9);
    assert!(cost <= 5.0 + 1e-6, "{cost}");
    // Per slice quality floors, with slices recomputed from the boxes.
    let t = &compiled.table;
    let lang = t.signals.iter().position(|s| s.name == "lang").unwrap();
    let en = 0usize;
    let mut by = [(0.0, 0.0); 2];
    for c in compiled.cells() {
        let lang_of = c.boxes[0]
            .iter()
            .find(|(s, _)| *s == lang)
            .map(|(_, v)| v.clone());
        let english = matches!(lang_of, Some(ValueSet::Values(ref v)) if v == &vec![en]);
        let i = usize::from(!english);
        by[i].0 += c.weight * c.quality;
        by[i].1 += c.weight;
    }
    let (qe, qn) = (by[0].0 / by[0].1, by[1].0 / by[1].1);
    assert!(qe >= 0.75 - 1e-5 && qn >= 0.75 - 1e-5, "{qe} {qn}");
    assert!(qn >= qe - 0.05 - 1e-5, "{qe} {qn}");
    // The share of calls to `large`, from the table's own status.
    let share = a
        .slos
        .iter()
        .find(|s| s.constraint.starts_with("share large"))
        .unwrap();
    assert!(share.value <= 0.35 + 1e-6);
}

#[test]
fn compiling_twice_gives_identical_json() {
    for (name, source) in common::examples() {
        let a = common::compile(&source);
        let b = common::compile(&source);
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a.table.to_json(), b.table.to_json(), "{name}"),
            (Err(a), Err(b)) => assert_eq!(a, b, "{name}"),
            _ => panic!("{name}: one compile failed"),
        }
    }
}

/// Every example compiles to a table that validates, loads and decides like
/// its cells, or is refused with located `E0510` errors only (a spending
/// limit that the example's own `qps` and prices cannot meet).
#[test]
fn examples_compile_and_meet_their_slos() {
    for (name, source) in common::examples() {
        match common::compile(&source) {
            Ok(compiled) => {
                compiled.table.validate().unwrap();
                differential(&compiled);
                for s in &compiled.table.assumed.as_ref().unwrap().slos {
                    assert!(
                        s.ok,
                        "{name}: {} = {} (limit {})",
                        s.constraint, s.value, s.limit
                    );
                }
            }
            Err(ds) => panic!("{name} does not compile: {ds:#?}"),
        }
    }
}

/// A policy with 2,000 rules over one numeric signal gives a diagram of
/// logarithmic depth. (The 10,000-rule case is measured by the benchmarks in
/// routec-conformance; it is slow to compile in a debug build.)
#[test]
fn many_thresholds_give_a_shallow_diagram() {
    let mut src = String::from(
        "policy p {\n  owner \"x\"\n  baseline a\n}\n\
         signal score: int from header \"x-score\" default 0\n\
         model a {\n  endpoint \"https://a.invalid\"\n  price input $1/Mtok, output $1/Mtok\n  latency p50 100ms p95 300ms\n  quality 80%\n}\n\
         model b {\n  endpoint \"https://b.invalid\"\n  price input $2/Mtok, output $2/Mtok\n  latency p50 100ms p95 300ms\n  quality 90%\n}\n\
         objective minimize cost\n\
         route {\n",
    );
    for i in 0..2_000 {
        let m = if i % 2 == 0 { "a" } else { "b" };
        src.push_str(&format!("  when score < {} => {m}\n", (i + 1) * 10));
    }
    src.push_str("  otherwise => a\n}\n");
    let compiled = common::compile(&src).unwrap_or_else(|e| panic!("{e:#?}"));
    let t = &compiled.table;
    // Depth of the diagram.
    fn depth(t: &routec_table::Table, r: routec_table::NodeRef) -> usize {
        match r {
            routec_table::NodeRef::Leaf(_) => 0,
            routec_table::NodeRef::Node(n) => {
                let node = &t.diagram.nodes[n as usize];
                1 + match &node.test {
                    routec_table::Test::Threshold {
                        below, at_or_above, ..
                    } => depth(t, *below).max(depth(t, *at_or_above)),
                    routec_table::Test::Bool { if_false, if_true } => {
                        depth(t, *if_false).max(depth(t, *if_true))
                    }
                    routec_table::Test::Enum { branches } => {
                        branches.iter().map(|b| depth(t, *b)).max().unwrap_or(0)
                    }
                }
            }
        }
    }
    let d = depth(t, t.diagram.root);
    assert!(d <= 12, "depth {d}");
    let router = Router::new(t.clone()).unwrap();
    let score = t.signals.iter().position(|s| s.name == "score").unwrap();
    for (v, want) in [(5.0, 0u32), (15.0, 1), (19_995.0, 1_999), (1e9, 2_000)] {
        let mut r = router.request();
        r.set(score, v);
        assert_eq!(router.decide(&r).rule, want, "{v}");
    }
}
