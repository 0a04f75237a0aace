//! The simulator under load samples the model the optimizer predicts with
//! (`docs/semantics.md`, "Load"): on `examples/capacity.route`, at each load
//! the compiler settles every model's state (`Compiled::load_at`) and the
//! simulation of that state reproduces the predicted refusals, calls,
//! cost, quality and latency within sampling noise.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use routec_check::ir::TrafficId;
use routec_opt::{CompileOptions, compile};

const POLICY: &str = include_str!("../../../examples/capacity.route");

#[test]
fn sampling_a_settled_load_reproduces_the_prediction() {
    let parsed = routec_syntax::parse(POLICY);
    let checked = routec_check::check(&parsed.file);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let compiled = compile(&checked.policy, POLICY, &CompileOptions::default()).unwrap();
    for factor in [1.0, 3.0, 5.0, 10.0] {
        let p = compiled.load_at(factor).unwrap();
        let mut run = routec_sim::run_loaded(
            &checked.policy,
            &compiled.table,
            TrafficId(0),
            routec_sim::Load {
                qps: p.qps,
                models: &p.models,
            },
            60_000,
            3,
            &mut |_, _| {},
        )
        .unwrap();
        let r = run.report();
        let m = &r.metrics;
        let near = |what: &str, sim: f64, pred: f64, abs: f64, rel: f64| {
            assert!(
                (sim - pred).abs() <= abs + rel * pred.abs(),
                "{factor}x {what}: simulated {sim}, predicted {pred}"
            );
        };
        near(
            "cost per 1k",
            m.cost_per_1k_requests,
            p.cost * 1000.0,
            0.0,
            0.04,
        );
        near("quality", m.quality, p.quality, 0.01, 0.0);
        near("failed", m.failed, p.failed, 0.01, 0.0);
        near("latency p50", m.latency.p50, p.latency[0], 0.0, 0.05);
        near("latency p95", m.latency.p95, p.latency[1], 0.0, 0.05);
        for (i, model) in r.models.iter().enumerate() {
            near(
                &format!("{} calls", model.name),
                model.calls,
                p.calls[i],
                0.01,
                0.02,
            );
            near(
                &format!("{} refused", model.name),
                model.refused,
                p.models[i].throttle,
                0.01,
                0.0,
            );
            near(
                &format!("{} cost", model.name),
                model.cost,
                p.model_cost[i],
                1e-6,
                0.05,
            );
        }
        // Spend follows the load's qps.
        assert_eq!(r.traffic, "weekday");
    }
}
