//! End to end with a real editor: Neovim's built-in LSP client (headless,
//! no configuration, no plugins) starts the built `routec lsp`, opens a
//! broken policy, waits for its diagnostics and asks for a hover. The Lua
//! script (`tests/neovim/client.lua`) writes what Neovim received to a JSON
//! file; this test checks it.
//!
//! Needs `nvim` (0.7 or later): `scripts/setup-test-deps` installs it.

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

/// A hung Neovim fails the test after this long instead of blocking CI
/// (the script's own waits are shorter).
const HANG_LIMIT: Duration = Duration::from_secs(180);

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/neovim")
}

fn nvim_version() -> String {
    match Command::new("nvim").arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned(),
        _ => panic!(
            "`nvim` is not installed (or does not run): this end-to-end test needs Neovim 0.7 or \
             later. Run `scripts/setup-test-deps` (it installs Debian's `neovim`), then run the \
             tests again"
        ),
    }
}

/// Runs the Lua client against `policy`, hovering at the 0-based LSP
/// position `hover`; returns the report it wrote.
fn run_neovim(policy: &Path, hover: (usize, usize), scratch: &Path) -> Value {
    let out = scratch.join("report.json");
    let _ = std::fs::remove_file(&out);
    let mut child = Command::new("nvim")
        .args(["--headless", "--clean", "-u", "NONE", "-i", "NONE", "-n"])
        .arg("-c")
        .arg(format!("luafile {}", dir().join("client.lua").display()))
        .env("ROUTEC_BIN", env!("CARGO_BIN_EXE_routec"))
        .env("ROUTEC_POLICY", policy)
        .env("ROUTEC_OUT", &out)
        .env("ROUTEC_HOVER_LINE", hover.0.to_string())
        .env("ROUTEC_HOVER_CHARACTER", hover.1.to_string())
        // Keep Neovim's state, cache and LSP log out of the home directory.
        .env("XDG_STATE_HOME", scratch)
        .env("XDG_CACHE_HOME", scratch)
        .env("XDG_DATA_HOME", scratch)
        .env("XDG_CONFIG_HOME", scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start nvim");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nvim did not finish within {HANG_LIMIT:?}; it was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(status.success(), "nvim exited with {status}: {stderr}");
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("nvim wrote no report ({e}); stderr: {stderr}"));
    serde_json::from_str(&text).unwrap()
}

/// The 0-based line and column of `needle` in `text` (ASCII lines).
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).unwrap();
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    (line, col)
}

#[test]
fn neovim_receives_the_diagnostics_and_a_hover() {
    let version = nvim_version();
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("neovim-e2e");
    std::fs::create_dir_all(&scratch).unwrap();
    let policy = dir().join("broken.route");
    let text = std::fs::read_to_string(&policy).unwrap();
    let (line, col) = position_of(&text, "otherwise => fast");
    let report = run_neovim(&policy, (line, col + "otherwise => f".len()), &scratch);
    let context = format!("{version}; report: {report:#}");

    assert!(
        report.get("failure").is_none(),
        "the Lua client failed: {context}"
    );

    // The server published with the document's version, as Neovim sent it.
    let published = report["published"].as_array().unwrap();
    assert!(!published.is_empty(), "{context}");
    for p in published {
        assert!(
            p["version"].is_i64(),
            "published without a version: {context}"
        );
        assert!(
            p["uri"].as_str().unwrap().ends_with("/broken.route"),
            "{context}"
        );
    }

    // Both mistakes, where they are, as Neovim shows them.
    let diagnostics = report["diagnostics"].as_array().unwrap();
    let find = |message: &str| {
        diagnostics
            .iter()
            .find(|d| d["message"].as_str().unwrap().starts_with(message))
            .unwrap_or_else(|| panic!("no diagnostic `{message}`: {context}"))
    };
    let typo = find("unknown model `fsat`");
    let (typo_line, typo_col) = position_of(&text, "fsat");
    assert_eq!(
        (typo["lnum"].as_u64(), typo["col"].as_u64()),
        (Some(typo_line as u64), Some(typo_col as u64)),
        "{context}"
    );
    assert_eq!(
        typo["end_col"].as_u64(),
        Some(typo_col as u64 + 4),
        "{context}"
    );
    assert_eq!(typo["severity"], 1, "an error: {context}");
    assert_eq!(typo["source"], "routec", "{context}");
    assert!(
        typo["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `fast`?"),
        "{context}"
    );
    let weights = find("objective weights sum to 1.2, not 1");
    assert_eq!(
        weights["lnum"].as_u64(),
        Some(position_of(&text, "objective weighted").0 as u64),
        "{context}"
    );
    assert_eq!(diagnostics.len(), 2, "{context}");

    // The hover on `fast` describes the model, in markdown.
    let hover = &report["hover"];
    assert!(report["hover_error"].is_null(), "{context}");
    assert_eq!(hover["contents"]["kind"], "markdown", "{context}");
    let markdown = hover["contents"]["value"].as_str().unwrap();
    assert!(markdown.contains("model fast"), "{context}");
    assert!(
        markdown.contains("A fast, cheap model."),
        "the doc comment: {context}"
    );

    // And the server shut down cleanly when Neovim stopped it.
    assert_eq!(report["server_exit"]["code"], 0, "{context}");
}
