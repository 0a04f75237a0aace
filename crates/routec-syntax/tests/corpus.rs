//! Parse corpora: every file under `tests/parse/ok` parses without a
//! diagnostic (its tree is snapshotted); every file under `tests/parse/err`
//! produces diagnostics (snapshotted next to the source) and never panics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and may fail loudly"
)]

use std::fmt::Write as _;

use routec_syntax::{LineIndex, parse};

/// The source with line numbers, then each diagnostic with its position.
fn render(source: &str) -> String {
    let parse = parse(source);
    let index = LineIndex::new(source);
    let mut out = String::new();
    for (n, line) in source.lines().enumerate() {
        writeln!(out, "{:>3} | {line}", n + 1).unwrap();
    }
    out.push_str("----\n");
    for d in &parse.diagnostics {
        let (line, col) = index.line_col_human(d.span.start as usize);
        let (end_line, end_col) = index.line_col_human(d.span.end as usize);
        writeln!(
            out,
            "{line}:{col}-{end_line}:{end_col} {}[{}]: {}",
            d.severity.as_str(),
            d.code,
            d.message
        )
        .unwrap();
        if let Some(label) = &d.label {
            writeln!(out, "    label: {label}").unwrap();
        }
        if let Some(help) = &d.help {
            writeln!(out, "    help: {help}").unwrap();
        }
    }
    out.push_str("----\n");
    for item in &parse.file.items {
        let (line, _) = index.line_col_human(item.span.start as usize);
        let kind = format!("{:?}", item.kind);
        let kind = kind.split(['(', ' ']).next().unwrap_or("");
        writeln!(out, "item at line {line}: {kind}").unwrap();
    }
    out
}

#[test]
fn ok_corpus_parses_cleanly() {
    insta::glob!("../../../tests/parse", "ok/*.route", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let parse = parse(&source);
        assert!(
            parse.diagnostics.is_empty(),
            "{}: {:#?}",
            path.display(),
            parse.diagnostics
        );
        insta::assert_snapshot!(format!("{source}\n----\n{:#?}", parse.file.items));
    });
}

#[test]
fn err_corpus_reports_located_errors() {
    insta::glob!("../../../tests/parse", "err/*.route", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let parse = parse(&source);
        assert!(
            !parse.diagnostics.is_empty(),
            "{}: no diagnostics",
            path.display()
        );
        for d in &parse.diagnostics {
            assert!(d.span.end as usize <= source.len());
            assert!(source.is_char_boundary(d.span.start as usize));
            assert!(source.is_char_boundary(d.span.end as usize));
        }
        insta::assert_snapshot!(render(&source));
    });
}

#[test]
fn examples_parse_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "route") {
            let source = std::fs::read_to_string(&path).unwrap();
            let parse = parse(&source);
            assert!(
                parse.diagnostics.is_empty(),
                "{}: {:#?}",
                path.display(),
                parse.diagnostics
            );
            count += 1;
        }
    }
    assert!(count >= 1);
}

#[test]
fn oversized_input_is_refused_with_one_error() {
    let source = "// x\n".repeat(routec_syntax::MAX_SOURCE_BYTES / 5 + 1);
    let parse = parse(&source);
    assert_eq!(parse.diagnostics.len(), 1);
    assert_eq!(parse.diagnostics[0].code, routec_syntax::codes::TOO_LARGE);
    assert!(parse.file.items.is_empty());
}

#[test]
fn deep_nesting_is_refused_and_the_rest_parses() {
    let deep = format!(
        "slice s = {}x{}\nslice t = {} y\nslice u = z\n",
        "(".repeat(10_000),
        ")".repeat(10_000),
        "not ".repeat(10_000)
    );
    let parse = parse(&deep);
    let codes: Vec<_> = parse.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![routec_syntax::codes::TOO_DEEP; 2]);
    assert_eq!(parse.file.items.len(), 1);
}

#[test]
fn nesting_at_the_limit_parses() {
    let depth = routec_syntax::MAX_DEPTH;
    let source = format!("slice s = {}x{}\n", "(".repeat(depth), ")".repeat(depth));
    let parse = parse(&source);
    assert!(parse.diagnostics.is_empty(), "{:#?}", parse.diagnostics);
}

#[test]
fn long_flat_chains_do_not_nest() {
    let source = format!("slice s = a{}\n", " and a".repeat(50_000));
    let parse = parse(&source);
    assert!(parse.diagnostics.is_empty());
}

/// Applies every suggestion of `diags` (non-overlapping edits).
fn apply(source: &str, diags: &[routec_syntax::Diagnostic]) -> String {
    let mut edits: Vec<(usize, usize, &str)> = diags
        .iter()
        .flat_map(|d| &d.suggestions)
        .map(|s| {
            (
                s.span.start as usize,
                s.span.end as usize,
                s.replacement.as_str(),
            )
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = source.to_owned();
    for (start, end, text) in edits {
        out.replace_range(start..end, text);
    }
    out
}

#[test]
fn hyphenated_names_and_hash_comments_are_reported_once_with_their_fix() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parse/err/names.route");
    let source = std::fs::read_to_string(path).unwrap();
    let parsed = parse(&source);
    // One error per distinct name and one for every `#` comment, nothing else:
    // references to the names parse, and the offset `free-5%` is no name.
    let found: Vec<(&str, &str)> = parsed
        .diagnostics
        .iter()
        .map(|d| (d.code, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("E0003", "`#` does not start a comment"),
            ("E0008", "`gpt-4o` is not a name: names cannot contain `-`"),
            (
                "E0008",
                "`gpt-4o-mini` is not a name: names cannot contain `-`"
            ),
            (
                "E0008",
                "`claude-3.5-sonnet` is not a name: names cannot contain `-`"
            ),
        ]
    );
    let names = &parsed.diagnostics[1];
    assert_eq!(names.suggestions.len(), 5, "gpt-4o is written five times");
    assert!(names.suggestions.iter().all(|s| s.replacement == "gpt_4o"));
    assert_eq!(names.labels.len(), 4);
    // The fixes applied together give a file without syntax errors.
    let fixed = apply(&source, &parsed.diagnostics);
    assert!(fixed.contains("model claude_3_5_sonnet {"), "{fixed}");
    assert!(
        fixed.contains("// the provider's name is a string"),
        "{fixed}"
    );
    assert!(fixed.contains("upstream \"gpt-4o-mini\""), "{fixed}");
    let again = routec_syntax::parse(&fixed);
    assert!(
        again.diagnostics.is_empty(),
        "{fixed}\n{:#?}",
        again.diagnostics
    );
}
