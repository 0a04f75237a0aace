//! The cost-quality frontier (`Compiled::frontier`): on every example,
//! the points are optimal tables under rising quality floors, so along the
//! frontier cost and quality rise together and each point meets its floor.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use routec_opt::CompileOptions;

fn options() -> CompileOptions {
    CompileOptions {
        traffic: None,
        compiler_version: "test".into(),
        slo_margin: None,
    }
}

#[test]
fn frontiers_are_monotone_and_meet_their_floors() {
    for (name, source) in common::examples() {
        let compiled = common::compile(&source).unwrap();
        let points = compiled.frontier(&source, &options(), 6);
        assert!(points.len() >= 2, "{name}: {} points", points.len());
        for w in points.windows(2) {
            assert!(w[0].cost <= w[1].cost + 1e-12, "{name}: not sorted by cost");
            // A higher floor never buys less quality for its extra cost.
            assert!(
                w[0].quality <= w[1].quality + 1e-6,
                "{name}: quality falls from {} to {} as cost rises",
                w[0].quality,
                w[1].quality
            );
        }
        for p in &points {
            if let Some(floor) = p.floor {
                assert!(
                    p.quality >= floor - 1e-6,
                    "{name}: {} < floor {floor}",
                    p.quality
                );
            }
            assert!((0.0..=1.0).contains(&p.quality) && p.cost >= 0.0, "{name}");
        }
    }
}

#[test]
fn no_table_of_the_policy_is_cheaper_than_the_frontier_start() {
    // The cheapest point minimizes cost under the policy's SLOs (less its
    // overall quality floors), which the compiled table also meets.
    let source = common::read(&common::workspace().join("examples/support.route"));
    let compiled = common::compile(&source).unwrap();
    let (cost, _) = compiled.overall();
    let points = compiled.frontier(&source, &options(), 4);
    assert!(points[0].cost <= cost + 1e-9, "{} > {cost}", points[0].cost);
}

#[test]
fn every_model_alone_is_predicted() {
    let source = common::read(&common::workspace().join("examples/support.route"));
    let singles = common::compile(&source).unwrap().single_models();
    let names: Vec<&str> = singles.iter().map(|s| s.model.as_str()).collect();
    assert_eq!(names, ["small", "medium", "medium_spec", "large", "search"]);
    let large = &singles[3];
    let small = &singles[0];
    assert!(large.cost > small.cost && large.quality > small.quality);
}
