//! The report of `routec test`: cargo-test-like lines per file, then the
//! failures and the counts; or one JSON document.

use routec_driver::tests::TestOutcome;
use serde::Serialize;

/// The JSON report of `routec test`.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    pub tests: &'a [TestOutcome],
    pub passed: usize,
    pub failed: usize,
    /// Files that could not be tested (unreadable, or with errors).
    pub errors: &'a [String],
}

fn green(text: &str, paint: bool) -> String {
    if paint {
        format!("\x1b[32m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn red(text: &str, paint: bool) -> String {
    if paint {
        format!("\x1b[31m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// `running 4 tests in FILE` and one line per test.
pub fn human_file(name: &str, results: &[TestOutcome], paint: bool) -> String {
    let mut out = format!(
        "running {} test{} in {name}\n",
        results.len(),
        if results.len() == 1 { "" } else { "s" }
    );
    for r in results {
        let status = if r.passed {
            green("ok", paint)
        } else {
            red("FAILED", paint)
        };
        out.push_str(&format!("test {} ... {status}\n", r.name));
    }
    out
}

/// The failures, then `test result: ok. N passed, M failed`.
pub fn human_summary(results: &[TestOutcome], passed: usize, failed: usize, paint: bool) -> String {
    let mut out = String::new();
    if failed > 0 {
        out.push_str("\nfailures:\n");
        for r in results.iter().filter(|r| !r.passed) {
            out.push_str(&format!("\n---- {} ({}:{}) ----\n", r.name, r.file, r.line));
            out.push_str(&format!("expected: {}\n", r.expected));
            out.push_str(&format!("     got: {}\n", r.actual));
            for d in &r.detail {
                out.push_str(&format!("          {d}\n"));
            }
        }
    }
    let verdict = if failed == 0 {
        green("ok", paint)
    } else {
        red("FAILED", paint)
    };
    out.push_str(&format!(
        "\ntest result: {verdict}. {passed} passed, {failed} failed\n"
    ));
    out
}
