//! Sanity checks of the TextMate grammar in `grammar/route.tmLanguage.json`:
//! it is valid JSON with the right scope, and every reserved word of the
//! language is highlighted by some pattern.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

fn patterns(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("match" | "begin" | "end", Value::String(s)) => out.push(s.clone()),
                    _ => patterns(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| patterns(v, out)),
        _ => {}
    }
}

#[test]
fn grammar_is_valid_and_covers_the_reserved_words() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../grammar/route.tmLanguage.json"
    );
    let grammar: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(grammar["scopeName"], "source.route");
    assert_eq!(grammar["fileTypes"][0], "route");

    let mut all = Vec::new();
    patterns(&grammar, &mut all);
    let text = all.join("\n");
    for word in routec_syntax::lexer::RESERVED_WORDS {
        assert!(
            text.contains(&format!("|{word}|"))
                || text.contains(&format!("(?:{word}|"))
                || text.contains(&format!("|{word})"))
                || text.contains(&format!("({word})")),
            "`{word}` is not highlighted"
        );
    }
    // Every word the language's table highlights is highlighted here too.
    for w in routec_syntax::words::WORDS {
        if w.highlight == routec_syntax::words::Highlight::None
            || w.text.starts_with('p') && w.text[1..].chars().all(|c| c.is_ascii_digit())
        {
            continue;
        }
        let word = w.text;
        assert!(
            text.contains(&format!("|{word}|"))
                || text.contains(&format!("(?:{word}|"))
                || text.contains(&format!("|{word})"))
                || text.contains(&format!("({word})"))
                || text.contains(&format!("({word}|")),
            "`{word}` is highlighted by the language server but not by the TextMate grammar"
        );
    }
    // Every repository rule that is included exists.
    let repository = grammar["repository"].as_object().unwrap();
    let mut includes = Vec::new();
    fn collect(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(s)) = map.get("include") {
                    out.push(s.trim_start_matches('#').to_owned());
                }
                map.values().for_each(|v| collect(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    collect(&grammar, &mut includes);
    for name in includes {
        assert!(
            repository.contains_key(&name),
            "missing repository rule `{name}`"
        );
    }
}
