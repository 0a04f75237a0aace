//! Property tests: the parser never panics and always returns located
//! diagnostics, on arbitrary text and on random edits of the examples; the
//! formatter is idempotent on everything it accepts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and may fail loudly"
)]

use std::path::Path;

use proptest::prelude::*;
use routec_syntax::parser::parse_in_one_piece;
use routec_syntax::{Parse, parse, reparse};

fn examples() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "route"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    out.sort();
    out
}

/// Spans are inside the input and on character boundaries.
fn assert_well_formed(source: &str, parse: &Parse) {
    for d in &parse.diagnostics {
        assert!(d.span.start <= d.span.end);
        assert!(d.span.end as usize <= source.len());
        assert!(source.is_char_boundary(d.span.start as usize));
        assert!(source.is_char_boundary(d.span.end as usize));
        assert!(!d.message.is_empty());
    }
    let mut last_end = 0;
    for item in &parse.file.items {
        assert!(item.span.end as usize <= source.len());
        assert!(item.span.start >= last_end, "items overlap");
        last_end = item.span.end;
    }
}

/// Formatting what parses is idempotent and keeps it parsing.
fn assert_formats(source: &str, parse: &Parse) {
    if !parse.diagnostics.is_empty() {
        return;
    }
    let once = routec_syntax::fmt::format(source).expect("formats");
    let twice = routec_syntax::fmt::format(&once).expect("formats its own output");
    assert_eq!(once, twice, "not idempotent");
    assert!(routec_syntax::parse(&once).diagnostics.is_empty());
}

const VOCABULARY: &[&str] = &[
    "policy",
    "signal",
    "model",
    "slice",
    "objective",
    "slo",
    "route",
    "faults",
    "learn",
    "traffic",
    "test",
    "when",
    "otherwise",
    "else",
    "cascade",
    "split",
    "optimize",
    "by",
    "at",
    "accept",
    "and",
    "or",
    "not",
    "in",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ",",
    ":",
    "=",
    "=>",
    "->",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "-",
    "+",
    "/",
    "\n",
    " ",
    "x",
    "task",
    "small",
    "70%",
    "3s",
    "128k",
    "$5",
    "$0.05/Mtok",
    "\"s\"",
    "env(\"K\")",
    "// c\n",
    "/// d\n",
    "p95",
    "latency",
    "quality",
    "for",
    "each",
    "true",
    "!",
    "\"",
    "é",
    "\t",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCABULARY), 0..200)
        .prop_map(|words| words.join(" "))
}

#[derive(Clone, Debug)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: &'static str },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), prop::sample::select(VOCABULARY))
            .prop_map(|(at, text)| Edit::Insert { at, text }),
        any::<usize>().prop_map(|line| Edit::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines { a, b }),
    ]
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(source: &str, edit: &Edit) -> String {
    let mut s = source.to_owned();
    match *edit {
        Edit::Delete { at, len } => {
            let start = floor_boundary(&s, at % (s.len() + 1));
            let end = floor_boundary(&s, start + len);
            s.replace_range(start..end, "");
        }
        Edit::Insert { at, text } => {
            let at = floor_boundary(&s, at % (s.len() + 1));
            s.insert_str(at, text);
        }
        Edit::DuplicateLine { line } => {
            let mut lines: Vec<&str> = s.lines().collect();
            if !lines.is_empty() {
                let i = line % lines.len();
                lines.insert(i, lines[i]);
            }
            s = lines.join("\n");
        }
        Edit::SwapLines { a, b } => {
            let mut lines: Vec<&str> = s.lines().collect();
            if !lines.is_empty() {
                let (a, b) = (a % lines.len(), b % lines.len());
                lines.swap(a, b);
            }
            s = lines.join("\n");
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parser_never_panics_on_arbitrary_text(source in any::<String>()) {
        let parse = parse(&source);
        assert_well_formed(&source, &parse);
    }

    #[test]
    fn parser_never_panics_on_token_soup(source in token_soup()) {
        let parse = parse(&source);
        assert_well_formed(&source, &parse);
        assert_formats(&source, &parse);
    }

    #[test]
    fn parser_survives_edits_of_the_examples(
        pick in any::<usize>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let examples = examples();
        let mut source = examples[pick % examples.len()].clone();
        for e in &edits {
            source = apply(&source, e);
        }
        let parse = parse(&source);
        assert_well_formed(&source, &parse);
        assert_formats(&source, &parse);
    }
}

/// The parse, stretch by stretch, is the whole file's parse in one piece.
fn assert_same_as_one_piece(source: &str) {
    let parse = parse(source);
    let whole = parse_in_one_piece(source);
    assert_eq!(parse.file, whole.file, "items differ on {source:?}");
    assert_eq!(
        parse.diagnostics, whole.diagnostics,
        "diagnostics differ on {source:?}"
    );
}

/// Re-parsing after an edit is parsing the edited text.
fn assert_reparses(before: &str, after: &str) {
    let old = parse(before);
    let again = reparse(&old, before, after);
    let fresh = parse(after);
    assert_eq!(
        again.file, fresh.file,
        "items differ after {before:?} -> {after:?}"
    );
    assert_eq!(
        again.diagnostics, fresh.diagnostics,
        "diagnostics differ after {before:?} -> {after:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn stretches_parse_as_the_whole_file(source in token_soup()) {
        assert_same_as_one_piece(&source);
    }

    #[test]
    fn edited_examples_parse_as_the_whole_file(
        pick in any::<usize>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let examples = examples();
        let mut source = examples[pick % examples.len()].clone();
        for e in &edits {
            source = apply(&source, e);
        }
        assert_same_as_one_piece(&source);
    }

    #[test]
    fn reparse_after_edits_is_parse(
        pick in any::<usize>(),
        earlier in prop::collection::vec(edit(), 0..4),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let examples = examples();
        let mut before = examples[pick % examples.len()].clone();
        for e in &earlier {
            before = apply(&before, e);
        }
        let mut after = before.clone();
        for e in &edits {
            after = apply(&after, e);
        }
        assert_reparses(&before, &after);
        assert_reparses(&after, &before);
    }

    #[test]
    fn reparse_of_token_soup_is_parse(a in token_soup(), b in token_soup()) {
        assert_reparses(&a, &b);
        assert_reparses(&a, &format!("{a}{b}"));
        assert_reparses(&a, &format!("{b}{a}"));
    }
}

/// Every item of an unchanged stretch is taken from the earlier parse and
/// moved: a tree parsed behind a prefix is the earlier tree, shifted (this
/// checks that moving visits every span of every kind of node).
#[test]
fn reparse_moves_unchanged_items() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parse");
    let mut sources = examples();
    for sub in ["ok", "err"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            sources.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
    }
    for source in sources {
        assert_same_as_one_piece(&source);
        let old = parse(&source);
        for prefix in ["\n", "// a comment\n\n", "   \n\n\n"] {
            let moved = format!("{prefix}{source}");
            let again = reparse(&old, &source, &moved);
            let fresh = parse(&moved);
            assert_eq!(again.file, fresh.file);
            assert_eq!(again.diagnostics, fresh.diagnostics);
            assert_eq!(again.reused_items(), old.file.items.len(), "{source}");
        }
        // An edit inside the first item re-parses that stretch only.
        if let Some(first) = old.file.items.first() {
            let at = first.span.end as usize;
            let edited = format!("{} \n{}", &source[..at], &source[at..]);
            let again = reparse(&old, &source, &edited);
            assert_eq!(again.file, parse(&edited).file);
        }
    }
}

#[test]
fn every_example_formats_idempotently() {
    for source in examples() {
        let parse = parse(&source);
        assert!(parse.diagnostics.is_empty());
        assert_formats(&source, &parse);
    }
}
