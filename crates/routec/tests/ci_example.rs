//! The GitHub Actions example (`examples/ci/`): the workflow runs
//! `review.sh`, which holds every routec command; this test runs that same
//! script locally in a temporary git repository with a base commit and a
//! change commit, and checks what the workflow would upload and post: a
//! valid SARIF 2.1.0 log, the test report, the compiled tables and the
//! markdown diff. No network, no GitHub.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{BIN, git, manifest_dir, repo_root, sarif_validator, temp_dir};
use serde_json::Value as Json;

fn ci_dir() -> PathBuf {
    repo_root().join("examples/ci")
}

struct Run {
    code: i32,
    stderr: String,
}

/// Runs `ci/review.sh` in `dir` as the workflow does (its `env:` names).
fn review(dir: &Path, base: &str) -> Run {
    let out = Command::new("bash")
        .arg("ci/review.sh")
        .current_dir(dir)
        .env("ROUTEC", BIN)
        .env("BASE_REF", base)
        .env("OUT_DIR", "routec-review")
        .env_remove("POLICIES")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A repository laid out as the README says: the script in `ci/`, the
/// policies in `policies/`; `main` holds the base, `change` the pull
/// request.
fn repository(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    std::fs::create_dir_all(dir.join("ci")).unwrap();
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::copy(ci_dir().join("review.sh"), dir.join("ci/review.sh")).unwrap();
    std::fs::copy(
        repo_root().join("examples/support.route"),
        dir.join("policies/support.route"),
    )
    .unwrap();
    std::fs::copy(
        manifest_dir().join("tests/fixtures/diff/threshold/old.route"),
        dir.join("policies/helpdesk.route"),
    )
    .unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "base"]);
    git(&dir, &["checkout", "-q", "-b", "change"]);
    dir
}

#[test]
fn the_review_script_produces_what_the_workflow_uploads_and_posts() {
    let dir = repository("ci-example");
    // The change: a new threshold and route in the help desk, and an unused
    // slice (a warning, so the SARIF log has a result to show).
    let new =
        std::fs::read_to_string(manifest_dir().join("tests/fixtures/diff/threshold/new.route"))
            .unwrap()
            .replace(
                "slice paying = plan == pro\n",
                "slice paying = plan == pro\nslice unused = plan == free\n",
            );
    std::fs::write(dir.join("policies/helpdesk.route"), new).unwrap();
    git(&dir, &["commit", "-q", "-am", "route math to medium"]);

    let run = review(&dir, "main");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = dir.join("routec-review");

    // SARIF 2.1.0, valid against the official schema, with the warning.
    let sarif: Json =
        serde_json::from_str(&std::fs::read_to_string(out.join("routec.sarif")).unwrap()).unwrap();
    let validator = sarif_validator();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(
        results.iter().any(|r| r["level"] == "warning"
            && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .is_some_and(|u| u.ends_with("policies/helpdesk.route"))),
        "{results:?}"
    );

    // The policies' tests ran and passed.
    let tests = std::fs::read_to_string(out.join("test.txt")).unwrap();
    let last = tests.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{tests}");
    assert!(!last.starts_with("0 passed"), "{tests}");

    // One table per policy, each one a runtime loads.
    for name in ["support", "helpdesk"] {
        let bytes = std::fs::read(out.join(format!("tables/{name}.table.json"))).unwrap();
        let router = routec_runtime::Router::load(&bytes).unwrap();
        assert!(!router.table().rules.is_empty());
    }

    // The comment: the marker, the test summary, the diff of the changed
    // policy only (support.route did not change).
    let comment = std::fs::read_to_string(out.join("comment.md")).unwrap();
    assert!(
        comment.starts_with("<!-- routec-review -->\n## Routing policy review\n"),
        "{comment}"
    );
    assert!(
        comment.contains(&format!("`routec test`: {last}")),
        "{comment}"
    );
    assert!(
        comment.contains("### routec diff: `policies/helpdesk.route`"),
        "{comment}"
    );
    assert!(comment.contains("**11.34% of traffic changes plan, in 2 regions** (against `main:policies/helpdesk.route`, traffic `launch`)"), "{comment}");
    assert!(
        comment.contains("| metric | old | new | delta |"),
        "{comment}"
    );
    assert!(
        comment.contains("<details><summary>Changed regions (2, 11.34% of traffic)</summary>"),
        "{comment}"
    );
    assert!(
        comment
            .contains("| 10.00% | `task == math` | `small` | `medium` | `{\"task\":\"math\"}` |"),
        "{comment}"
    );
    assert!(!comment.contains("support.route"), "{comment}");
    // The markdown is exactly what `routec diff` prints.
    let direct = Command::new(BIN)
        .args([
            "diff",
            "--format",
            "markdown",
            "main:policies/helpdesk.route",
            "policies/helpdesk.route",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(comment.contains(&String::from_utf8(direct.stdout).unwrap()));
}

#[test]
fn errors_fail_the_review_after_every_report_is_written() {
    let dir = repository("ci-example-errors");
    let broken = std::fs::read_to_string(dir.join("policies/helpdesk.route"))
        .unwrap()
        .replace("=> medium", "=> mediun");
    std::fs::write(dir.join("policies/helpdesk.route"), broken).unwrap();
    git(&dir, &["commit", "-q", "-am", "typo"]);
    let run = review(&dir, "main");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let out = dir.join("routec-review");
    let sarif: Json =
        serde_json::from_str(&std::fs::read_to_string(out.join("routec.sarif")).unwrap()).unwrap();
    assert!(sarif_validator().is_valid(&sarif));
    assert!(
        sarif["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["level"] == "error")
    );
    let comment = std::fs::read_to_string(out.join("comment.md")).unwrap();
    assert!(
        comment.contains("`routec diff` could not compare `policies/helpdesk.route` with `main`"),
        "{comment}"
    );
    assert!(comment.contains("mediun"), "{comment}");
    // The unchanged policy still compiled.
    assert!(out.join("tables/support.table.json").exists());
}

/// The workflow runs the script with the environment the test sets, uploads
/// the SARIF file the script writes and posts the comment it writes.
#[test]
fn the_workflow_runs_the_script_the_test_runs() {
    let yml = std::fs::read_to_string(ci_dir().join("route-review.yml")).unwrap();
    for needle in [
        "on:\n  pull_request:",
        "fetch-depth: 0",
        "run: ./ci/review.sh",
        "ROUTEC: routec",
        "BASE_REF: origin/${{ github.base_ref }}",
        "OUT_DIR: routec-review",
        "uses: github/codeql-action/upload-sarif@v3",
        "sarif_file: routec-review/routec.sarif",
        "security-events: write",
        "pull-requests: write",
        "uses: actions/github-script@v7",
        "readFileSync('routec-review/comment.md'",
        "const marker = '<!-- routec-review -->';",
        "updateComment",
    ] {
        assert!(yml.contains(needle), "route-review.yml lacks `{needle}`");
    }
    assert!(!yml.contains('\t'), "YAML does not allow tabs");
    let script = std::fs::read_to_string(ci_dir().join("review.sh")).unwrap();
    for needle in [
        "\"$ROUTEC\" check --format sarif",
        "\"$ROUTEC\" test",
        "\"$ROUTEC\" compile",
        "\"$ROUTEC\" diff --format markdown \"$BASE_REF:$f\" \"$f\"",
        "echo \"<!-- routec-review -->\"",
    ] {
        assert!(script.contains(needle), "review.sh lacks `{needle}`");
    }
    let readme = std::fs::read_to_string(ci_dir().join("README.md")).unwrap();
    assert!(readme.contains(".github/workflows/route-review.yml"));
    assert!(readme.contains("ci/review.sh"));
}
