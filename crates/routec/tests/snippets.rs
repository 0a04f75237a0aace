//! Every snippet the compiler or its documentation shows parses when pasted
//! (and checks, where it is meant to):
//!
//! - the help of every diagnostic the compiler gives on the fixture corpora
//!   (`tests/check`, `tests/parse`, `examples/`, the documentation's
//!   examples), and every help written as a plain literal in the sources:
//!   each backticked span is a snippet;
//! - every ```` ```route ```` block of `README.md` and `docs/*.md`: a
//!   complete policy checks without errors; an example in
//!   `docs/diagnostics.md` gives the diagnostic its section documents
//!   (syntax codes when parsed, checker codes when checked with a prelude
//!   that declares the names it uses); the spans of its "Fix:" lines whose
//!   first word is a word of the language are snippets;
//! - `routec --help` and every subcommand's: each example command line is
//!   accepted by the argument parser (with valid JSON for `--request`), and
//!   each backticked span whose first word is a word of the language is a
//!   snippet.
//!
//! A snippet parses when it parses without a diagnostic in one of the
//! [`CONTEXTS`]: as a file, as a statement of a block, a rule, a plan, a
//! condition, a value, or the continuation of a statement.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and fail loudly"
)]

use std::path::{Path, PathBuf};

use routec_syntax::Diagnostic;

const HOLE: &str = "\u{1}";

/// Where a snippet may stand, `HOLE` marking it.
const CONTEXTS: &[&str] = &[
    "\u{1}",
    "policy p {\n\u{1}\n}",
    "model m {\n\u{1}\n}",
    "model m {\nprice \u{1}\n}",
    "model m {\nlatency \u{1}\n}",
    "model m {\nlatency decode \u{1}\n}",
    "model m {\ncontext \u{1}\n}",
    "model m {\ncapacity 1 \u{1}\n}",
    "slo {\n\u{1}\n}",
    "slo {\n\u{1} <= 3s\n}",
    "slo {\nquality >= 80% \u{1}\n}",
    "objective \u{1}",
    "route {\n\u{1}\n}",
    "route {\notherwise => \u{1}\n}",
    "route {\notherwise => cascade a -> b \u{1}\n}",
    "route {\notherwise => optimize [a, b] \u{1}\n}",
    "route {\notherwise => optimize [a, b] by \u{1}\n}",
    "faults {\n\u{1}\n}",
    "faults {\nretry 1 on [\u{1}]\n}",
    "learn {\n\u{1}\n}",
    "learn {\nexplore 2% budget $20 \u{1}\n}",
    "traffic t {\n\u{1}\n}",
    "test \"t\" {\n\u{1}\n}",
    "slice s = \u{1}",
    "slice s = a \u{1} b",
    "slice s = a \u{1}",
    "signal s: \u{1}",
    "signal s: ratio \u{1}",
    "signal s: ratio from classifier \"c\" \u{1}",
    "signal s: int default \u{1}",
];

/// Whether `snippet` parses without a diagnostic in one of the contexts,
/// or names a single token (`` `}` ``, `` `optimize` ``, `` `"` ``).
fn parses(snippet: &str) -> bool {
    let tokens: Vec<_> = routec_syntax::lexer::lex(snippet)
        .into_iter()
        .filter(|(t, _)| !t.is_trivia())
        .collect();
    let single = match tokens.as_slice() {
        [(routec_syntax::lexer::Token::Error(_), _)] => false,
        [(routec_syntax::lexer::Token::UnterminatedString(s), _)] => *s == "\"",
        [_] => true,
        _ => false,
    };
    single
        || !snippet.contains(HOLE)
            && CONTEXTS.iter().any(|c| {
                let text = c.replace(HOLE, snippet);
                let parse = routec_syntax::parse(&text);
                parse.diagnostics.is_empty()
                    && !parse
                        .file
                        .items
                        .iter()
                        .any(|i| matches!(i.kind, routec_syntax::ast::ItemKind::Error))
            })
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The backticked spans of a text (`` `a` `` and ``` ``a`b`` ```).
fn backticked(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        let after = &rest[start..];
        let ticks = after.chars().take_while(|&c| c == '`').count();
        let fence = "`".repeat(ticks);
        let body = &after[ticks..];
        let Some(end) = body.find(&fence) else { break };
        out.push(body[..end].trim().to_owned());
        rest = &body[end + ticks..];
    }
    out
}

/// Whether a span reads as code of the language: its first word is one of
/// the language's words and it has more than one token.
fn looks_like_route(span: &str) -> bool {
    let first = span
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("");
    routec_syntax::words::find(first).is_some() && span.trim().contains(' ')
}

// ---------------------------------------------------------------- diagnostics

/// Every diagnostic the parser, the checker and (for files that check) the
/// compiler give on `text`.
fn diagnostics(text: &str, compile: bool) -> Vec<Diagnostic> {
    let diagnosed = routec_driver::pipeline::diagnose(text);
    let mut all = diagnosed.diagnostics.clone();
    if compile
        && !diagnosed.has_errors()
        && diagnosed
            .policy
            .traffic
            .iter()
            .all(|t| !matches!(t.source, routec_check::ir::TrafficSource::File(_)))
    {
        let options = routec_driver::pipeline::compile_options(None);
        match routec_opt::compile(&diagnosed.policy, text, &options) {
            Ok(c) => all.extend(c.diagnostics),
            Err(errors) => all.extend(errors),
        }
    }
    all
}

fn corpus() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["tests/check", "tests/parse", "tests/fmt", "examples"] {
        for p in files(dir, "route") {
            out.push((p.display().to_string(), read(&p)));
        }
    }
    for (name, text) in doc_examples() {
        out.push((name, text));
    }
    out
}

#[test]
fn every_help_a_diagnostic_gives_parses() {
    let mut failures = Vec::new();
    let mut seen = 0;
    for (name, text) in corpus() {
        let compile = !name.contains("tests/parse");
        for d in diagnostics(&text, compile) {
            let Some(help) = &d.help else { continue };
            for span in backticked(help) {
                seen += 1;
                if !parses(&span) {
                    failures.push(format!("{name}: {} help `{span}` in: {help}", d.code));
                }
            }
        }
    }
    failures.sort();
    failures.dedup();
    assert!(seen > 100, "only {seen} snippets found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The helps written as plain string literals (no formatting) in the
/// compiler's sources, whether or not a fixture triggers them.
#[test]
fn every_literal_help_in_the_sources_parses() {
    let mut failures = Vec::new();
    let mut seen = 0;
    for p in files("crates", "rs") {
        let path = p.display().to_string();
        if !path.contains("/src/") || path.contains("routec-import") {
            continue;
        }
        let text = read(&p);
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".with_help(\"") {
            let body = &rest[at + ".with_help(\"".len()..];
            // The literal up to its closing quote (escaped quotes skipped).
            let mut end = 0;
            let bytes = body.as_bytes();
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let literal = body[..end.min(body.len())]
                .replace("\\\"", "\"")
                .replace("\\\\", "\\");
            rest = &body[end.min(body.len())..];
            for span in backticked(&literal) {
                seen += 1;
                if !parses(&span) {
                    failures.push(format!("{path}: help `{span}` in: {literal}"));
                }
            }
        }
    }
    assert!(seen > 50, "only {seen} snippets found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------- docs

/// The ```` ```route ```` blocks of a Markdown text, with the heading
/// above each (`## E0111: ...`).
fn route_blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match &mut block {
            Some(b) if line.trim_start().starts_with("```") => {
                out.push((heading.clone(), std::mem::take(b)));
                block = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None if line.trim_start().starts_with("```route") => block = Some(String::new()),
            None => {
                if line.starts_with('#') {
                    heading = line.trim_start_matches('#').trim().to_owned();
                }
            }
        }
    }
    out
}

fn docs() -> Vec<PathBuf> {
    let mut out = files("docs", "md");
    out.push(root().join("README.md"));
    out
}

/// Every route block of the documentation, as a name and a text.
fn doc_examples() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in docs() {
        for (heading, block) in route_blocks(&read(&p)) {
            out.push((format!("{} ({heading})", p.display()), block));
        }
    }
    out
}

/// The declarations an example in `docs/diagnostics.md` may use without
/// writing them: `(kind, name, text)`; an item of the example with the
/// same kind and name (or a block of the same kind) replaces the prelude's.
const PRELUDE: &[(&str, &str, &str)] = &[
    ("policy", "", "policy p {\n  baseline large\n}"),
    (
        "signal",
        "task",
        "signal task: enum { chat, code, factual } from header \"x-task\" default chat",
    ),
    (
        "signal",
        "plan",
        "signal plan: enum { free, pro, enterprise } from metadata \"plan\" default free",
    ),
    (
        "signal",
        "lang",
        "signal lang: enum { en, de, ja } from header \"x-lang\" default en",
    ),
    (
        "signal",
        "difficulty",
        "signal difficulty: ratio from classifier \"d\" cost 4ms default 50%",
    ),
    (
        "signal",
        "hard",
        "signal hard: bool from header \"x-hard\" default false",
    ),
    (
        "model",
        "small",
        "model small {\n  context 32k tokens\n  price input $0.1/Mtok, output $0.2/Mtok\n  latency ttft p50 100ms p95 300ms, decode 160 tok/s\n  quality 80%\n}",
    ),
    (
        "model",
        "medium",
        "model medium {\n  context 128k tokens\n  price input $0.5/Mtok, output $1/Mtok\n  latency ttft p50 200ms p95 500ms, decode 100 tok/s\n  quality 85%\n}",
    ),
    (
        "model",
        "large",
        "model large {\n  context 200k tokens\n  price input $3/Mtok, output $15/Mtok\n  latency ttft p50 600ms p95 1.4s, decode 60 tok/s\n  quality 90%\n}",
    ),
    (
        "model",
        "search",
        "model search {\n  price $0.001/request\n  latency p50 60ms p95 150ms\n  quality by task { factual 90% }\n}",
    ),
    ("slice", "english", "slice english = lang == en"),
    (
        "slice",
        "paying",
        "slice paying = plan in { pro, enterprise }",
    ),
    ("route", "", "route {\n  otherwise => large\n}"),
    (
        "traffic",
        "launch",
        "traffic launch {\n  task { chat 60%, code 30%, factual 10% }\n}",
    ),
];

/// The kind and name of each item of a parsed text.
fn items(text: &str) -> Vec<(&'static str, String)> {
    use routec_syntax::ast::ItemKind as K;
    routec_syntax::parse(text)
        .file
        .items
        .iter()
        .filter_map(|i| {
            Some(match &i.kind {
                K::Policy(_) => ("policy", String::new()),
                K::Signal(s) => ("signal", s.name.text.clone()),
                K::Model(m) => ("model", m.name.text.clone()),
                K::Slice(s) => ("slice", s.name.text.clone()),
                K::Objective(_) => ("objective", String::new()),
                K::Slo(_) => ("slo", String::new()),
                K::Route(_) => ("route", String::new()),
                K::Faults(_) => ("faults", String::new()),
                K::Learn(_) => ("learn", String::new()),
                K::Traffic(t) => ("traffic", t.name.text.clone()),
                K::Test(_) => ("test", String::new()),
                K::Error => return None,
            })
        })
        .collect()
}

/// The example placed in the first context where it parses, with the
/// prelude's declarations it does not replace; and the byte range of the
/// example in the result.
fn in_prelude(example: &str) -> Option<(String, std::ops::Range<usize>)> {
    for context in CONTEXTS {
        let placed = context.replace(HOLE, example.trim_end());
        let parse = routec_syntax::parse(&placed);
        if !parse.diagnostics.is_empty() {
            continue;
        }
        let own = items(&placed);
        let mut text = String::new();
        for (kind, name, decl) in PRELUDE {
            let replaced = own.iter().any(|(k, n)| {
                k == kind && (n == name || ["policy", "objective", "route"].contains(k))
            });
            if !replaced {
                text.push_str(decl);
                text.push_str("\n\n");
            }
        }
        let start = text.len();
        text.push_str(&placed);
        let end = text.len();
        text.push('\n');
        return Some((text, start..end));
    }
    None
}

#[test]
fn every_route_block_of_the_docs_parses_and_complete_policies_check() {
    let mut failures = Vec::new();
    for p in docs() {
        let name = p.display().to_string();
        let diagnostics_md = name.ends_with("diagnostics.md");
        for (heading, block) in route_blocks(&read(&p)) {
            let syntax_example = diagnostics_md && heading.starts_with("E000");
            if syntax_example {
                continue;
            }
            if !parses(block.trim_end()) {
                let parse = routec_syntax::parse(&block);
                failures.push(format!(
                    "{name} ({heading}): does not parse:\n{block}{:?}",
                    parse
                        .diagnostics
                        .iter()
                        .map(|d| &d.message)
                        .collect::<Vec<_>>()
                ));
                continue;
            }
            let complete = items(&block).iter().any(|(k, _)| *k == "policy");
            if complete && !diagnostics_md {
                let diagnosed = routec_driver::pipeline::diagnose(&block);
                let errors: Vec<_> = diagnosed
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| format!("{}: {}", d.code, d.message))
                    .collect();
                if !errors.is_empty() {
                    failures.push(format!("{name} ({heading}): {errors:?}\n{block}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The examples of `docs/diagnostics.md` give the diagnostic of their
/// section: syntax codes (`E000x`) when parsed, checker codes when checked
/// with the prelude, located in the example.
#[test]
fn every_diagnostics_doc_example_gives_its_code() {
    let text = read(&root().join("docs/diagnostics.md"));
    let checker: Vec<&str> = routec_check::codes::ALL.to_vec();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (heading, block) in route_blocks(&text) {
        let code = heading.split(':').next().unwrap_or("").trim().to_owned();
        if routec_syntax::codes::ALL.contains(&code.as_str()) {
            let gives = CONTEXTS.iter().any(|c| {
                routec_syntax::parse(&c.replace(HOLE, block.trim_end()))
                    .diagnostics
                    .iter()
                    .any(|d| d.code == code)
            });
            if !gives {
                let parse = routec_syntax::parse(&block);
                failures.push(format!(
                    "{heading}: parsing gives {:?}",
                    codes(&parse.diagnostics)
                ));
            }
            checked += 1;
            continue;
        }
        if !checker.contains(&code.as_str()) {
            continue;
        }
        let Some((full, range)) = in_prelude(&block) else {
            failures.push(format!(
                "{heading}: does not parse in any context:\n{block}"
            ));
            continue;
        };
        let diagnosed = routec_driver::pipeline::diagnose(&full);
        let located = diagnosed.diagnostics.iter().any(|d| {
            d.code == code
                && (range.contains(&(d.span.start as usize))
                    || d.span.start == 0 && d.span.end == 0)
        });
        if !located {
            failures.push(format!(
                "{heading}: checking gives {:?}, not {code} in the example:\n{full}",
                codes(&diagnosed.diagnostics)
            ));
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} examples");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn codes(diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .map(|d| format!("{} {}", d.code, d.message))
        .collect()
}

/// The spans of the "Fix:" paragraphs of `docs/diagnostics.md` that read
/// as code of the language.
#[test]
fn every_fix_in_the_diagnostics_doc_parses() {
    let text = read(&root().join("docs/diagnostics.md"));
    let mut failures = Vec::new();
    let mut seen = 0;
    for paragraph in text.split("\n\n") {
        if !paragraph.starts_with("Fix:") {
            continue;
        }
        for span in backticked(paragraph) {
            if looks_like_route(&span) {
                seen += 1;
                if !parses(&span) {
                    failures.push(format!("`{span}` in: {paragraph}"));
                }
            }
        }
    }
    assert!(seen > 20, "only {seen} snippets");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------- --help

/// `routec --help` and every subcommand's long help.
fn helps() -> Vec<(String, String)> {
    use clap::CommandFactory;
    // As written: a workspace build may enable clap's `wrap_help` (a
    // benchmark dependency does), which would wrap lines at 100 columns.
    let mut cmd = routec::cli::Cli::command().term_width(0);
    let mut out = vec![("routec".to_owned(), cmd.render_long_help().to_string())];
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        let sub = cmd.find_subcommand_mut(&name).unwrap();
        out.push((format!("routec {name}"), sub.render_long_help().to_string()));
    }
    out
}

/// Splits a command line into words, honouring single and double quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, ' ') => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

#[test]
fn every_example_command_of_the_help_is_accepted() {
    use clap::Parser;
    let mut failures = Vec::new();
    let mut seen = 0;
    for (name, help) in helps() {
        let mut in_examples = false;
        for line in help.lines() {
            if line.trim_end() == "Examples:" {
                in_examples = true;
                continue;
            }
            if line.trim().is_empty() {
                in_examples = false;
                continue;
            }
            let command = line.trim_start();
            if !in_examples || !command.starts_with("routec ") {
                continue;
            }
            // The command, without the description column, pipes and
            // redirections.
            let command = command.split("  ").next().unwrap_or(command);
            let command = command.split(" | ").next().unwrap_or(command);
            let command = command.split(" > ").next().unwrap_or(command);
            let args = shell_words(command);
            seen += 1;
            if let Err(e) = routec::cli::Cli::try_parse_from(&args) {
                failures.push(format!("{name}: `{command}`: {e}"));
                continue;
            }
            if let Some(i) = args.iter().position(|a| a == "--request")
                && let Some(json) = args.get(i + 1)
                && !json.starts_with('@')
                && !serde_json::from_str::<serde_json::Value>(json).is_ok_and(|v| v.is_object())
            {
                failures.push(format!(
                    "{name}: `{command}`: the request is not a JSON object"
                ));
            }
        }
    }
    assert!(seen > 20, "only {seen} example commands");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The indented blocks of a help text that start with an item keyword and
/// open a brace (`  test "..." {`), up to the `}` of the same indentation.
fn help_blocks(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for line in help.lines() {
        let indent = line.len() - line.trim_start().len();
        match &mut block {
            Some((at, text)) => {
                text.push_str(&line[(*at).min(line.len())..]);
                text.push('\n');
                if indent == *at && line.trim() == "}" {
                    out.push(std::mem::take(text));
                    block = None;
                }
            }
            None => {
                let first = line.split_whitespace().next().unwrap_or("");
                if indent > 0
                    && routec_syntax::words::ITEMS.contains(&first)
                    && line.trim_end().ends_with('{')
                {
                    block = Some((indent, format!("{}\n", line.trim_start())));
                }
            }
        }
    }
    out
}

#[test]
fn every_route_snippet_of_the_help_parses() {
    let mut failures = Vec::new();
    let mut seen = 0;
    for (name, help) in helps() {
        for block in help_blocks(&help) {
            seen += 1;
            if !parses(block.trim_end()) {
                failures.push(format!("{name}:\n{block}"));
            }
        }
        for span in backticked(&help) {
            if looks_like_route(&span) {
                seen += 1;
                if !parses(&span) {
                    failures.push(format!("{name}: `{span}`"));
                }
            }
        }
    }
    assert!(seen >= 2, "only {seen} snippets");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
