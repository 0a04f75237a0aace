//! End to end with Emacs and eglot (headless, `--batch`): the Emacs setup
//! of `editors/README.md`, copied verbatim into an init file, opens a
//! broken policy, which starts `route-mode` and, through `eglot-ensure`,
//! the built `routec lsp`; the probe (`tests/emacs/probe.el`) waits for the
//! diagnostics to reach flymake, asks for a hover and completions, shuts
//! the server down and writes what it saw to a JSON file; this test checks
//! it. Debian 12's Emacs 28 with eglot 1.9 declares neither markdown hovers
//! (no markdown-mode) nor snippets (no yasnippet): the server must answer
//! in plain text.
//!
//! Needs `emacs` with eglot (built in from Emacs 29; Debian's `elpa-eglot`
//! before): `scripts/setup-test-deps` installs them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A hung Emacs fails the test after this long instead of blocking CI (the
/// probe's own waits are shorter).
const HANG_LIMIT: Duration = Duration::from_secs(180);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn emacs_version() -> String {
    match Command::new("emacs").arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned(),
        _ => panic!(
            "`emacs` is not installed (or does not run): this end-to-end test needs Emacs with \
             eglot. Run `scripts/setup-test-deps` (it installs Debian's `emacs-nox` and \
             `elpa-eglot`), then run the tests again"
        ),
    }
}

/// The ```elisp block of the Emacs section of editors/README.md.
fn readme_setup() -> String {
    let readme = std::fs::read_to_string(repo().join("editors/README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Emacs"))
        .expect("no `## Emacs` section in editors/README.md");
    let start = section
        .find("```elisp\n")
        .expect("no elisp block in the Emacs section")
        + "```elisp\n".len();
    let len = section[start..].find("```").unwrap();
    section[start..start + len].to_owned()
}

/// The 0-based line and column of `needle` in `text` (ASCII lines).
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).unwrap();
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    (line, col)
}

fn run_emacs(scratch: &Path, policy: &Path, hover: (usize, usize), empty_line: usize) -> Value {
    // The README's setup runs `routec`: the workspace build first on PATH.
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("routec");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_routec"), &link).unwrap();
    let init = scratch.join("init.el");
    std::fs::write(&init, readme_setup()).unwrap();
    let out = scratch.join("report.json");
    let _ = std::fs::remove_file(&out);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("emacs")
        .arg("--batch")
        // What an interactive Emacs does before reading the init file (27
        // and later): activate the installed packages (eglot on Emacs 28).
        .args(["--eval", "(package-activate-all)"])
        .arg("-l")
        .arg(&init)
        .arg("-l")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/emacs/probe.el"))
        .env("PATH", path)
        // Keep Emacs's state out of the home directory.
        .env("HOME", scratch)
        .env("ROUTEC_POLICY", policy)
        .env("ROUTEC_OUT", &out)
        .env("ROUTEC_HOVER_LINE", hover.0.to_string())
        .env("ROUTEC_HOVER_CHARACTER", hover.1.to_string())
        .env("ROUTEC_EMPTY_LINE", empty_line.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start emacs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("emacs did not finish within {HANG_LIMIT:?}; it was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(status.success(), "emacs exited with {status}: {stderr}");
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("emacs wrote no report ({e}); stderr: {stderr}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn emacs_eglot_with_the_readme_setup_gets_diagnostics_plain_hovers_and_no_snippets() {
    let version = emacs_version();
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("emacs-e2e");
    std::fs::create_dir_all(&scratch).unwrap();
    // A policy with one mistake: a misspelt fallback model.
    let source = std::fs::read_to_string(repo().join("examples/support.route")).unwrap();
    let broken = source.replacen("  fallback medium\n", "  fallback medum\n", 1);
    assert_ne!(broken, source);
    let policy = scratch.join("broken.route");
    std::fs::write(&policy, &broken).unwrap();
    let (model_line, _) = position_of(&broken, "model small");
    let (empty_line, _) = position_of(&broken, "\n\nslice");
    let report = run_emacs(
        &scratch,
        &policy,
        (model_line, "model s".len()),
        empty_line + 1,
    );
    let context = format!("{version}; report: {report:#}");
    assert!(
        report.get("failure").is_none(),
        "the probe failed: {context}"
    );
    assert_eq!(report["major_mode"], "route-mode", "{context}");

    // The one mistake, where it is, as flymake shows it.
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{context}");
    let d = &diagnostics[0];
    let (line, col) = position_of(&broken, "medum");
    assert_eq!(d["line"].as_u64(), Some(line as u64 + 1), "{context}");
    assert_eq!(d["column"].as_u64(), Some(col as u64), "{context}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("unknown model `medum`"),
        "{context}"
    );
    assert!(d["type"].as_str().unwrap().contains("error"), "{context}");

    // eglot without markdown-mode takes plain text only.
    assert_eq!(report["hover_kind"], "plaintext", "{context}");
    let hover = report["hover_value"].as_str().unwrap();
    assert!(hover.starts_with("model small\n"), "{context}");
    assert!(!hover.contains("```"), "{context}");

    // eglot without yasnippet takes no snippets: the templates come as
    // plain text.
    let completions = report["completions"].as_array().unwrap();
    let templates: Vec<&Value> = completions.iter().filter(|c| c["kind"] == 15).collect();
    assert!(templates.len() >= 10, "{context}");
    for c in &templates {
        assert_eq!(c["format"], 1, "{context}");
        assert!(!c["text"].as_str().unwrap().contains('$'), "{context}");
    }
    let model = templates.iter().find(|c| c["label"] == "model").unwrap();
    assert_eq!(
        model["text"], "model name {\n  provider openai\n\n}",
        "{context}"
    );

    // `shutdown` then `exit`, as `eglot-shutdown` sends them: status 0.
    assert_eq!(report["server_exit"], 0, "{context}");
}
