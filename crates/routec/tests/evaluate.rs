//! Offline evaluation (`routec simulate` on a labeled recorded profile),
//! off-policy estimates on a decision log (`routec simulate --off-policy`),
//! the converter (`routec convert`) on small handmade inputs, `--plot`, and
//! the progress bar's silence when standard error is not a terminal.
//!
//! The expected figures of `tests/fixtures/evaluate/labeled.jsonl` are
//! computed by hand below (8 records; the policy routes `easy` to `cheap`,
//! `code` through `cascade cheap -> strong`, `hard` through a 50/50 split).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::Value;

mod common;

use common::{Output, manifest_dir};

fn fixtures() -> PathBuf {
    manifest_dir().join("tests/fixtures/evaluate")
}

fn run(args: &[&str]) -> Output {
    common::run_in(&fixtures(), args, None)
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

fn close(actual: &Value, expected: f64) {
    let a = actual
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {actual}"));
    assert!((a - expected).abs() < 1e-6, "expected {expected}, got {a}");
}

fn replay() -> Value {
    let out = run(&[
        "simulate",
        "labeled.route",
        "--traffic",
        "labeled",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    json(&out)
}

#[test]
fn the_policy_replays_the_recorded_outcomes_of_its_plans() {
    let r = replay();
    assert_eq!(r["mode"], "replay");
    assert_eq!(r["requests"], 8);
    let p = &r["policy"];
    // e1 ok, e2 no (cheap); c1 ok (cheap accepted), c2 ok (escalated to
    // strong), c3 no (both fail); h1 (key hash 0.96 -> strong) ok; line 7
    // (key `line:7`, hash 0.39 -> cheap, no outcome recorded) no; x1
    // (task defaults to easy -> cheap) ok: 5 of 8.
    close(&p["accuracy"], 5.0 / 8.0);
    close(&p["quality"], 5.0 / 8.0);
    // 0.001 + 0.001 + 0.002 + (0.002 + 0.02) + (0.002 + 0.02)
    // + h1 priced from tokens on strong (1000 × $10/M + 500 × $30/M = 0.025)
    // + 0 (missing) + 0.001.
    close(&p["cost"], 0.074);
    close(&p["cost_per_1k_requests"], 9.25);
    close(&p["cost_per_success"], 0.074 / 5.0);
    // Latencies of e1, e2, c1, c2 (300 + 900), c3 (400 + 1000): 100, 200,
    // 300, 1200, 1400 ms; nearest rank.
    assert_eq!(p["timed"], 5);
    close(&p["latency"]["p50"], 300.0);
    close(&p["latency"]["p95"], 1400.0);
    close(&p["latency"]["p99"], 1400.0);
    assert_eq!(p["missing"], 1);
    assert_eq!(p["unpriced"], 0);
    assert_eq!(r["cascade_requests"], 3);
    assert_eq!(r["split_requests"], 2);
    // Slice `coding`: c1, c2 right, c3 wrong; 0.002 + 0.022 + 0.022.
    let coding = &r["slices"]["coding"];
    assert_eq!(coding["requests"], 3);
    close(&coding["accuracy"], 2.0 / 3.0);
    close(&coding["cost"], 0.046);
}

#[test]
fn single_models_and_the_oracle_replay_the_same_records() {
    let r = replay();
    let models = r["models"].as_array().unwrap();
    let cheap = models.iter().find(|m| m["model"] == "cheap").unwrap();
    let strong = models.iter().find(|m| m["model"] == "strong").unwrap();
    // cheap is right on e1, c1, x1.
    close(&cheap["accuracy"], 3.0 / 8.0);
    close(&cheap["cost"], 0.011);
    assert_eq!(cheap["missing"], 1);
    // cheap called on e1, e2, c1, c2, c3, line 7, x1; answered e1, e2, c1,
    // line 7, x1.
    close(&cheap["calls"], 7.0 / 8.0);
    close(&cheap["answered"], 5.0 / 8.0);
    // strong is wrong on c3 and x1; line 7 has score 0.75 (a success).
    close(&strong["accuracy"], 6.0 / 8.0);
    close(&strong["quality"], 5.75 / 8.0);
    close(&strong["cost"], 0.145);
    close(&strong["answered"], 3.0 / 8.0);
    assert_eq!(r["best_single_model"], "strong");
    // The oracle: cheap on e1, c1, x1; strong on e2, c2, h1, line 7; c3
    // (nobody right) the cheapest, cheap.
    close(&r["oracle"]["accuracy"], 7.0 / 8.0);
    close(&r["oracle"]["cost"], 0.091);
    let sw = &r["strong_weak"];
    assert_eq!(sw["strong"], "strong");
    assert_eq!(sw["weak"], "cheap");
    // strong-only: e2, c2, h1, line 7; weak-only: x1; gap 3 of 8.
    assert_eq!(sw["strong_only"], 4);
    assert_eq!(sw["weak_only"], 1);
    close(&sw["oracle_cpt_50"], 1.5 / 8.0);
    close(&sw["oracle_cpt_80"], 2.4 / 8.0);
    close(&sw["policy_strong_share"], 3.0 / 8.0);
    close(
        &sw["policy_gap_recovered"],
        (0.625 - 0.375) / (0.75 - 0.375),
    );
}

#[test]
fn the_human_replay_report_names_the_policy_the_oracle_and_every_model() {
    let out = run(&["simulate", "labeled.route", "--traffic", "labeled"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(
        "replay_human",
        format!(
            "$ routec simulate labeled.route --traffic labeled\n{}",
            out.stdout
        )
    );
}

#[test]
fn the_progress_bar_is_silent_when_stderr_is_not_a_terminal() {
    let out = run(&[
        "simulate",
        "labeled.route",
        "--traffic",
        "labeled",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0);
    assert!(
        !out.stderr.contains("replaying") && !out.stderr.contains('\r'),
        "stderr: {}",
        out.stderr
    );
    // The silence is not the silence of a run that did nothing.
    let r = json(&out);
    assert_eq!(r["mode"], "replay");
    assert_eq!(r["requests"], 8);
    let out = run(&[
        "simulate",
        "labeled.route",
        "--traffic",
        "mix",
        "--requests",
        "20000",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stderr.contains("simulating") && !out.stderr.contains('\r'),
        "stderr: {}",
        out.stderr
    );
    assert_eq!(json(&out)["requests"], 20000);
}

#[test]
fn a_bad_recorded_line_is_a_located_error() {
    let dir = common::temp_dir("evaluate");
    std::fs::copy(fixtures().join("labeled.route"), dir.join("labeled.route")).unwrap();
    std::fs::write(
        dir.join("labeled.jsonl"),
        "{\"signals\": {\"task\": \"easy\"}, \"outcomes\": {\"cheap\": {\"success\": true}}}\n\
         {\"signals\": {\"task\": \"hrad\"}, \"outcomes\": {\"cheap\": {\"success\": true}}}\n",
    )
    .unwrap();
    let out = common::run_in(
        &dir,
        &["simulate", "labeled.route", "--traffic", "labeled"],
        None,
    );
    // Bad lines are errors in the policy's data: exit 1, `file:line:col`.
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("labeled.jsonl:2:"),
        "stderr: {}",
        out.stderr
    );
    assert!(out.stderr.contains("hrad"), "stderr: {}", out.stderr);
}

// ---------------------------------------------------------------- off-policy

// `tests/fixtures/offpolicy/decisions.jsonl` is a decision log of
// `logging.route` (chat -> `small`, explored to `big` with probability 0.2;
// code split between both) in `routec serve`'s format: 60 chat requests
// (number k = 0..59: explored when k % 5 == 4; `big` succeeds unless
// k % 6 == 5, `small` unless k % 4 == 3; no feedback when k % 10 == 9), 20
// code requests (k = 0..19: `small` when k % 7 == 3, with the table's split
// share as propensity; `big` succeeds unless k % 10 == 0, `small` when k is
// even; all with feedback), and 2 requests that named `small`. Every line
// carries a `lang` signal neither policy declares. `candidate.route` sends
// chat to `big` and optimizes code alone.

fn offpolicy_dir() -> PathBuf {
    manifest_dir().join("tests/fixtures/offpolicy")
}

fn off_policy(candidate: &str, log: &str, format: &str) -> Output {
    common::run_in(
        &offpolicy_dir(),
        &[
            "simulate",
            candidate,
            "--off-policy",
            log,
            "--format",
            format,
        ],
        None,
    )
}

/// The code leaf's split shares `(small, big)` of a policy's table.
fn code_shares(policy: &str) -> (f64, f64) {
    let out = common::run_in(&offpolicy_dir(), &["compile", policy, "-o", "-"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let t: Value = serde_json::from_str(&out.stdout).unwrap();
    let plans: Vec<&str> = t["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    let leaf = t["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["splits"].as_array().unwrap().len() == 2)
        .unwrap();
    let share = |name: &str| {
        leaf["splits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| plans[s["plan"].as_u64().unwrap() as usize] == name)
            .unwrap()["share"]
            .as_f64()
            .unwrap()
    };
    (share("small"), share("big"))
}

#[test]
fn off_policy_estimates_weigh_the_logged_plans_the_candidate_would_run() {
    let out = off_policy("candidate.route", "decisions.jsonl", "json");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = json(&out);
    assert_eq!(r["policy"], "candidate");
    assert_eq!(r["lines"], 82);
    assert_eq!(r["routed"], 80);
    assert_eq!(r["named"], 2);
    assert_eq!(r["undecided"], 0);
    assert_eq!(r["explored"], 12);
    assert_eq!(r["ignored_signals"], serde_json::json!(["lang"]));
    // Success: 74 routed requests have feedback. The candidate runs `big`
    // on chat: only the 6 explored chat requests with feedback match
    // (k = 4, 14, ..., 54; all succeed; weight 1/0.2). Every code request
    // matches with weight (candidate share)/(logged share): 17 `big` (16
    // succeed) and 3 `small` (k = 3, 10, 17; only k = 10 succeeds).
    let (log_small, log_big) = code_shares("logging.route");
    let (cand_small, cand_big) = code_shares("candidate.route");
    let (w_small, w_big) = (cand_small / log_small, cand_big / log_big);
    let weighted_successes = 6.0 * 5.0 + 16.0 * w_big + w_small;
    let weights = 6.0 * 5.0 + 17.0 * w_big + 3.0 * w_small;
    let s = &r["success"];
    assert_eq!(s["requests"], 74);
    assert_eq!(s["matched"], 26);
    close(&s["ips"]["value"], weighted_successes / 74.0);
    close(&s["snips"]["value"], weighted_successes / weights);
    // What the logging table did: 54 chat with feedback (48 `small`, of
    // which 36 succeed; 6 explored `big`, all succeed) and 20 code (17).
    close(&s["logged"], (36.0 + 6.0 + 17.0) / 74.0);
    for e in ["ips", "snips", "dr"] {
        let (v, lo, hi) = (
            s[e]["value"].as_f64().unwrap(),
            s[e]["low"].as_f64().unwrap(),
            s[e]["high"].as_f64().unwrap(),
        );
        assert!(0.0 <= lo && lo <= v && v <= hi && hi <= 1.0, "{e}: {s}");
    }
    // Cost: every routed request; `big` costs $0.01 and `small` $0.001.
    let c = &r["cost_per_request"];
    assert_eq!(c["requests"], 80);
    assert_eq!(c["matched"], 32);
    close(
        &c["snips"]["value"],
        (12.0 * 5.0 * 0.01 + 17.0 * w_big * 0.01 + 3.0 * w_small * 0.001)
            / (12.0 * 5.0 + 17.0 * w_big + 3.0 * w_small),
    );
    // Mean latency: every routed request has one; SNIPS weighs each
    // logged latency by (candidate share)/(logged propensity).
    let text = std::fs::read_to_string(offpolicy_dir().join("decisions.jsonl")).unwrap();
    let (mut sum, mut weights) = (0.0, 0.0);
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let d = &v["decision"];
        let Some(p) = d["propensity"].as_f64() else {
            continue;
        };
        let m = match (v["signals"]["task"].as_str(), d["plan"].as_str()) {
            (Some("chat"), Some("big")) => 1.0,
            (Some("code"), Some("small")) => cand_small,
            (Some("code"), Some("big")) => cand_big,
            _ => 0.0,
        };
        sum += m / p * d["latency_ms"].as_f64().unwrap();
        weights += m / p;
    }
    let l = &r["latency_ms"];
    assert_eq!(l["requests"], 80);
    assert_eq!(l["matched"], 32);
    assert!(l["predicted"].is_null(), "{l}");
    // Milliseconds, rounded to 3 decimals in JSON.
    close(
        &l["snips"]["value"],
        (sum / weights * 1000.0).round() / 1000.0,
    );
}

/// The logging table estimated on its own log: the explored requests do
/// not match, and SNIPS reweighs the rest by their propensities (chat
/// `small` 1/0.8, code 1): here the cost per request it predicts.
#[test]
fn the_logging_table_on_its_own_log_reweighs_what_it_chose() {
    let out = off_policy("logging.route", "decisions.jsonl", "json");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = json(&out);
    let c = &r["cost_per_request"];
    assert_eq!(c["matched"], 68);
    // 48 chat `small` at $0.001 (weight 1.25), 17 code `big` at $0.01 and 3
    // code `small` at $0.001 (weight 1): the chat half and the code half
    // weigh 60 and 20 as the traffic did.
    close(
        &c["snips"]["value"],
        (48.0 * 1.25 * 0.001 + 17.0 * 0.01 + 3.0 * 0.001) / (48.0 * 1.25 + 20.0),
    );
}

#[test]
fn the_human_off_policy_report_names_every_estimate() {
    let out = off_policy("candidate.route", "decisions.jsonl", "human");
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("off_policy_human", out.stdout);
}

/// A compiled table is a candidate too, with the same estimates.
#[test]
fn a_compiled_table_is_estimated_like_its_policy() {
    let dir = common::temp_dir("offpolicy");
    let table = dir.join("candidate.table.json");
    let out = common::run_in(
        &offpolicy_dir(),
        &["compile", "candidate.route", "-o", table.to_str().unwrap()],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let log = offpolicy_dir().join("decisions.jsonl");
    let from_table = common::run_in(
        &dir,
        &[
            "simulate",
            "candidate.table.json",
            "--off-policy",
            log.to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(from_table.code, 0, "{}", from_table.stderr);
    let mut a = json(&from_table);
    let mut b = json(&off_policy("candidate.route", "decisions.jsonl", "json"));
    a["log"] = Value::Null;
    b["log"] = Value::Null;
    assert_eq!(a, b);
    let _ = std::fs::remove_dir_all(dir);
}

/// A malformed log is a usage error located in the log (exit 2), every bad
/// line named, and nothing is estimated.
#[test]
fn a_malformed_decision_log_is_a_located_usage_error() {
    let out = off_policy("candidate.route", "malformed.jsonl", "human");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains("malformed.jsonl:3:260")
            && out
                .stderr
                .contains("`propensity` must be within (0, 1], got 1.5"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("malformed.jsonl:4:64")
            && out.stderr.contains("the `decision` has no `plan`"),
        "{}",
        out.stderr
    );
    let missing = off_policy("candidate.route", "nowhere.jsonl", "human");
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("cannot read `nowhere.jsonl`"),
        "{}",
        missing.stderr
    );
    // Sampling options do not apply to an estimate from a log.
    let both = common::run_in(
        &offpolicy_dir(),
        &[
            "simulate",
            "candidate.route",
            "--off-policy",
            "decisions.jsonl",
            "--load",
            "2x",
        ],
        None,
    );
    assert_eq!(both.code, 2, "{}", both.stderr);
}

// ---------------------------------------------------------------- converter

fn convert(args: &[&str]) -> (Output, Vec<Value>) {
    let out = run(args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out, lines)
}

#[test]
fn routerbench_rows_become_records_with_outcomes_and_costs() {
    let (out, lines) = convert(&["convert", "routerbench", "routerbench.csv"]);
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    // `[\'What is 2+2?\']` has 16 characters: 4 tokens.
    assert_eq!(
        lines[0],
        serde_json::json!({
            "id": "toy.1",
            "signals": {"dataset": "toy_set", "prompt_tokens": 4},
            "outcomes": {
                "big_model": {"success": true, "cost_usd": 0.01, "input_tokens": 4, "output_tokens": 1},
                "small_7b": {"success": false, "cost_usd": 0.0001, "input_tokens": 4, "output_tokens": 2},
            }
        })
    );
    // A missing grade is a failure whose cost is still paid.
    assert_eq!(
        lines[1]["outcomes"]["small_7b"],
        serde_json::json!({"success": false, "cost_usd": 0.0002, "input_tokens": 2, "output_tokens": 1})
    );
    assert!(
        out.stderr
            .contains("2 requests written (2 read, 0 dropped)")
    );
}

#[test]
fn routellm_folders_drop_contaminated_prompts_and_price_the_calls() {
    let (out, lines) = convert(&["convert", "routellm-mmlu", "routellm/mmlu"]);
    // Three rows, one contaminated.
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert_eq!(lines[0]["id"], "mmlu.anatomy.0");
    assert_eq!(lines[0]["signals"]["subject"], "anatomy");
    // "Which bone?\nA. x\nB. y\nAnswer:" is 29 characters: 8 tokens; one
    // output token; GPT-4 at $10/$30 per Mtok.
    assert_eq!(lines[0]["signals"]["prompt_tokens"], 8);
    let gpt = &lines[0]["outcomes"]["gpt_4_1106_preview"];
    assert_eq!(gpt["success"], true);
    assert_eq!(gpt["cost_usd"], 0.00011);
    assert_eq!(
        lines[0]["outcomes"]["mixtral_8x7b_instruct_v0_1"]["success"],
        false
    );
    assert!(out.stderr.contains("(3 read, 1 dropped)"), "{}", out.stderr);
    let (_, gsm) = convert(&["convert", "routellm-gsm8k", "routellm/gsm8k"]);
    assert_eq!(gsm.len(), 1);
    // The response "#### 4" (6 characters) is 2 output tokens.
    assert_eq!(gsm[0]["outcomes"]["gpt_4_1106_preview"]["output_tokens"], 2);
}

#[test]
fn the_train_and_test_splits_partition_the_records() {
    let (_, all) = convert(&["convert", "routellm-mmlu", "routellm/mmlu"]);
    let (_, train) = convert(&[
        "convert",
        "routellm-mmlu",
        "routellm/mmlu",
        "--split",
        "train",
    ]);
    let (_, test) = convert(&[
        "convert",
        "routellm-mmlu",
        "routellm/mmlu",
        "--split",
        "test",
    ]);
    assert_eq!(train.len() + test.len(), all.len());
    for r in &train {
        assert!(!test.contains(r));
    }
}

#[test]
fn a_malformed_row_is_a_located_usage_error() {
    let dir = common::temp_dir("convert");
    std::fs::write(
        dir.join("bad.csv"),
        ",sample_id,prompt,eval_name,m1,m1|model_response,m1|total_cost,oracle_model_to_route_to\n\
         0,a.1,hi,set,1.0,ok,0.1,m1\n\
         1,a.2,hi,set,maybe,ok,0.1,m1\n",
    )
    .unwrap();
    let out = common::run_in(&dir, &["convert", "routerbench", "bad.csv"], None);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("bad.csv`:3: quality `maybe` is not a number"),
        "{}",
        out.stderr
    );
    let out = common::run_in(&dir, &["convert", "routellm-mmlu", "nowhere"], None);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("nowhere"), "{}", out.stderr);
}

// ---------------------------------------------------------------- plots

/// A structural summary of an SVG: it must parse as XML; then the count of
/// each element kind and every text that is not a tick label.
fn svg_summary(svg: &str) -> String {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed: {e}"));
    let mut kinds = std::collections::BTreeMap::new();
    let mut texts = Vec::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        *kinds.entry(node.tag_name().name().to_owned()).or_insert(0) += 1;
        if node.tag_name().name() == "text" {
            let t: String = node
                .descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect();
            let t = t.trim().to_owned();
            let tick = t
                .trim_start_matches('$')
                .trim_end_matches('%')
                .parse::<f64>()
                .is_ok();
            if !tick {
                texts.push(t);
            }
        }
    }
    let kinds: Vec<String> = kinds
        .into_iter()
        .filter(|(k, _)| ["svg", "text", "polyline", "circle"].contains(&k.as_str()))
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    format!("{}\n---\n{}\n", kinds.join("\n"), texts.join("\n"))
}

fn plot(args: &[&str]) -> (String, Vec<String>) {
    let dir = common::temp_dir("plot");
    for f in ["labeled.route", "labeled.jsonl"] {
        std::fs::copy(fixtures().join(f), dir.join(f)).unwrap();
    }
    let mut all = vec!["simulate", "labeled.route"];
    all.extend(args);
    all.extend(["--plot", "out/plot.svg"]);
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let out = common::run_in(&dir, &all, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let svg = std::fs::read_to_string(dir.join("out/plot.svg")).unwrap();
    let mut left: Vec<String> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    (svg, left)
}

#[test]
fn the_replay_plot_shows_the_frontier_policy_models_oracle_and_latencies() {
    let (svg, files) = plot(&["--traffic", "labeled"]);
    // Written atomically: no temporary file is left behind.
    assert_eq!(files, ["plot.svg"]);
    insta::assert_snapshot!("plot_replay", svg_summary(&svg));
}

#[test]
fn the_simulation_plot_marks_predicted_single_models_and_simulated_latencies() {
    let (svg, _) = plot(&["--traffic", "mix", "--requests", "5000"]);
    insta::assert_snapshot!("plot_simulation", svg_summary(&svg));
}

#[test]
fn an_unwritable_plot_is_a_usage_error() {
    let out = run(&[
        "simulate",
        "labeled.route",
        "--traffic",
        "labeled",
        "--plot",
        "no/such/dir/plot.svg",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("cannot write `no/such/dir/plot.svg`"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------- benchmarks/real-data

#[test]
fn the_evaluation_policies_check_and_are_formatted() {
    let dir = common::repo_root().join("benchmarks/real-data");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "route") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The checker alone: the recorded files they name are made by
        // scripts/eval-real-data and may be absent.
        let parsed = routec_syntax::parse(&text);
        assert!(
            parsed.diagnostics.is_empty(),
            "{path:?}: {:#?}",
            parsed.diagnostics
        );
        let checked = routec_check::check(&parsed.file);
        assert!(
            !checked.has_errors(),
            "{path:?}: {:#?}",
            checked.diagnostics
        );
        let out = common::run_in(&dir, &["fmt", "--check", &path.display().to_string()], None);
        assert_eq!(out.code, 0, "{path:?} is not formatted: {}", out.stdout);
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    names.sort();
    assert_eq!(
        names,
        [
            "routellm_gsm8k.route",
            "routellm_mmlu.route",
            "routerbench.route"
        ]
    );
}
