//! `routec simulate POLICY --pace [SURGE]` (docs/learn.md, "Budget
//! pacing") on `tests/pacing/paced_chat.route`, and `routec compile`'s
//! summary of the pacing ladder: the report's figures agree between its
//! human and JSON forms, the surge day is paced under the cap, and bad
//! input is a usage error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

mod common;

use common::{Output, repo_root};

const POLICY: &str = "tests/pacing/paced_chat.route";

fn run(args: &[&str]) -> Output {
    common::run_in(&repo_root(), args, None)
}

#[test]
fn a_surge_day_is_paced_under_the_budget() {
    let out = run(&[
        "simulate",
        POLICY,
        "--pace",
        "3x@10h-16h",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["constraint"], "spend per day <= $600");
    assert_eq!(v["budget_usd"], 600.0);
    assert_eq!(v["surge"]["factor"], 3.0);
    let rungs = v["rung_cost_per_request_usd"].as_array().unwrap();
    let fixed = v["fixed"].as_array().unwrap();
    assert_eq!(rungs.len(), fixed.len());
    assert!(rungs.len() >= 4);
    let spend = |r: &Value| r["spend_usd"].as_f64().unwrap();
    let quality = |r: &Value| r["quality"].as_f64().unwrap();
    assert!(spend(&v["paced"]) <= 600.0);
    assert!(spend(&fixed[0]) > 600.0);
    // Cheaper rungs, lower quality, in order.
    for w in fixed.windows(2) {
        assert!(spend(&w[1]) < spend(&w[0]) && quality(&w[1]) < quality(&w[0]));
    }
    let per_rung: u64 = v["paced"]["requests_per_rung"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(per_rung, v["paced"]["requests"].as_u64().unwrap());
    assert_eq!(
        v["paced"]["spend_by_hour_usd"].as_array().unwrap().len(),
        24
    );

    // The human report says the same.
    let human = run(&["simulate", POLICY, "--pace", "3x@10h-16h"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human.stdout.starts_with(
            "pacing of `spend per day <= $600`: one day of traffic `planned` at 1 qps, with 3x from 10h to 16h (seed 0)\n"
        ),
        "{}",
        human.stdout
    );
    let paced_line = format!("${:.2}", spend(&v["paced"]));
    assert!(
        human
            .stdout
            .lines()
            .any(|l| l.trim_start().starts_with("paced") && l.contains(&paced_line)),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("  over\n"), "{}", human.stdout);
}

#[test]
fn compile_prints_the_ladder() {
    let dir = common::temp_dir("pace");
    let out_path = dir.join("t.json");
    let out = run(&["compile", POLICY, "-o", out_path.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("pacing of `spend per day <= $600` (line 43): 4 steps below the table\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("  rung  $/1k requests  quality  gives up\n")
    );
    assert!(out.stderr.contains("quality >= 78%\n"), "{}", out.stderr);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_input_is_a_usage_error() {
    let out = run(&["simulate", POLICY, "--pace", "3@10h-16h"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("invalid surge `3@10h-16h`"),
        "{}",
        out.stderr
    );
    // A policy without a spend SLO has no ladder to pace.
    let out = run(&["simulate", "examples/support.route", "--pace"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no pacing ladder"), "{}", out.stderr);
    // `--pace` is its own mode.
    let out = run(&["simulate", POLICY, "--pace", "--requests", "10"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}
