//! End-to-end tests of the `routec` binary: exit codes, report formats,
//! `fmt` in place and `--check`, and the examples.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::Value;

mod common;

use common::{Output, manifest_dir, repo_root, run_in};

fn run(args: &[&str]) -> Output {
    let out = run_in(&manifest_dir().join("tests/fixtures"), args, None);
    assert!(
        std::str::from_utf8(&out.bytes).is_ok(),
        "stdout is not UTF-8"
    );
    out
}

fn temp_dir() -> PathBuf {
    common::temp_dir("cli")
}

/// Every policy under `examples/`, at any depth: each must check clean on
/// a fresh clone (what CI and the README promise).
fn examples() -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "route") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo_root().join("examples"), &mut files);
    files.sort();
    assert!(files.len() >= 5, "expected the examples, found {files:?}");
    files
}

// ---------------------------------------------------------------- check

#[test]
fn check_clean_file_exits_0_and_prints_nothing() {
    // Checks and compiles without a warning (`examples/support.route` has
    // one: its `timeout 30s` cuts 2% of `large`'s answers).
    let out = run(&["check", "check/clean.route"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "");
}

#[test]
fn check_errors_exit_1_with_a_summary() {
    let out = run(&["check", "broken/syntax_errors.route"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .ends_with("error: 3 errors in broken/syntax_errors.route\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains('\x1b'), "no colour when piped");
}

#[test]
fn check_warnings_only_exits_0() {
    let out = run(&["check", "warnings.route"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("[W0101] Warning: model `tiny` is never used")
    );
    assert!(
        out.stdout
            .ends_with("warning: 1 warning in warnings.route\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_missing_file_exits_2_naming_the_path() {
    let out = run(&["check", "nope.route"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "routec: cannot read `nope.route`: No such file or directory\n"
    );
}

#[test]
fn check_missing_file_among_others_still_exits_2() {
    let out = run(&["check", "broken/syntax_errors.route", "nope.route"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("3 errors"),
        "other files are still checked"
    );
}

#[test]
fn unreadable_inputs_exit_2() {
    let dir = temp_dir();
    std::fs::write(
        dir.join("latin1.route"),
        b"policy p { owner \"caf\xe9\" }\n",
    )
    .unwrap();
    let out = run_in(&dir, &["check", "latin1.route"], None);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "routec: cannot read `latin1.route`: the file is not valid UTF-8\n"
    );

    let big = vec![b'\n'; routec_syntax::MAX_SOURCE_BYTES + 1];
    std::fs::write(dir.join("big.route"), big).unwrap();
    let out = run_in(&dir, &["check", "big.route"], None);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("routec: cannot read `big.route`: the file is larger"),
        "{}",
        out.stderr
    );

    let out = run_in(&dir, &["fmt", "."], None);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("routec: cannot read `.`: "),
        "{}",
        out.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["check"][..],
        &["frobnicate", "x.route"],
        &["check", "--format", "xml", "x.route"],
        &["fmt"],
        &[],
    ] {
        let out = run(args);
        assert_eq!(out.code, 2, "routec {args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn help_explains_exit_codes_and_examples() {
    let out = run(&["--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("Exit codes:"));
    for command in ["check", "fmt"] {
        let out = run(&[command, "--help"]);
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("Examples:"), "{command}");
        assert!(out.stdout.contains("Exit codes:"), "{command}");
    }
}

#[test]
fn check_reads_stdin() {
    let out = run_in(
        &temp_dir(),
        &["check", "-"],
        Some("policy p {\n  baseline\n}\n"),
    );
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("<stdin>:2:11"), "{}", out.stdout);
}

// ---------------------------------------------------------------- json

#[test]
fn json_is_one_flat_array_with_1_based_positions() {
    let out = run(&[
        "check",
        "--format",
        "json",
        "broken/unicode_column.route",
        "broken/misspelled_keyword.route",
    ]);
    assert_eq!(out.code, 1);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    let all = json.as_array().unwrap();
    assert_eq!(all.len(), 2);

    // `?` follows `  owner "équipe ünïcode" `: 25 characters, 28 bytes.
    let d = &all[0];
    assert_eq!(d["file"], "broken/unicode_column.route");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "E0003");
    assert_eq!(d["message"], "unknown character `?`");
    assert_eq!(d["line"], 2);
    assert_eq!(d["column"], 26);
    assert_eq!(d["end_line"], 2);
    assert_eq!(d["end_column"], 27);
    assert!(d.get("help").is_none(), "absent fields are left out");

    let d = &all[1];
    assert_eq!(d["file"], "broken/misspelled_keyword.route");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(2), Some(3))
    );
    assert!(d["help"].as_str().unwrap().contains("owner"));
    let fix = &d["suggestions"][0];
    assert_eq!(fix["replacement"], "owner");
    assert_eq!(
        (fix["line"].as_u64(), fix["column"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(fix["end_column"], 7);
}

#[test]
fn json_of_clean_files_is_an_empty_array() {
    let out = run(&["check", "--format", "json", "check/clean.route"]);
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout.trim(), "[]");
}

// ---------------------------------------------------------------- sarif

fn sarif_validator() -> jsonschema::Validator {
    assert_eq!(
        common::sarif_schema()["$id"],
        "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"
    );
    common::sarif_validator()
}

#[test]
fn sarif_is_valid_against_the_official_schema() {
    let validator = sarif_validator();
    let out = run(&[
        "check",
        "--format",
        "sarif",
        "broken/syntax_errors.route",
        "broken/unicode_column.route",
        "broken/misspelled_keyword.route",
        "broken/unterminated_string.route",
        "warnings.route",
    ]);
    assert_eq!(out.code, 1);
    let log: Value = serde_json::from_str(&out.stdout).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "invalid SARIF:\n{}", errors.join("\n"));

    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "routec");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert!(results.len() >= 6);
    for r in results {
        let rule = r["ruleId"].as_str().unwrap();
        assert!(rules.contains(&rule), "{rule} has a rule");
        assert_eq!(rules[r["ruleIndex"].as_u64().unwrap() as usize], rule);
        assert!(["error", "warning"].contains(&r["level"].as_str().unwrap()));
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
        assert!(region["startColumn"].as_u64().unwrap() >= 1);
    }
    let unicode = results.iter().find(|r| r["ruleId"] == "E0003").unwrap();
    let location = &unicode["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "broken/unicode_column.route"
    );
    assert_eq!(location["region"]["startColumn"], 26);
}

#[test]
fn sarif_of_clean_files_is_valid_and_empty() {
    let out = run(&["check", "--format", "sarif", "check/clean.route"]);
    assert_eq!(out.code, 0);
    let log: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(sarif_validator().is_valid(&log));
    assert_eq!(log["runs"][0]["results"].as_array().unwrap().len(), 0);
}

#[test]
fn sarif_uris_are_percent_encoded() {
    let dir = temp_dir();
    std::fs::write(dir.join("my policy.route"), "policy p {\n  baseline\n}\n").unwrap();
    let out = run_in(
        &dir,
        &["check", "--format", "sarif", "my policy.route"],
        None,
    );
    let log: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(sarif_validator().is_valid(&log));
    assert_eq!(
        log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "my%20policy.route"
    );
}

// ---------------------------------------------------------------- fmt

const MESSY: &str = "policy   p{owner \"x\"\nbaseline   large}\n\n\n\nroute {when has_images=>large // images\notherwise=>small}\n";
const TIDY: &str = "policy p {\n  owner \"x\"\n  baseline large\n}\n\nroute {\n  when has_images => large // images\n  otherwise => small\n}\n";

#[test]
fn fmt_rewrites_in_place() {
    let dir = temp_dir();
    std::fs::write(dir.join("a.route"), MESSY).unwrap();
    std::fs::write(dir.join("b.route"), TIDY).unwrap();
    let out = run_in(&dir, &["fmt", "a.route", "b.route"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(std::fs::read_to_string(dir.join("a.route")).unwrap(), TIDY);
    assert_eq!(std::fs::read_to_string(dir.join("b.route")).unwrap(), TIDY);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn fmt_check_lists_unformatted_files_and_writes_nothing() {
    let dir = temp_dir();
    std::fs::write(dir.join("a.route"), MESSY).unwrap();
    std::fs::write(dir.join("b.route"), TIDY).unwrap();
    let out = run_in(&dir, &["fmt", "--check", "a.route", "b.route"], None);
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "a.route\n");
    assert_eq!(std::fs::read_to_string(dir.join("a.route")).unwrap(), MESSY);

    let out = run_in(&dir, &["fmt", "--check", "b.route"], None);
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, "");
}

#[test]
fn fmt_refuses_files_with_syntax_errors() {
    let dir = temp_dir();
    let broken = "policy   p {\n  baseline\n}\n";
    std::fs::write(dir.join("broken.route"), broken).unwrap();
    let out = run_in(&dir, &["fmt", "broken.route"], None);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("expected name"), "{}", out.stderr);
    assert!(out.stderr.contains("not formatting `broken.route`"));
    assert_eq!(
        std::fs::read_to_string(dir.join("broken.route")).unwrap(),
        broken
    );

    let out = run_in(&dir, &["fmt", "--check", "broken.route"], None);
    assert_eq!(out.code, 1);
}

#[test]
fn fmt_missing_file_exits_2() {
    let out = run_in(&temp_dir(), &["fmt", "gone.route"], None);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "routec: cannot read `gone.route`: No such file or directory\n"
    );
}

#[test]
fn fmt_stdin_to_stdout() {
    let out = run_in(&temp_dir(), &["fmt", "-"], Some(MESSY));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, TIDY);

    let out = run_in(&temp_dir(), &["fmt", "--check", "-"], Some(MESSY));
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "<stdin>\n");
}

#[test]
fn fmt_is_idempotent_on_every_example() {
    for path in examples() {
        let source = std::fs::read_to_string(&path).unwrap();
        let once = run_in(&temp_dir(), &["fmt", "-"], Some(&source));
        assert_eq!(once.code, 0, "{}: {}", path.display(), once.stderr);
        let twice = run_in(&temp_dir(), &["fmt", "-"], Some(&once.stdout));
        assert_eq!(once.stdout, twice.stdout, "{}", path.display());
    }
}

// ---------------------------------------------------------------- examples

#[test]
fn every_example_checks_clean_and_is_formatted() {
    for path in examples() {
        let path = path.to_str().unwrap();
        let out = run(&["check", path]);
        assert_eq!(out.code, 0, "{path}:\n{}{}", out.stdout, out.stderr);
        assert!(!out.stdout.contains("error"), "{path}:\n{}", out.stdout);
        let out = run(&["fmt", "--check", path]);
        assert_eq!(out.code, 0, "{path} is not formatted:\n{}", out.stderr);
    }
}

// ---------------------------------------------------------------- colour and files

#[test]
fn colour_is_opt_in_when_piped() {
    let out = run(&["--color", "always", "check", "broken/unicode_column.route"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains('\x1b'));
    let out = run(&["--color", "never", "check", "broken/unicode_column.route"]);
    assert!(!out.stdout.contains('\x1b'));
}

#[cfg(unix)]
#[test]
fn fmt_keeps_permissions_and_follows_symlinks() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let dir = temp_dir();
    let real = dir.join("real.route");
    std::fs::write(&real, MESSY).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    symlink(&real, dir.join("link.route")).unwrap();
    let out = run_in(&dir, &["fmt", "link.route"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        std::fs::symlink_metadata(dir.join("link.route"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), TIDY);
    let mode = std::fs::metadata(&real).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
}
