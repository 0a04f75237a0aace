//! Checker fixtures: every `tests/check/*.route` file at the repository root
//! is parsed and checked, and the diagnostics must equal the annotations
//! written in the file, rust-analyzer style:
//!
//! ```text
//!   fallback medum
//! //         ^^^^^ error[E0102]: unknown model `medum`
//! ```
//!
//! The carets mark the columns of the primary span on the nearest line above
//! that is not an annotation (a span over several lines marks its first
//! line up to the end of it). A diagnostic of the whole file (an empty span
//! at offset 0) is written `//@ error[E0113]: ...`.
//!
//! `ROUTEC_BLESS=1 cargo test -p routec-check --test fixtures` rewrites the
//! annotations from the actual output; read the diff before committing it.
#![expect(
    clippy::disallowed_methods,
    reason = "the fixture harness reads and (when blessing) writes fixture files"
)]
#![expect(clippy::panic, reason = "test helpers fail loudly with context")]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use routec_syntax::{Diagnostic, LineIndex};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> Vec<PathBuf> {
    let dir = root().join("tests/check");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "route"))
        .collect();
    files.sort();
    files
}

/// One expected or actual diagnostic, rendered for comparison.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Note {
    /// 0-based line; `None` for a whole-file diagnostic.
    line: Option<usize>,
    start: usize,
    end: usize,
    text: String,
}

impl Note {
    fn render(&self) -> String {
        match self.line {
            None => format!("file: {}", self.text),
            Some(l) => format!("{}:{}-{}: {}", l + 1, self.start, self.end, self.text),
        }
    }
}

fn is_annotation(line: &str) -> bool {
    let t = line.trim_start();
    let Some(rest) = t.strip_prefix("//") else {
        return false;
    };
    rest.starts_with('@') || rest.trim_start().starts_with('^')
}

fn expected(text: &str) -> Vec<Note> {
    let mut out = Vec::new();
    let mut target: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        if !is_annotation(line) {
            target = Some(i);
            continue;
        }
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("//@") {
            out.push(Note {
                line: None,
                start: 0,
                end: 0,
                text: rest.trim().to_owned(),
            });
            continue;
        }
        let start = line.find('^').unwrap_or(0);
        let end = start + line[start..].chars().take_while(|c| *c == '^').count();
        let Some(target) = target else {
            panic!("annotation on line {} has no line above it", i + 1)
        };
        out.push(Note {
            line: Some(target),
            start,
            end,
            text: line[end..].trim().to_owned(),
        });
    }
    out.sort();
    out
}

fn actual(text: &str, diags: &[Diagnostic]) -> Vec<Note> {
    let index = LineIndex::new(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Note> = diags
        .iter()
        .map(|d| {
            let text_part = format!("{}[{}]: {}", d.severity.as_str(), d.code, d.message);
            if d.span.start == 0 && d.span.is_empty() {
                return Note {
                    line: None,
                    start: 0,
                    end: 0,
                    text: text_part,
                };
            }
            let start = index.line_col(d.span.start as usize);
            let end = index.line_col(d.span.end as usize);
            let line_len = lines.get(start.line as usize).map_or(0, |l| l.len());
            let end_col = if end.line == start.line {
                end.col as usize
            } else {
                line_len
            };
            Note {
                line: Some(start.line as usize),
                start: start.col as usize,
                end: end_col.max(start.col as usize + 1),
                text: text_part,
            }
        })
        .collect();
    out.sort();
    out
}

/// The fixture with its annotations replaced by `notes`.
fn annotate(text: &str, notes: &[Note]) -> String {
    let mut out = String::new();
    for n in notes.iter().filter(|n| n.line.is_none()) {
        let _ = writeln!(out, "//@ {}", n.text);
    }
    for (i, line) in text.lines().enumerate() {
        if is_annotation(line) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        for n in notes.iter().filter(|n| n.line == Some(i)) {
            assert!(
                n.start >= 2,
                "cannot annotate column {} of line {}: indent the line by two spaces",
                n.start,
                i + 1
            );
            let _ = writeln!(
                out,
                "//{}{} {}",
                " ".repeat(n.start - 2),
                "^".repeat(n.end - n.start),
                n.text
            );
        }
    }
    out
}

fn run(text: &str) -> Vec<Diagnostic> {
    let parsed = routec_syntax::parse(text);
    let checked = routec_check::check(&parsed.file);
    let mut all = parsed.diagnostics;
    all.extend(checked.diagnostics);
    all
}

#[test]
fn fixtures_match_annotations() {
    let bless = std::env::var_os("ROUTEC_BLESS").is_some();
    let mut failures = String::new();
    for path in fixtures() {
        let text = std::fs::read_to_string(&path).unwrap();
        let diags = run(&text);
        let want = expected(&text);
        let got = actual(&text, &diags);
        if want == got {
            continue;
        }
        if bless {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let blessed = std::panic::catch_unwind(|| annotate(&text, &got))
                .unwrap_or_else(|_| panic!("cannot bless {name}"));
            std::fs::write(&path, blessed).unwrap();
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let _ = writeln!(failures, "\n=== {name}");
        let want_set: BTreeSet<String> = want.iter().map(Note::render).collect();
        let got_set: BTreeSet<String> = got.iter().map(Note::render).collect();
        for missing in want_set.difference(&got_set) {
            let _ = writeln!(failures, "- expected, not produced: {missing}");
        }
        for extra in got_set.difference(&want_set) {
            let _ = writeln!(failures, "+ produced, not expected: {extra}");
        }
    }
    assert!(
        failures.is_empty(),
        "fixtures differ from their annotations (ROUTEC_BLESS=1 rewrites them):{failures}"
    );
}

#[test]
fn every_code_has_a_fixture() {
    let mut seen = BTreeSet::new();
    for path in fixtures() {
        let text = std::fs::read_to_string(&path).unwrap();
        for n in expected(&text) {
            if let Some(code) = n.text.split('[').nth(1).and_then(|s| s.split(']').next()) {
                seen.insert(code.to_owned());
            }
        }
    }
    let missing: Vec<&str> = routec_check::codes::ALL
        .iter()
        .copied()
        .filter(|c| !seen.contains(*c))
        .collect();
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
}

#[test]
fn every_code_is_documented() {
    let doc = std::fs::read_to_string(root().join("docs/diagnostics.md")).unwrap();
    let missing: Vec<&str> = routec_syntax::codes::ALL
        .iter()
        .chain(routec_check::codes::ALL)
        .copied()
        .filter(|c| !doc.contains(&format!("## {c}")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a section in docs/diagnostics.md: {missing:?}"
    );
}

#[test]
fn support_route_checks_clean() {
    let fixture = std::fs::read_to_string(root().join("tests/check/support.route")).unwrap();
    let example = std::fs::read_to_string(root().join("examples/support.route")).unwrap();
    assert_eq!(
        fixture, example,
        "tests/check/support.route must be a copy of the normative example"
    );
    let parsed = routec_syntax::parse(&fixture);
    assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
    let checked = routec_check::check(&parsed.file);
    assert!(checked.diagnostics.is_empty(), "{:#?}", checked.diagnostics);
    let p = &checked.policy;
    assert_eq!(p.rules.len(), 5);
    assert_eq!(p.models.len(), 5);
    let spec = &p.models[p.model_by_name("medium_spec").unwrap().index()];
    assert_eq!(spec.context, Some(128_000));
    assert_eq!(spec.price.input_per_token, Some(0.30 / 1e6));
    assert_eq!(spec.latency.decode_rate, Some(140.0));
}
