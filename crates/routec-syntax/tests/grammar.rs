//! Keeps `grammar/route.ebnf` and the parser in sync: every example in the
//! grammar parses without a syntax error, the reserved words listed there
//! are the lexer's, and the words its productions quote are the language's
//! word table (`routec_syntax::words`), both ways.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and may fail loudly"
)]

use std::path::Path;

fn grammar() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../grammar/route.ebnf");
    std::fs::read_to_string(path).unwrap()
}

fn examples(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("(* example:") {
        let body_start = start + "(* example:".len();
        let end = rest[body_start..].find("*)").unwrap() + body_start;
        let line = text[..offset + start].lines().count() + 1;
        out.push((line, rest[body_start..end].to_owned()));
        offset += end + 2;
        rest = &rest[end + 2..];
    }
    out
}

#[test]
fn every_grammar_example_parses() {
    let text = grammar();
    let examples = examples(&text);
    assert!(
        examples.len() >= 13,
        "found only {} examples",
        examples.len()
    );
    let mut failures = Vec::new();
    for (line, example) in &examples {
        let parse = routec_syntax::parse(example);
        if !parse.diagnostics.is_empty() || parse.file.items.is_empty() {
            failures.push(format!(
                "example at line {line}:\n{example}\n{:#?}",
                parse.diagnostics
            ));
        }
        let errors = parse
            .file
            .items
            .iter()
            .filter(|i| matches!(i.kind, routec_syntax::ast::ItemKind::Error))
            .count();
        assert_eq!(errors, 0, "example at line {line} has error items");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn reserved_words_match_the_lexer() {
    let text = grammar();
    let start = text.find("RESERVED     =").unwrap();
    let end = start + text[start..].find(';').unwrap();
    let mut words: Vec<&str> = text[start..end].split('"').skip(1).step_by(2).collect();
    words.sort_unstable();
    assert_eq!(words, routec_syntax::lexer::RESERVED_WORDS);
}

#[test]
fn every_item_keyword_has_a_production() {
    let text = grammar();
    for keyword in routec_syntax::parser::ITEM_KEYWORDS {
        let production = format!("= \"{keyword}\"");
        assert!(
            text.contains(&production),
            "no production starts with `{keyword}`"
        );
    }
}

/// The grammar's productions, without comments (which hold the examples).
fn productions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("(*") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("*)").unwrap() + start;
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_grammar_quotes_exactly_the_word_table() {
    use routec_syntax::words::{Context, WORDS};
    // `'"'` quotes a double quote (in STRING); it opens no literal.
    let text = productions(&grammar()).replace("'\"'", "");
    let mut quoted: Vec<&str> = text
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    quoted.sort_unstable();
    quoted.dedup();
    for word in &quoted {
        assert!(
            WORDS.iter().any(|w| w.text == *word),
            "the grammar quotes `{word}`, which the word table (routec_syntax::words) lacks"
        );
    }
    for w in WORDS {
        // Completion's suggestions (percentiles, providers), highlighted
        // percentiles and the words the grammar reads as a `name` that the
        // checker validates (capabilities, periods, drift measures and
        // actions, acceptance measures) are values, not productions.
        let value_only = w.contexts.is_empty()
            || w.contexts.iter().all(|c| {
                matches!(
                    c,
                    Context::Percentile
                        | Context::Provider
                        | Context::Capability
                        | Context::Period
                        | Context::DriftMeasure
                        | Context::DriftAction
                        | Context::AcceptMeasure
                )
            });
        if value_only {
            continue;
        }
        assert!(
            quoted.contains(&w.text),
            "the word table has `{}`, which no production of the grammar quotes",
            w.text
        );
    }
}
