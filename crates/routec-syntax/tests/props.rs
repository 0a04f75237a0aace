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
use routec_syntax::{Parse, parse};

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

#[test]
fn every_example_formats_idempotently() {
    for source in examples() {
        let parse = parse(&source);
        assert!(parse.diagnostics.is_empty());
        assert_formats(&source, &parse);
    }
}
