//! `routec check` compiles the policies that check and reports the
//! compiler's diagnostics (SLOs no routing can meet, timeouts that cut
//! answers); `--no-compile` stops after the checker. Snapshots of every
//! file in `tests/fixtures/check/`: the source, then the report.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Output, manifest_dir, run_in};

fn run(args: &[&str]) -> Output {
    run_in(&manifest_dir().join("tests/fixtures/check"), args, None)
}

#[test]
fn check_reports_the_compilers_diagnostics() {
    insta::glob!("fixtures/check", "*.route", |path| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(path).unwrap();
        let args = ["check", "--color", "never", name.as_str()];
        let out = run(&args);
        insta::assert_snapshot!(format!(
            "--- {name} ---\n{source}\n$ routec {}\nexit {}\n{}",
            args.join(" "),
            out.code,
            out.stdout
        ));
    });
}

#[test]
fn an_unmet_slo_is_an_error() {
    let out = run(&["check", "--color", "never", "infeasible.route"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("[E0510]"), "{}", out.stdout);
}

#[test]
fn no_compile_stops_after_the_checker() {
    let out = run(&["check", "--no-compile", "infeasible.route", "timeout.route"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "");
}

#[test]
fn check_reports_the_compilers_warnings_located_in_json_and_sarif() {
    let out = run(&["check", "--format", "json", "timeout.route"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let all = json.as_array().unwrap();
    assert_eq!(all.len(), 1, "{json:#}");
    let d = &all[0];
    assert_eq!(d["code"], "W0601");
    assert_eq!(d["severity"], "warning");
    assert_eq!(d["line"], 15, "{d:#}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("cuts 5.14% of `m`'s answers"),
        "{d:#}"
    );
    let sarif = run(&["check", "--format", "sarif", "timeout.route"]);
    assert_eq!(sarif.code, 0);
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    assert_eq!(log["runs"][0]["results"][0]["ruleId"], "W0601");
}

#[test]
fn check_help_says_it_compiles() {
    let out = run(&["check", "--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("--no-compile"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("compiled for its first traffic profile"),
        "{}",
        out.stdout
    );
}
