//! End-to-end tests of `routec compile`, `test`, `explain` and `simulate`:
//! exit codes, artifacts, JSON shapes and units, determinism, and snapshots
//! of the human reports on stable fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use routec_table::Table;
use serde_json::Value;

mod common;

use common::{Output, manifest_dir, repo_root};

fn fixtures() -> PathBuf {
    manifest_dir().join("tests/fixtures/commands")
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    common::run_in(dir, args, None)
}

/// Runs `routec` in the repository root (paths like `examples/support.route`).
fn run(args: &[&str]) -> Output {
    run_in(&repo_root(), args)
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

/// The command line, then its standard output (snapshots show the input
/// next to the output; the fixture's source is in `tests/fixtures/commands`).
fn transcript(args: &[&str], out: &Output) -> String {
    format!("$ routec {}\n{}", args.join(" "), out.stdout)
}

fn temp_dir() -> PathBuf {
    common::temp_dir("commands")
}

fn support_in(dir: &Path) -> PathBuf {
    let path = dir.join("support.route");
    std::fs::copy(repo_root().join("examples/support.route"), &path).unwrap();
    path
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The 1-based line of the first line of `examples/support.route` containing `needle`.
fn support_line(needle: &str) -> u64 {
    let text = std::fs::read_to_string(repo_root().join("examples/support.route")).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

// ---------------------------------------------------------------- compile

#[test]
fn compile_writes_a_json_table_next_to_the_policy() {
    let dir = temp_dir();
    support_in(&dir);
    let out = run_in(&dir, &["compile", "support.route"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("wrote `support.table.json`"),
        "{}",
        out.stderr
    );
    assert_eq!(entries(&dir), ["support.route", "support.table.json"]);
    let bytes = std::fs::read(dir.join("support.table.json")).unwrap();
    let table = Table::from_bytes(&bytes).unwrap();
    assert_eq!(table.policy.name, "support_chat");
    assert!(table.assumed.is_some());
}

/// After the table, `compile` prints the figures it was optimized for.
#[test]
fn compile_prints_the_predicted_figures_and_each_slos_slack() {
    let args = ["compile", "figures.route", "-o", "-"];
    let out = run_in(&fixtures(), &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(Table::from_json(&out.stdout).is_ok());
    insta::assert_snapshot!(
        "compile_figures",
        format!(
            "$ routec {} 2>&1 >/dev/null\n{}",
            args.join(" "),
            out.stderr
        )
    );
}

#[test]
fn compile_writes_a_binary_table() {
    let dir = temp_dir();
    support_in(&dir);
    let out = run_in(&dir, &["compile", "support.route", "--format", "bin"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let bytes = std::fs::read(dir.join("support.table.bin")).unwrap();
    assert!(bytes.starts_with(b"RTBL"));
    let table = Table::from_bytes(&bytes).unwrap();
    // The same table as the JSON encoding.
    let out = run_in(&dir, &["compile", "support.route", "-o", "-"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(Table::from_json(&out.stdout).unwrap(), table);
    let out = run_in(
        &dir,
        &[
            "compile",
            "support.route",
            "-o",
            "custom.bin",
            "--format",
            "bin",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read(dir.join("custom.bin")).unwrap(), bytes);
}

#[test]
fn compile_to_stdout_prints_json_only() {
    let out = run(&["compile", "examples/support.route", "-o", "-"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["schema_version"], routec_table::SCHEMA_VERSION);
    assert_eq!(v["assumed"]["traffic"], "launch");
    let bin = run(&[
        "compile",
        "examples/support.route",
        "-o",
        "-",
        "--format",
        "bin",
    ]);
    assert_eq!(bin.code, 0);
    assert!(Table::from_bytes(&bin.bytes).is_ok());
}

#[test]
fn compile_never_leaves_a_partial_file() {
    let dir = temp_dir();
    support_in(&dir);
    // The target is a directory: the rename fails after the table was written.
    std::fs::create_dir(dir.join("out.json")).unwrap();
    std::fs::write(dir.join("out.json/keep"), "x").unwrap();
    let out = run_in(&dir, &["compile", "support.route", "-o", "out.json"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot write `out.json`"),
        "{}",
        out.stderr
    );
    assert_eq!(
        entries(&dir),
        ["out.json", "support.route"],
        "no temporary file is left"
    );
    assert_eq!(entries(&dir.join("out.json")), ["keep"]);
    // The target directory does not exist.
    let out = run_in(
        &dir,
        &["compile", "support.route", "-o", "missing/out.json"],
    );
    assert_eq!(out.code, 2);
    assert!(!dir.join("missing").exists());
    // An existing table is replaced whole, or not at all.
    std::fs::write(dir.join("old.json"), "old").unwrap();
    let out = run_in(&dir, &["compile", "support.route", "-o", "old.json"]);
    assert_eq!(out.code, 0);
    assert!(Table::from_bytes(&std::fs::read(dir.join("old.json")).unwrap()).is_ok());
    assert_eq!(entries(&dir), ["old.json", "out.json", "support.route"]);
}

#[test]
fn compile_infeasible_policy_exits_1_with_located_errors() {
    let dir = temp_dir();
    let out = run_in(
        &fixtures(),
        &[
            "compile",
            "infeasible.route",
            "-o",
            dir.join("t.json").to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("[E0510]"), "{}", out.stderr);
    assert!(
        out.stderr.contains("`latency p95 <= 100ms` cannot be met"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("infeasible.route:76:3"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("best value"), "{}", out.stderr);
    assert_eq!(entries(&dir), Vec::<String>::new());
}

#[test]
fn compile_policy_with_errors_exits_1_like_check() {
    let dir = temp_dir();
    let broken = manifest_dir().join("tests/fixtures/broken/semantic_errors.route");
    let out = run_in(&dir, &["compile", broken.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("Error"), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(entries(&dir), Vec::<String>::new());
}

#[test]
fn compile_usage_errors_exit_2() {
    let out = run(&["compile", "nope.route"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cannot read `nope.route`"));
    let out = run(&[
        "compile",
        "examples/support.route",
        "--traffic",
        "lunch",
        "-o",
        "-",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("did you mean `launch`?"),
        "{}",
        out.stderr
    );
}

/// `tests/tables/support.table.json` is the table of `examples/support.route`:
/// a format or optimizer change shows up in review as a diff of it.
/// Regenerate with `ROUTEC_UPDATE_TABLES=1 cargo test -p routec --test commands`.
#[test]
fn golden_support_table_is_current() {
    let path = repo_root().join("tests/tables/support.table.json");
    let out = run(&["compile", "examples/support.route", "-o", "-"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    if std::env::var_os("ROUTEC_UPDATE_TABLES").is_some() {
        std::fs::write(&path, &out.stdout).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        Table::from_json(&golden).is_ok(),
        "the golden table must load"
    );
    assert!(
        golden == out.stdout,
        "tests/tables/support.table.json is stale; regenerate it with \
         `ROUTEC_UPDATE_TABLES=1 cargo test -p routec --test commands golden` and review the diff"
    );
}

// ---------------------------------------------------------------- test

#[test]
fn test_support_passes_all_four_tests() {
    let out = run(&["test", "examples/support.route"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("running 4 tests in examples/support.route")
    );
    assert_eq!(out.stdout.matches(" ... ok").count(), 4, "{}", out.stdout);
    assert!(
        out.stdout
            .ends_with("test result: ok. 4 passed, 0 failed\n")
    );
}

#[test]
fn failing_tests_exit_1_and_say_why() {
    let args = ["test", "failing_tests.route"];
    let out = run_in(&fixtures(), &args);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    insta::assert_snapshot!("test_failing_tests", transcript(&args, &out));
}

#[test]
fn test_json_report() {
    let out = run_in(
        &fixtures(),
        &[
            "test",
            "failing_tests.route",
            "tiny.route",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 1);
    let v = json(&out);
    assert_eq!(v["passed"], 3);
    assert_eq!(v["failed"], 3);
    let tests = v["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 6);
    let medium = tests
        .iter()
        .find(|t| t["name"] == "images go to the medium model")
        .unwrap();
    assert_eq!(medium["passed"], false);
    assert_eq!(medium["kind"], "plan");
    assert_eq!(medium["expected"], "medium");
    assert_eq!(medium["actual"], "large");
    let fast = tests
        .iter()
        .find(|t| t["name"] == "launch traffic is fast")
        .unwrap();
    assert_eq!(fast["kind"], "metric");
    assert!(
        fast["actual"]
            .as_str()
            .unwrap()
            .starts_with("latency p95 = ")
    );
}

#[test]
fn test_of_a_policy_with_errors_exits_1() {
    let broken = manifest_dir().join("tests/fixtures/broken/semantic_errors.route");
    let out = run(&["test", broken.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("0 passed, 0 failed"), "{}", out.stdout);
}

// ---------------------------------------------------------------- explain

#[test]
fn explain_images_go_to_the_large_model() {
    let out = run(&[
        "explain",
        "examples/support.route",
        "--request",
        r#"{"has_images": true, "task": "chat"}"#,
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["rule"], support_line("when has_images"));
    assert_eq!(v["rule_text"], "when has_images => large");
    assert_eq!(v["plan"], "large");
    assert_eq!(v["splits"][0]["plan"], "large");
    assert_eq!(v["splits"][0]["share"], 1.0);
    assert!(v["cell"].as_str().unwrap().contains("task = chat"));
    assert_eq!(v["path"][0]["signal"], "has_images");
    assert_eq!(v["path"][0]["origin"], "request");
    assert!(v["slos"].as_array().unwrap().len() >= 6);
    for slo in v["slos"].as_array().unwrap() {
        assert!(slo["constraint"].is_string() && slo["ok"].is_boolean());
    }
}

#[test]
fn explain_free_chat_is_the_cascade() {
    let out = run(&[
        "explain",
        "examples/support.route",
        "--request",
        r#"{"plan": "free", "task": "chat", "prompt_tokens": 500}"#,
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(
        v["plan"],
        "cascade small -> medium accept when confidence >= 70%"
    );
    assert_eq!(v["rule"], support_line("when plan == free"));
    let defaulted: Vec<&str> = v["defaulted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(defaulted.contains(&"has_images"), "{defaulted:?}");
    assert!(!defaulted.contains(&"task"));
    // Percent strings are ratios.
    let out = run(&[
        "explain",
        "examples/support.route",
        "--request",
        r#"{"task": "factual", "difficulty": "10%", "plan": "pro"}"#,
        "--format",
        "json",
    ]);
    assert_eq!(json(&out)["plan"], "search else small");
}

#[test]
fn explain_split_cells_list_their_shares() {
    let table =
        Table::from_json(&run(&["compile", "examples/support.route", "-o", "-"]).stdout).unwrap();
    let Some(cell) = table
        .assumed
        .as_ref()
        .unwrap()
        .cells
        .iter()
        .find(|c| c.splits.len() > 1)
    else {
        return; // no split cell in this table
    };
    // Build the cell's request from its predicate, e.g. `task = code, plan = pro, ...`.
    let mut request = serde_json::Map::new();
    for part in cell.predicate.split(", ") {
        if let Some((k, v)) = part.split_once(" = ") {
            request.insert(k.into(), Value::String(v.into()));
        } else if let Some((k, range)) = part.split_once(" in [") {
            let lo = range.split(',').next().unwrap().trim();
            request.insert(k.into(), Value::String(lo.into()));
        }
    }
    let out = run(&[
        "explain",
        "examples/support.route",
        "--request",
        &Value::Object(request).to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    let splits = v["splits"].as_array().unwrap();
    assert_eq!(splits.len(), cell.splits.len(), "{v:#}");
    let total: f64 = splits.iter().map(|s| s["share"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-6);
}

#[test]
fn explain_bad_requests_are_usage_errors() {
    let out = run(&[
        "explain",
        "examples/support.route",
        "--request",
        r#"{"tsk": "chat"}"#,
    ]);
    assert_eq!(out.code, 2);
    // After the compiler's warnings (W0601 on the timeout).
    assert!(
        out.stderr
            .ends_with("\nroutec: unknown signal `tsk` in the request; did you mean `task`?\n"),
        "{}",
        out.stderr
    );
    let out = run(&["explain", "examples/support.route", "--request", "[1]"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("JSON object"), "{}", out.stderr);
    let out = run(&["explain", "examples/support.route", "--request", "{"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not valid JSON"), "{}", out.stderr);
}

#[test]
fn explain_human_on_tiny() {
    let args = ["explain", "tiny.route", "--request", r#"{"tier": "paid"}"#];
    let out = run_in(&fixtures(), &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("explain_tiny_paid", transcript(&args, &out));
}

#[test]
fn explain_reports_invalid_values_and_still_shows_the_decision() {
    // `tier` is misspelled (the diagram reads it: the default decides);
    // `prompt_tokens` is negative (this route does not read it).
    let request = r#"{"tier": "payd", "prompt_tokens": -5}"#;
    let args = ["explain", "tiny.route", "--request", request];
    let out = run_in(&fixtures(), &args);
    insta::assert_snapshot!(
        "explain_tiny_invalid",
        format!(
            "{}exit {}\n--- stderr ---\n{}",
            transcript(&args, &out),
            out.code,
            out.stderr
        )
    );
    let args = [
        "explain",
        "tiny.route",
        "--request",
        request,
        "--format",
        "json",
    ];
    let out = run_in(&fixtures(), &args);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["plan"], "little", "{v:#}");
    assert_eq!(v["invalid"], serde_json::json!(["tier"]));
    assert_eq!(
        v["invalid_values"],
        serde_json::json!([
            {"signal": "prompt_tokens", "value": -5, "default": "1000",
             "help": "tokens are a whole number >= 0 such as `812` or `\"12k\"`", "read": false},
            {"signal": "tier", "value": "payd", "default": "free",
             "help": "did you mean `paid`?", "read": true},
        ]),
        "{v:#}"
    );
}

// ---------------------------------------------------------------- simulate

#[test]
fn simulate_json_shape_and_units() {
    let out = run(&[
        "simulate",
        "examples/support.route",
        "--requests",
        "20000",
        "--seed",
        "3",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["requests"], 20000);
    assert_eq!(v["seed"], 3);
    assert_eq!(v["traffic"], "launch");
    let m = &v["metrics"];
    for key in ["ttft", "latency"] {
        let (p50, p95, p99) = (
            m[key]["p50"].as_f64().unwrap(),
            m[key]["p95"].as_f64().unwrap(),
            m[key]["p99"].as_f64().unwrap(),
        );
        assert!(p50 <= p95 && p95 <= p99);
        // Milliseconds: TTFT medians are tens to hundreds of ms, not 0.1 (s).
        assert!(p50 > 10.0 && p99 < 600_000.0, "{key}: {p50} {p99}");
    }
    assert!(m["latency"]["p50"].as_f64().unwrap() > 500.0);
    let cost = m["cost_per_1k_requests"].as_f64().unwrap();
    assert!(cost > 0.1 && cost < 50.0);
    assert!(m["cost_per_success"].as_f64().unwrap() > cost / 1000.0);
    let q = m["quality"].as_f64().unwrap();
    assert!(q > 0.5 && q < 1.0);
    assert!(m["score"].as_f64().unwrap() > 0.0);
    for slice in ["english", "non_english", "paying"] {
        assert!(v["slices"][slice]["latency"]["p95"].is_number(), "{slice}");
    }
    let models = v["models"].as_object().unwrap();
    assert_eq!(models.len(), 5);
    assert!(models["small"].as_f64().unwrap() > 0.5);
    let rules = v["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 5);
    assert_eq!(rules[0]["line"], support_line("when has_images"));
    let share: f64 = rules.iter().map(|r| r["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-9);
    let slos = v["slo"].as_array().unwrap();
    assert_eq!(slos.len(), 8);
    let latency = &slos[1];
    assert_eq!(latency["constraint"], "latency p95 <= 20s");
    assert_eq!(latency["limit"], 20000.0);
    assert_eq!(latency["unit"], "ms");
    assert_eq!(latency["value"], m["latency"]["p95"]);
    assert_eq!(latency["ok"], true);
    // Far from its limit: met, its 95% interval around the value, in ms.
    assert_eq!(latency["verdict"], "met");
    let (lo, hi) = (
        latency["interval"][0].as_f64().unwrap(),
        latency["interval"][1].as_f64().unwrap(),
    );
    let value = latency["value"].as_f64().unwrap();
    assert!(lo <= value && value <= hi && hi < 20000.0, "{latency}");
    for slo in slos {
        assert!(["met", "at_limit", "missed"].contains(&slo["verdict"].as_str().unwrap()));
    }
}

#[test]
fn simulate_is_deterministic_for_a_seed() {
    let args = [
        "simulate",
        "examples/support.route",
        "--requests",
        "5000",
        "--format",
        "json",
    ];
    let a = run(&[&args[..], &["--seed", "9"]].concat());
    let b = run(&[&args[..], &["--seed", "9"]].concat());
    let c = run(&[&args[..], &["--seed", "10"]].concat());
    assert_eq!(a.code, 0);
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(a.stdout, c.stdout);
}

#[test]
fn simulate_usage_errors_exit_2() {
    let out = run(&["simulate", "examples/support.route", "--traffic", "lunch"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("did you mean `launch`?"),
        "{}",
        out.stderr
    );
    let out = run(&["simulate", "examples/support.route", "--requests", "0"]);
    assert_eq!(out.code, 2);
}

#[test]
fn simulate_human_on_tiny() {
    let args = [
        "simulate",
        "tiny.route",
        "--requests",
        "20000",
        "--seed",
        "1",
    ];
    let out = run_in(&fixtures(), &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("simulate_tiny", transcript(&args, &out));
}

/// A policy with a judge: the report says what the judge costs, a part of
/// every cost figure (`docs/semantics.md`, "The judge"); `--format json`
/// has it as `judge`, and reports of policies without one have no `judge`.
#[test]
fn simulate_reports_the_judge() {
    let args = [
        "simulate",
        "tests/judge/judged.route",
        "--requests",
        "20000",
        "--seed",
        "1",
    ];
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("simulate_judged", transcript(&args, &out));
    let out = run(&[&args[..], &["--format", "json"]].concat());
    let v = json(&out);
    assert_eq!(v["judge"]["model"], "grader");
    assert!(v["judge"]["cost_per_1k_requests"].as_f64().unwrap() > 0.0);
    // `compile` says the judge's part of the predicted cost.
    let out = run(&["compile", "tests/judge/judged.route", "-o", "-"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("\njudge grader: 49.5% of answers, $")
            && out.stderr.contains("/1k requests (in the cost above)\n"),
        "{}",
        out.stderr
    );
    let plain = run(&[
        "simulate",
        "examples/support.route",
        "--requests",
        "2000",
        "--format",
        "json",
    ]);
    assert!(json(&plain).get("judge").is_none());
}

/// Batch workloads: durations in hours, not `32210518ms`.
#[test]
fn human_reports_write_durations_in_the_unit_of_their_magnitude() {
    let simulate = ["simulate", "batch.route", "--requests", "2000"];
    let explain = ["explain", "batch.route", "--request", "{}"];
    let (a, b) = (
        run_in(&fixtures(), &simulate),
        run_in(&fixtures(), &explain),
    );
    assert_eq!((a.code, b.code), (0, 0), "{}{}", a.stderr, b.stderr);
    insta::assert_snapshot!(
        "human_batch",
        format!(
            "{}\n{}",
            transcript(&simulate, &a),
            transcript(&explain, &b)
        )
    );
}

#[test]
fn help_names_examples_and_exit_codes() {
    for cmd in ["compile", "test", "explain", "simulate"] {
        let out = run(&[cmd, "--help"]);
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("Examples:"), "{cmd}");
        assert!(out.stdout.contains("Exit codes:"), "{cmd}");
    }
}

#[test]
fn prompt_tokens_defaults_to_1000_everywhere() {
    let policy = fixtures().join("prompt_default.route");
    let policy = policy.to_str().unwrap();
    // `test`: a given without prompt_tokens, and the optimizer's profile
    // without a prompt_tokens marginal, both take 1,000 tokens.
    let out = run(&["test", policy]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // `explain` reads the table's default and says so.
    let out = run(&["explain", policy, "--request", "{}", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["plan"], "large");
    let step = &v["path"][0];
    assert_eq!(step["signal"], "prompt_tokens");
    assert_eq!(step["origin"], "default");
    // The compiled table carries the default for every runtime.
    let out = run(&["compile", policy, "-o", "-"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let table = json(&out);
    let signal = table["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "prompt_tokens")
        .unwrap();
    assert_eq!(signal["default"], 1000.0);
}
