//! Keeps `grammar/route.ebnf` and the parser in sync: every example in the
//! grammar parses without a syntax error, and the reserved words listed there
//! are the lexer's.

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
