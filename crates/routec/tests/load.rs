//! `routec simulate --load`: the table compiled for a profile, simulated at
//! multiples of its qps (`docs/semantics.md`, "Load"). The policy of
//! `examples/capacity.route` sends chat to a self-hosted model that
//! saturates at 3x; past it the overflow reaches the fallback, and cost per
//! token rises by what the compiler's model predicts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

mod common;

use common::{Output, repo_root};

fn run(args: &[&str]) -> Output {
    common::run_in(&repo_root(), args, None)
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

#[test]
fn the_sweep_shows_the_cheap_model_saturating_and_its_overflow() {
    let args = [
        "simulate",
        "examples/capacity.route",
        "--load",
        "1x,2x,3x,5x",
        "--requests",
        "20000",
        "--seed",
        "1",
    ];
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The compile's peak warning names the saturating model.
    assert!(
        out.stderr.contains("warning[W0520]") || out.stderr.contains("[W0520]"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("`small` saturates first, at 2.99x"),
        "{}",
        out.stderr
    );
    insta::assert_snapshot!(
        "load_sweep_capacity",
        format!("$ routec {}\n{}", args.join(" "), out.stdout)
    );
}

#[test]
fn overflow_and_cost_per_token_follow_the_model() {
    let out = run(&[
        "simulate",
        "examples/capacity.route",
        "--load",
        "1x,2x,5x",
        "--requests",
        "60000",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["qps"], 100.0);
    assert_eq!(v["load_modelled"], true);
    let loads = v["loads"].as_array().unwrap();
    let at = |f: f64| loads.iter().find(|l| l["load"] == f).unwrap();
    let model = |f: f64, m: &str, k: &str| at(f)["models"][m][k].as_f64().unwrap();
    // Below saturation nothing is refused and the mix does not move.
    assert_eq!(model(2.0, "small", "refused"), 0.0);
    assert!((model(2.0, "small", "utilization") - 0.67).abs() < 0.01);
    assert!((model(2.0, "large", "calls") - model(1.0, "large", "calls")).abs() < 0.01);
    // At 5x `small` refuses most of its calls, as predicted, and the
    // overflow reaches its fallback.
    let (refused, predicted) = (
        model(5.0, "small", "refused"),
        model(5.0, "small", "predicted_refused"),
    );
    assert!(
        refused > 0.5 && (refused - predicted).abs() < 0.02,
        "{refused} vs {predicted}"
    );
    let moved = model(5.0, "large", "calls") - model(1.0, "large", "calls");
    assert!(moved > 0.25, "{moved}");
    // Cost per token rises with the overflow, by what the model predicts
    // (tokens per request do not change with load).
    let simulated = at(5.0)["vs_1x"]["cost_per_token"].as_f64().unwrap();
    let cost = |f: f64| at(f)["predicted"]["cost_per_1k_requests"].as_f64().unwrap();
    let predicted = cost(5.0) / cost(1.0) - 1.0;
    assert!(simulated > 1.0, "{simulated}");
    assert!(
        (simulated - predicted).abs() < 0.1 * predicted,
        "simulated +{simulated:.3}, predicted +{predicted:.3}"
    );
    let tok1 = at(1.0)["cost_per_token"].as_f64().unwrap();
    let tok5 = at(5.0)["cost_per_token"].as_f64().unwrap();
    assert!((tok5 / tok1 - 1.0 - simulated).abs() < 1e-6);
}

#[test]
fn a_policy_without_load_figures_gives_the_same_figures_at_every_load() {
    let out = run(&[
        "simulate",
        "examples/support.route",
        "--load",
        "1x,10x",
        "--requests",
        "5000",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("no model declares a capacity, a rate limit or latency at a load"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("cost per token +0.0%, latency p95 +0.0%"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_plot_draws_cost_and_p95_against_load() {
    let dir = common::temp_dir("load");
    let svg = dir.join("load.svg");
    let out = run(&[
        "simulate",
        "examples/capacity.route",
        "--load",
        "1x,3x,5x",
        "--requests",
        "5000",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&svg).unwrap();
    for needle in [
        "chat_capacity: cost and latency against load",
        "cost against load",
        "latency p95 against load",
        "cost per 1k requests ($)",
        "load (multiple of the profile&apos;s qps)",
        "simulated",
        "predicted",
        "5x",
    ] {
        assert!(text.contains(needle), "`{needle}` not in the plot");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_loads_and_profiles_without_qps_are_usage_errors() {
    let out = run(&["simulate", "examples/capacity.route", "--load", "1x,0x"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("`0x` is not a load"), "{}", out.stderr);
    let dir = common::temp_dir("load");
    let policy = dir.join("p.route");
    std::fs::write(
        &policy,
        "policy p { baseline m }\nmodel m {\n  price $0.001/request\n  latency p50 100ms\n  quality 90%\n  capacity 10 qps\n}\nobjective minimize cost\nroute { otherwise => m }\ntraffic t { has_images 0% }\n",
    )
    .unwrap();
    let out = common::run_in(&dir, &["simulate", "p.route", "--load", "2x"], None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("traffic `t` declares no `qps`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("W0521"), "{}", out.stderr);
    let _ = std::fs::remove_dir_all(dir);
}

/// A plain `simulate` of the profile the table was compiled for samples the
/// load the table settles at, as the compiler predicts it: here calls wait
/// for one of `small`'s 24 slots, so TTFT is well above the declared one.
#[test]
fn simulate_samples_the_compiled_load() {
    let dir = common::manifest_dir().join("tests/fixtures/load");
    let out = common::run_in(&dir, &["compile", "queue.route", "-o", "-"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let table = json(&out);
    let predicted = &table["assumed"]["predicted"]["ttft"];
    let out = common::run_in(
        &dir,
        &[
            "simulate",
            "queue.route",
            "--requests",
            "50000",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let simulated = &json(&out)["metrics"]["ttft"];
    for q in ["p50", "p95", "p99"] {
        let (p, s) = (
            predicted[q].as_f64().unwrap() * 1000.0,
            simulated[q].as_f64().unwrap(),
        );
        assert!(
            (p - s).abs() < 0.05 * p,
            "ttft {q}: predicted {p} ms, simulated {s} ms"
        );
    }
    // The declared TTFT p50 of the traffic's mix is about 150 ms; waiting
    // for a slot makes it about 280 ms.
    assert!(simulated["p50"].as_f64().unwrap() > 250.0, "{simulated}");
}
