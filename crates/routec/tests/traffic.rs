//! Recorded traffic end to end: the documented format (the example in
//! `docs/traffic.md` validates against `docs/traffic.schema.json` and binds
//! to `examples/support.route`; the schema and the parser agree on the
//! fixture lines), and the CLI on recorded profiles: located line errors
//! (exit 1), unreadable files (exit 2), `check` warnings, and simulation by
//! sampling the file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::Value;

mod common;

use common::{repo_root, run_in};

fn traffic_dir(sub: &str) -> PathBuf {
    repo_root().join("tests/traffic").join(sub)
}

fn schema() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("docs/traffic.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::validator_for(&schema).unwrap()
}

fn policy(path: &str) -> routec_check::Policy {
    let source = std::fs::read_to_string(repo_root().join(path)).unwrap();
    let parsed = routec_syntax::parse(&source);
    let checked = routec_check::check(&parsed.file);
    assert!(!checked.diagnostics.iter().any(|d| d.is_error()));
    checked.policy
}

#[test]
fn the_documented_example_validates_and_binds() {
    let doc = std::fs::read_to_string(repo_root().join("docs/traffic.md")).unwrap();
    let start = doc.find("```jsonl\n").expect("a ```jsonl block") + "```jsonl\n".len();
    let block = &doc[start..start + doc[start..].find("```").unwrap()];
    let validator = schema();
    let lines: Vec<&str> = block.lines().collect();
    assert!(lines.len() >= 3);
    for line in &lines {
        let value: Value = serde_json::from_str(line).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{line}: {errors:?}");
    }
    let records = routec_traffic::parse(block).unwrap();
    let bound = routec_traffic::bind(&policy("examples/support.route"), &records).unwrap();
    assert_eq!(bound.records.len(), lines.len());
    assert_eq!(bound.labeled(), 2);
    // The single-line example of the "One line" section too.
    let one = doc
        .lines()
        .find(|l| l.starts_with("{\"id\": \"mmlu-17\""))
        .unwrap();
    assert!(validator.is_valid(&serde_json::from_str::<Value>(one).unwrap()));
    routec_traffic::parse(one).unwrap();
}

/// Every fixture line: the parser accepts it exactly when the schema does
/// (duplicate keys and invalid JSON are the parser's alone: a schema sees
/// parsed values).
#[test]
fn the_schema_and_the_parser_agree() {
    let validator = schema();
    let mut checked = 0;
    for file in ["good.jsonl", "bad.jsonl"] {
        let text = std::fs::read_to_string(traffic_dir("parse").join(file)).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parsed = routec_traffic::parse_line(i + 1, line);
            let Ok(value) = serde_json::from_str::<Value>(line) else {
                assert!(parsed.is_err(), "{file}:{}: bad JSON accepted", i + 1);
                continue;
            };
            if let Err(es) = &parsed
                && es.iter().any(|e| e.message.starts_with("duplicate key"))
            {
                continue;
            }
            assert_eq!(
                parsed.is_ok(),
                validator.is_valid(&value),
                "{file}:{}: parser {:?}, schema {:?}",
                i + 1,
                parsed.err(),
                validator
                    .iter_errors(&value)
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
}

#[test]
fn compile_reports_every_bad_line_and_exits_1() {
    let out = run_in(
        &traffic_dir("cli"),
        &["compile", "typos.route", "-o", "-", "--color", "never"],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let input = std::fs::read_to_string(traffic_dir("cli").join("typos.jsonl")).unwrap();
    insta::assert_snapshot!(format!("{input}---\n{}", out.stderr));
}

#[test]
fn check_reports_bad_lines_in_the_recorded_file() {
    let out = run_in(
        &traffic_dir("cli"),
        &["check", "typos.route", "--format", "json"],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let diags: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let lines: Vec<String> = diags
        .iter()
        .filter(|d| d["code"] == "E0515")
        .map(|d| {
            // Located in the file, with the profile's declaration beside it.
            assert_eq!(d["file"], "typos.jsonl");
            assert_eq!(d["labels"][0]["file"], "typos.route");
            assert_eq!(d["labels"][0]["line"], 29);
            format!(
                "{}:{}: {}",
                d["line"],
                d["column"],
                d["message"].as_str().unwrap()
            )
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn sarif_locates_bad_lines_in_the_recorded_file() {
    let out = run_in(
        &traffic_dir("cli"),
        &["check", "typos.route", "--format", "sarif"],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let log: Value = serde_json::from_str(&out.stdout).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let bad: Vec<&Value> = results.iter().filter(|r| r["ruleId"] == "E0515").collect();
    assert_eq!(bad.len(), 9);
    for r in bad {
        let at = &r["locations"][0]["physicalLocation"];
        assert_eq!(at["artifactLocation"]["uri"], "typos.jsonl");
        let related = &r["relatedLocations"][0]["physicalLocation"];
        assert_eq!(related["artifactLocation"]["uri"], "typos.route");
        assert_eq!(related["region"]["startLine"], 29);
    }
}

#[test]
fn an_unreadable_file_exits_2_naming_it() {
    for cmd in ["check", "compile", "simulate"] {
        let out = run_in(&traffic_dir("cli"), &[cmd, "missing.route"], None);
        assert_eq!(out.code, 2, "{cmd}: {}", out.stderr);
        assert!(
            out.stderr.contains(
                "cannot read the recorded traffic `nowhere/gone.jsonl` of profile `gone`"
            ),
            "{cmd}: {}",
            out.stderr
        );
    }
}

#[test]
fn errors_stop_at_the_limit_with_a_note() {
    let dir = common::temp_dir("traffic-many");
    let policy = std::fs::read_to_string(traffic_dir("cli").join("unlabeled.route")).unwrap();
    std::fs::write(dir.join("p.route"), policy).unwrap();
    let line = "{\"signals\": {\"tsak\": 1}}\n";
    std::fs::write(dir.join("unlabeled.jsonl"), line.repeat(150)).unwrap();
    let out = run_in(&dir, &["compile", "p.route", "-o", "-"], None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("[E0515] Error:"))
        .collect();
    assert_eq!(lines.len(), routec_traffic::MAX_ERRORS + 1);
    assert_eq!(
        lines.last().copied(),
        Some("[E0515] Error: too many errors (100); the rest of the file was not checked")
    );
    assert!(
        out.stderr.contains("╭─[ unlabeled.jsonl:100:1 ]"),
        "{}",
        out.stderr
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_empty_file_is_an_error() {
    let out = run_in(
        &traffic_dir("cli"),
        &["compile", "empty.route", "-o", "-"],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(
            "[E0515] Error: the file has no records: a recorded profile needs at least one request\n"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("╭─[ empty.jsonl:1:1 ]"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_warns_about_slices_with_few_labeled_requests() {
    let out = run_in(
        &traffic_dir("compile"),
        &["check", "recorded_demo.route", "--color", "never"],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn an_unlabeled_file_is_compiled_and_simulated_from_its_requests() {
    let dir = traffic_dir("cli");
    let out = run_in(&dir, &["compile", "unlabeled.route", "-o", "-"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("W0512"), "{}", out.stderr);
    let table: Value = serde_json::from_str(&out.stdout).unwrap();
    let assumed = &table["assumed"];
    assert_eq!(assumed["traffic"], "sample");
    // 10 of the 40 requests are paid: the tier marginal is the file's.
    let tier = assumed["marginals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["cuts"].as_array().unwrap().is_empty())
        .unwrap();
    assert_eq!(tier["shares"], serde_json::json!([0.75, 0.25]));

    let sim = run_in(
        &dir,
        &[
            "simulate",
            "unlabeled.route",
            "--requests",
            "4000",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(sim.code, 0, "{}", sim.stderr);
    let report: Value = serde_json::from_str(&sim.stdout).unwrap();
    let text = report.to_string();
    assert!(text.contains("\"sample\""), "{text}");

    let test = run_in(&dir, &["test", "unlabeled.route"], None);
    assert_eq!(test.code, 0, "{}{}", test.stdout, test.stderr);
    assert!(test.stdout.contains("1 passed"), "{}", test.stdout);
}

#[test]
fn explain_shows_the_outcome_estimates_of_the_cell() {
    let out = run_in(
        &traffic_dir("compile"),
        &[
            "explain",
            "recorded_demo.route",
            "--request",
            r#"{"task": "code", "lang": "en"}"#,
            "--color",
            "never",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
    let json = run_in(
        &traffic_dir("compile"),
        &[
            "explain",
            "recorded_demo.route",
            "--request",
            r#"{"task": "code", "lang": "en"}"#,
            "--format",
            "json",
        ],
        None,
    );
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    let small = &v["recorded"]["quality"][0];
    assert_eq!(small["model"], "small");
    assert_eq!(small["outcomes"], 95);
    let (lo, est, hi) = (
        small["low"].as_f64().unwrap(),
        small["estimate"].as_f64().unwrap(),
        small["high"].as_f64().unwrap(),
    );
    assert!(lo < est && est < hi && est < small["declared"].as_f64().unwrap());
}

/// On a labeled recorded profile, the simulator samples the model the table
/// was compiled with (outcome estimates per cell, re-estimated latency and
/// prices): its figures agree with the table's predictions, and differ from
/// a simulation of the declared profiles.
#[test]
fn simulating_a_labeled_profile_agrees_with_the_compiled_prediction() {
    let dir = traffic_dir("compile");
    let source = std::fs::read_to_string(dir.join("recorded_demo.route")).unwrap();
    let parsed = routec_syntax::parse(&source);
    let policy = routec_check::check(&parsed.file).policy;
    let text = std::fs::read_to_string(dir.join("recorded_demo.jsonl")).unwrap();
    let bound = routec_traffic::bind(&policy, &routec_traffic::parse(&text).unwrap()).unwrap();
    let options = routec_opt::CompileOptions {
        traffic: Some("week".into()),
        compiler_version: "test".into(),
        slo_margin: None,
    };
    let compiled = routec_opt::compile_recorded(&policy, &source, &options, Some(&bound)).unwrap();
    let predicted = &compiled.table.assumed.as_ref().unwrap().predicted;
    let week = routec_check::ir::TrafficId(0);
    let run = |records: bool| {
        let mut run = if records {
            routec_sim::run_recorded(
                &policy,
                &compiled.table,
                week,
                &bound,
                200_000,
                1,
                &mut |_, _| {},
            )
        } else {
            // The same requests, but no outcomes: the declared model.
            let mut unlabeled = bound.clone();
            unlabeled
                .records
                .iter_mut()
                .for_each(|r| r.outcomes.iter_mut().for_each(|o| *o = None));
            routec_sim::run_recorded(
                &policy,
                &compiled.table,
                week,
                &unlabeled,
                200_000,
                1,
                &mut |_, _| {},
            )
        }
        .unwrap();
        run.report().metrics
    };
    let sim = run(true);
    assert!(
        (sim.quality - predicted.quality).abs() < 0.01,
        "simulated {} predicted {}",
        sim.quality,
        predicted.quality
    );
    let cost_ratio = sim.cost_per_1k_requests / predicted.cost_per_1k_requests;
    assert!((cost_ratio - 1.0).abs() < 0.05, "{cost_ratio}");
    let declared = run(false);
    assert!(
        declared.quality > sim.quality + 0.03,
        "the declared model ({}) should be far more optimistic about `small` on code than the outcomes ({})",
        declared.quality,
        sim.quality
    );
}
