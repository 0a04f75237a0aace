//! `routec diff`: fixture pairs (`tests/fixtures/diff/NAME/{old,new}.route`,
//! optional extra arguments in `args`) snapshotted in all three formats,
//! every listed example request checked with `routec explain` on both
//! sides, the git-revision form in a temporary repository, and the errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{Output, git, manifest_dir, repo_root, run_in, temp_dir};
use serde_json::Value as Json;

fn fixtures() -> PathBuf {
    manifest_dir().join("tests/fixtures/diff")
}

fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("old.route").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A line diff of the two sources (longest common subsequence), so that
/// each snapshot shows its input next to its output.
fn text_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("-{:>4}| {}\n", i + 1, a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{:>4}| {}\n", j + 1, b[j]));
            j += 1;
        }
    }
    out
}

fn args_of(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("args"))
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn run_diff(dir: &Path, format: &str) -> (Vec<String>, Output) {
    let mut args: Vec<String> = vec![
        "diff".into(),
        "old.route".into(),
        "new.route".into(),
        "--format".into(),
        format.into(),
    ];
    args.extend(args_of(dir));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_in(dir, &refs, None);
    (args, out)
}

#[test]
fn fixtures_in_every_format() {
    let names = fixture_names();
    assert!(names.len() >= 4, "{names:?}");
    for name in names {
        let dir = fixtures().join(&name);
        let old = std::fs::read_to_string(dir.join("old.route")).unwrap();
        let new = std::fs::read_to_string(dir.join("new.route")).unwrap();
        let input = text_diff(&old, &new);
        for format in ["human", "json", "markdown"] {
            let (args, out) = run_diff(&dir, format);
            assert_eq!(out.code, 0, "{name} {format}: {}", out.stderr);
            assert_eq!(out.stderr, "", "{name} {format}");
            insta::assert_snapshot!(
                format!("diff_{name}_{format}"),
                format!(
                    "old.route -> new.route (text):\n{input}\n$ routec {}\n{}",
                    args.join(" "),
                    out.stdout
                )
            );
        }
    }
}

/// The signal names a policy declares (built-ins included).
fn signals(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let parsed = routec_syntax::parse(&text);
    routec_check::check(&parsed.file)
        .policy
        .signals
        .iter()
        .map(|s| s.name.clone())
        .collect()
}

/// What `routec explain` says a request gets: its plan and split shares.
fn explain(dir: &Path, file: &str, request: &Json) -> Json {
    let known = signals(&dir.join(file));
    let filtered: serde_json::Map<String, Json> = request
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| known.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let text = Json::Object(filtered).to_string();
    let out = run_in(
        dir,
        &["explain", file, "--request", &text, "--format", "json"],
        None,
    );
    assert_eq!(out.code, 0, "{file} {text}: {}", out.stderr);
    let j: Json = serde_json::from_str(&out.stdout).unwrap();
    serde_json::json!({"plan": j["plan"], "splits": j["splits"]})
}

#[test]
fn every_example_request_routes_differently_under_explain() {
    for name in fixture_names() {
        let dir = fixtures().join(&name);
        let (_, out) = run_diff(&dir, "json");
        let report: Json = serde_json::from_str(&out.stdout).unwrap();
        let regions = report["regions"].as_array().unwrap();
        assert_eq!(report["behavior_changed"], !regions.is_empty());
        // The per-slice and per-model breakdown reproduced each table's
        // overall figures (recorded profiles included).
        assert!(
            !report["notes"].to_string().contains("not available"),
            "{name}: {}",
            report["notes"]
        );
        let sum: f64 = regions.iter().map(|r| r["share"].as_f64().unwrap()).sum();
        assert!(
            (sum - report["changed_share"].as_f64().unwrap()).abs() < 1e-5,
            "{name}"
        );
        // The largest regions (explain compiles the policy each time).
        for r in regions.iter().take(4) {
            let example = &r["example"];
            let old = explain(&dir, "old.route", example);
            let new = explain(&dir, "new.route", example);
            assert_ne!(old, new, "{name}: `{}` routes the same", r["condition"]);
        }
    }
}

#[test]
fn equivalent_policies_report_exactly_no_behavioral_change() {
    let dir = fixtures().join("equivalent");
    let (_, out) = run_diff(&dir, "human");
    assert_eq!(out.stdout.lines().next(), Some("no behavioral change"));
    let (_, out) = run_diff(&dir, "json");
    let report: Json = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["behavior_changed"], false);
    assert_eq!(report["regions"], serde_json::json!([]));
    // A policy against itself, for every example.
    for entry in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "route") {
            continue;
        }
        let p = path.to_str().unwrap();
        let out = run_in(&repo_root(), &["diff", p, p], None);
        assert_eq!(out.code, 0, "{p}: {}", out.stderr);
        assert_eq!(
            out.stdout.lines().next(),
            Some("no behavioral change"),
            "{p}"
        );
    }
}

#[test]
fn git_revisions_are_read_from_the_repository() {
    let dir = temp_dir("diff-git");
    let fixture = fixtures().join("threshold");
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let policy = dir.join("policies/helpdesk.route");
    std::fs::copy(fixture.join("old.route"), &policy).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "base"]);
    std::fs::copy(fixture.join("new.route"), &policy).unwrap();

    // The revision form against the working file equals the two files.
    let out = run_in(
        &dir,
        &[
            "diff",
            "main:policies/helpdesk.route",
            "policies/helpdesk.route",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let by_rev: Json = serde_json::from_str(&out.stdout).unwrap();
    let files = run_in(
        &fixture,
        &["diff", "old.route", "new.route", "--format", "json"],
        None,
    );
    let by_file: Json = serde_json::from_str(&files.stdout).unwrap();
    assert_eq!(by_rev["regions"], by_file["regions"]);
    assert_eq!(by_rev["metrics"], by_file["metrics"]);
    assert_eq!(by_rev["old"]["source"], "main:policies/helpdesk.route");

    // Both sides from revisions, and a path relative to a subdirectory.
    git(&dir, &["commit", "-q", "-am", "change"]);
    let out = run_in(
        &dir.join("policies"),
        &["diff", "HEAD~1:./helpdesk.route", "HEAD:./helpdesk.route"],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("11.34% of traffic changes plan"),
        "{}",
        out.stdout
    );

    // Errors name what is wrong, with exit code 2.
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "diff",
                "nope:policies/helpdesk.route",
                "policies/helpdesk.route",
            ],
            "routec: cannot read `nope:policies/helpdesk.route`: no file of that name, and `nope` is not a git revision\n",
        ),
        (
            &[
                "diff",
                "main:policies/missing.route",
                "policies/helpdesk.route",
            ],
            "routec: cannot read `main:policies/missing.route`: `policies/missing.route` does not exist in revision `main`\n",
        ),
        (
            &["diff", "policies/helpdesk.route", "policies/absent.route"],
            "routec: cannot read `policies/absent.route`: No such file or directory\n",
        ),
    ];
    for (args, stderr) in cases {
        let out = run_in(&dir, args, None);
        assert_eq!(out.code, 2, "{args:?}");
        assert_eq!(out.stderr, stderr, "{args:?}");
        assert_eq!(out.stdout, "");
    }
    // Outside any repository.
    let outside = temp_dir("diff-norepo");
    std::fs::copy(fixture.join("old.route"), outside.join("a.route")).unwrap();
    let out = run_in(&outside, &["diff", "main:a.route", "a.route"], None);
    if out.code == 2 && out.stderr.contains("not in a git repository") {
        assert_eq!(
            out.stderr,
            "routec: cannot read `main:a.route`: no file of that name, and the current directory is not in a git repository\n"
        );
    }
}

#[test]
fn errors_in_either_side_exit_1_with_their_diagnostics() {
    let dir = temp_dir("diff-errors");
    let fixture = fixtures().join("threshold");
    std::fs::copy(fixture.join("old.route"), dir.join("old.route")).unwrap();
    let broken = std::fs::read_to_string(fixture.join("new.route"))
        .unwrap()
        .replace("=> medium", "=> mediun");
    std::fs::write(dir.join("new.route"), broken).unwrap();
    let out = run_in(
        &dir,
        &["diff", "old.route", "new.route", "--color", "never"],
        None,
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("new.route"), "{}", out.stderr);
    assert!(out.stderr.contains("mediun"), "{}", out.stderr);

    // An unknown traffic profile is a usage error.
    let out = run_in(
        &fixture,
        &["diff", "old.route", "new.route", "--traffic", "lunch"],
        None,
    );
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "routec: new.route: unknown traffic profile `lunch`; did you mean `launch`?\n"
    );
}

#[test]
fn help_has_examples_and_exit_codes() {
    let out = run_in(&fixtures(), &["diff", "--help"], None);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout
            .contains("routec diff main:examples/support.route examples/support.route")
    );
    assert!(out.stdout.contains("Exit codes:"));
}

#[test]
fn colours_only_when_asked_or_on_a_terminal() {
    let dir = fixtures().join("threshold");
    let piped = run_in(&dir, &["diff", "old.route", "new.route"], None);
    assert!(!piped.stdout.contains('\x1b'), "{}", piped.stdout);
    let coloured = run_in(
        &dir,
        &["--color", "always", "diff", "old.route", "new.route"],
        None,
    );
    assert!(
        coloured
            .stdout
            .starts_with("\x1b[1m11.34% of traffic changes plan")
    );
    // Cost went up (red), quality went up (green).
    assert!(coloured.stdout.contains("\x1b[31m  cost per 1k requests"));
    assert!(coloured.stdout.contains("\x1b[32m  quality"));
    // JSON and markdown never carry colours.
    for format in ["json", "markdown"] {
        let out = run_in(
            &dir,
            &[
                "--color",
                "always",
                "diff",
                "old.route",
                "new.route",
                "--format",
                format,
            ],
            None,
        );
        assert!(!out.stdout.contains('\x1b'), "{format}");
    }
}
