//! The formatter: token-based layout driven by the AST.
//!
//! The layout walks the full token stream from [`lexer::lex`], comments and
//! newlines included, so no comment can be lost. The AST only tells which
//! `{` ... `}` pairs are statement blocks (always broken over lines and
//! indented), where statements start, and which `-`/`+` signs are binary
//! (the parity offset in `quality for a >= quality for b - 5%`); every other
//! sign directly before a number is unary and glued to it (`ja -9%`).
//!
//! Inline brackets (`enum { .. }`, `[..]`, `(..)`, tables) keep the user's
//! line breaks; continuation lines are indented one level per open bracket.
//! Spacing between tokens on a line is canonical.
//!
//! Architecture Invariant: the formatter never changes meaning. Before
//! returning, [`format`] re-lexes its output and checks that the tokens other
//! than newlines are exactly those of the input (comments included), that
//! the output parses without errors, and that formatting it again changes
//! nothing. If any of these fail it returns [`FormatError::MeaningChanged`].

use std::collections::HashSet;
use std::fmt;
use std::mem::Discriminant;

use crate::ast::{
    Block, Bound, ConstraintKind, FaultProp, FaultPropKind, ItemKind, SourceFile, TrafficKind,
};
use crate::diagnostic::Diagnostic;
use crate::lexer::{Token, lex};
use crate::parser::parse;
use crate::span::Span;

/// One indentation level.
pub const INDENT: &str = "  ";

/// Why a source text was not formatted.
#[derive(Clone, Debug, PartialEq)]
pub enum FormatError {
    /// The source has syntax errors; the formatter refuses to touch it.
    Syntax(Vec<Diagnostic>),
    /// The formatted text would not mean the same as the input (a bug in the
    /// formatter); the output is withheld.
    MeaningChanged(String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Syntax(diags) => {
                let n = diags.iter().filter(|d| d.is_error()).count();
                let s = if n == 1 { "" } else { "s" };
                write!(f, "cannot format a file with {n} syntax error{s}")
            }
            FormatError::MeaningChanged(why) => {
                write!(f, "formatting would change the meaning of the file ({why})")
            }
        }
    }
}

impl std::error::Error for FormatError {}

/// Formats a policy. Refuses files with syntax errors; never returns text
/// whose tokens differ from the input's or that is not a fixed point.
pub fn format(source: &str) -> Result<String, FormatError> {
    let source = normalize_newlines(source);
    let output = format_once(&source)?;

    let before = significant_tokens(&source);
    let after = significant_tokens(&output);
    if before != after {
        let at = before
            .iter()
            .zip(&after)
            .position(|(a, b)| a != b)
            .unwrap_or(before.len().min(after.len()));
        return Err(FormatError::MeaningChanged(format!(
            "token {at} differs after formatting"
        )));
    }
    match format_once(&output) {
        Ok(again) if again == output => Ok(output),
        Ok(_) => Err(FormatError::MeaningChanged(
            "formatting is not idempotent".to_owned(),
        )),
        Err(_) => Err(FormatError::MeaningChanged(
            "the formatted text does not parse".to_owned(),
        )),
    }
}

/// True when `source` is already formatted (a file with syntax errors is
/// reported as an error, not as unformatted).
pub fn is_formatted(source: &str) -> Result<bool, FormatError> {
    format(source).map(|out| out == source)
}

/// `\r\n` becomes `\n`; a lone `\r` is left alone (the lexer skips it).
fn normalize_newlines(source: &str) -> String {
    source.replace("\r\n", "\n")
}

/// The tokens that carry meaning, plus comments, with their texts: what must
/// survive formatting unchanged.
fn significant_tokens(source: &str) -> Vec<(Discriminant<Token<'_>>, &str)> {
    lex(source)
        .into_iter()
        .filter(|(t, _)| *t != Token::Newline)
        .map(|(t, span)| (std::mem::discriminant(&t), token_text(t, span, source)))
        .collect()
}

fn token_text<'a>(token: Token<'_>, span: Span, source: &'a str) -> &'a str {
    let text = span.text(source);
    match token {
        Token::Comment(_) | Token::DocComment(_) => text.trim_end(),
        _ => text,
    }
}

/// What the AST tells the layout.
#[derive(Default)]
struct Shape {
    /// Byte offsets of the `{` of statement blocks.
    block_opens: HashSet<u32>,
    /// Byte offsets of the `}` of statement blocks.
    block_closes: HashSet<u32>,
    /// Byte offsets where items and statements start.
    starts: Vec<u32>,
    /// Byte ranges `(bound start, value start)` of metric bounds with an
    /// offset: the last sign before the value is binary.
    offsets: Vec<(u32, u32)>,
}

impl Shape {
    fn of(file: &SourceFile) -> Shape {
        let mut shape = Shape::default();
        for item in &file.items {
            shape.starts.push(item.span.start);
            match &item.kind {
                ItemKind::Policy(p) => shape.block(&p.body),
                ItemKind::Model(m) => shape.block(&m.body),
                ItemKind::Slo(s) => {
                    shape.block(&s.body);
                    for c in &s.body.items {
                        if let ConstraintKind::Bound {
                            bound:
                                Bound::Metric {
                                    offset: Some(offset),
                                    span,
                                    ..
                                },
                            ..
                        } = &c.kind
                        {
                            shape.offsets.push((span.start, offset.value.span.start));
                        }
                    }
                }
                ItemKind::Route(r) => shape.block(&r.body),
                ItemKind::Faults(f) => shape.faults(&f.body),
                ItemKind::Learn(l) => shape.block(&l.body),
                ItemKind::Traffic(t) => {
                    if let TrafficKind::Inline(body) = &t.kind {
                        shape.block(body);
                    }
                }
                ItemKind::Test(t) => shape.block(&t.body),
                ItemKind::Signal(_)
                | ItemKind::Slice(_)
                | ItemKind::Objective(_)
                | ItemKind::Error => {}
            }
        }
        shape
    }

    fn faults(&mut self, body: &Block<FaultProp>) {
        self.block(body);
        for prop in &body.items {
            if let FaultPropKind::For { body, .. } = &prop.kind {
                self.faults(body);
            }
        }
    }

    fn block<T: Statement>(&mut self, block: &Block<T>) {
        if block.span.is_empty() {
            return;
        }
        self.block_opens.insert(block.span.start);
        self.block_closes.insert(block.span.end.saturating_sub(1));
        self.starts
            .extend(block.items.iter().map(|s| s.statement_span().start));
    }
}

/// A statement of a block: anything with a span.
trait Statement {
    fn statement_span(&self) -> Span;
}

macro_rules! statement {
    ($($ty:ident),*) => {
        $(impl Statement for crate::ast::$ty {
            fn statement_span(&self) -> Span {
                self.span
            }
        })*
    };
}

statement!(
    PolicyProp,
    ModelProp,
    Constraint,
    Rule,
    FaultProp,
    LearnProp,
    TrafficProp,
    TestProp
);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Block,
    Inline,
}

fn is_comment(token: Token<'_>) -> bool {
    matches!(token, Token::Comment(_) | Token::DocComment(_))
}

fn is_opener(token: Token<'_>) -> bool {
    matches!(token, Token::LBrace | Token::LBracket | Token::LParen)
}

fn is_closer(token: Token<'_>) -> bool {
    matches!(token, Token::RBrace | Token::RBracket | Token::RParen)
}

fn is_sign(token: Token<'_>) -> bool {
    matches!(token, Token::Minus | Token::Plus)
}

/// One pass of layout over a parsed, error-free source.
fn format_once(source: &str) -> Result<String, FormatError> {
    let parsed = parse(source);
    if parsed.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(FormatError::Syntax(parsed.diagnostics));
    }
    let shape = Shape::of(&parsed.file);
    let tokens = lex(source);

    // Statement starts, moved to the first token at or after each offset
    // that is neither trivia nor a comment.
    let mut starts: HashSet<usize> = HashSet::new();
    for &offset in &shape.starts {
        let first = tokens.partition_point(|(_, s)| s.start < offset);
        if let Some(i) = (first..tokens.len()).find(|&i| !tokens[i].0.is_trivia()) {
            starts.insert(i);
        }
    }
    // Binary signs: the last sign of a metric bound before its offset value.
    let mut binary_signs: HashSet<usize> = HashSet::new();
    for &(bound_start, value_start) in &shape.offsets {
        let lo = tokens.partition_point(|(_, s)| s.start < bound_start);
        let hi = tokens.partition_point(|(_, s)| s.start < value_start);
        if let Some(i) = (lo..hi).rev().find(|&i| is_sign(tokens[i].0)) {
            binary_signs.insert(i);
        }
    }

    let mut out = String::with_capacity(source.len() + source.len() / 8);
    let mut stack: Vec<Open> = Vec::new();
    // Newlines seen since the last emitted token.
    let mut newlines = 0usize;
    let mut last: Option<Token<'_>> = None;
    // The last token was a `{` or `}` of a statement block.
    let mut last_block_brace = false;
    // The current line opened a bracket (possibly followed by a comment):
    // no blank line may follow it.
    let mut after_open = false;
    // The last token was a unary sign: glue the number to it.
    let mut last_unary = false;

    for (i, &(token, span)) in tokens.iter().enumerate() {
        if token == Token::Newline {
            newlines += 1;
            continue;
        }
        let text = token_text(token, span, source);
        let block_open = token == Token::LBrace && shape.block_opens.contains(&span.start);
        let block_close = token == Token::RBrace && shape.block_closes.contains(&span.start);
        let empty_block = block_close && last == Some(Token::LBrace) && last_block_brace;

        if is_closer(token) {
            stack.pop();
        }

        let break_line = match last {
            None => false,
            Some(_) if empty_block => false,
            Some(_) => {
                newlines > 0
                    || block_close
                    || (last_block_brace && !(is_comment(token) && newlines == 0))
            }
        };

        if break_line {
            let blank = newlines >= 2 && !after_open && !is_closer(token);
            out.push('\n');
            if blank {
                out.push('\n');
            }
            let continuation = matches!(stack.last(), None | Some(Open::Block))
                && !starts.contains(&i)
                && !is_comment(token)
                && !is_closer(token);
            let depth = stack.len() + usize::from(continuation);
            for _ in 0..depth {
                out.push_str(INDENT);
            }
            after_open = false;
        } else if let Some(prev) = last
            && space_between(prev, last_unary, token)
        {
            out.push(' ');
        }
        out.push_str(text);

        if is_opener(token) {
            stack.push(if block_open {
                Open::Block
            } else {
                Open::Inline
            });
            after_open = true;
        } else if !is_comment(token) || break_line {
            after_open = false;
        }
        last_unary = is_sign(token)
            && !binary_signs.contains(&i)
            && matches!(
                tokens.get(i + 1),
                Some((Token::Number(_) | Token::Money(_), _))
            );
        last_block_brace = block_open || block_close;
        last = Some(token);
        newlines = 0;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

/// Canonical spacing between two tokens on one line.
fn space_between(prev: Token<'_>, prev_unary: bool, next: Token<'_>) -> bool {
    use Token::*;
    if prev_unary {
        return false;
    }
    match next {
        Comma | Colon | RParen | RBracket | Slash => return false,
        Comment(_) | DocComment(_) => return true,
        _ => {}
    }
    match prev {
        LParen | LBracket | Slash => false,
        Ident("env") => next != LParen,
        LBrace => next != RBrace,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: &str) {
        let out = format(input).unwrap_or_else(|e| panic!("{e}: {e:?}"));
        assert_eq!(
            out, expected,
            "\n--- got ---\n{out}\n--- want ---\n{expected}"
        );
        assert_eq!(format(&out).unwrap(), out, "not idempotent");
    }

    #[test]
    fn spacing_is_canonical() {
        check(
            "signal  task :enum{chat ,code}from header \"x\"   default chat",
            "signal task: enum { chat, code } from header \"x\" default chat\n",
        );
        check(
            "slice paying = plan in{pro,enterprise}\nslice en=lang==en",
            "slice paying = plan in { pro, enterprise }\nslice en = lang == en\n",
        );
    }

    #[test]
    fn blocks_break_and_indent() {
        check(
            "policy p{owner \"x\"\nbaseline large}",
            "policy p {\n  owner \"x\"\n  baseline large\n}\n",
        );
        check(
            "faults {\ntimeout 30s\nfor small { timeout 10s }\n}",
            "faults {\n  timeout 30s\n  for small {\n    timeout 10s\n  }\n}\n",
        );
        check("slo { }\nroute {\n\n}", "slo {}\nroute {}\n");
    }

    #[test]
    fn glues_env_rates_and_unary_signs() {
        check(
            "model m {\n endpoint env ( \"URL\" )\n latency p50 1s, decode 170 tok / s\n quality by task { chat 84% } adjust by lang { ja - 9%, de -2% }\n}",
            "model m {\n  endpoint env(\"URL\")\n  latency p50 1s, decode 170 tok/s\n  quality by task { chat 84% } adjust by lang { ja -9%, de -2% }\n}\n",
        );
    }

    #[test]
    fn parity_offsets_stay_binary() {
        check(
            "slo {\n quality for a >= quality for b-5%\n quality for a >= quality for b +2%\n}",
            "slo {\n  quality for a >= quality for b - 5%\n  quality for a >= quality for b + 2%\n}\n",
        );
    }

    #[test]
    fn operators_get_spaces() {
        check(
            "route {\nwhen a==b and c!=d => x\nwhen n<=3 or n>4 => cascade a->b accept when confidence>=70%\notherwise=>optimize [a,b] by n at [1k,2k]\n}",
            "route {\n  when a == b and c != d => x\n  when n <= 3 or n > 4 => cascade a -> b accept when confidence >= 70%\n  otherwise => optimize [a, b] by n at [1k, 2k]\n}\n",
        );
    }

    #[test]
    fn comments_are_kept_in_place() {
        check(
            "// top   \n/// doc\npolicy p { // trailing open\n  // own line\n  owner \"x\"   // trailing\n    // before close\n} // after close\n// end",
            "// top\n/// doc\npolicy p { // trailing open\n  // own line\n  owner \"x\" // trailing\n  // before close\n} // after close\n// end\n",
        );
    }

    #[test]
    fn inline_lists_keep_line_breaks() {
        check(
            "signal task: enum {chat, // c\n// own\n   code,\n\n\n factual\n  // last\n    } default chat",
            "signal task: enum { chat, // c\n  // own\n  code,\n\n  factual\n  // last\n} default chat\n",
        );
        check(
            "route {\n  otherwise => optimize [\n\n a,\n      split { a 50%,\n b 50% }\n  ] by task\n}",
            "route {\n  otherwise => optimize [\n    a,\n    split { a 50%,\n      b 50% }\n  ] by task\n}\n",
        );
    }

    #[test]
    fn blank_lines_collapse() {
        check(
            "\n\n\nslice a = x\n\n\n\nslice b = y\n\n\n",
            "slice a = x\n\nslice b = y\n",
        );
        check(
            "learn {\n\n\n  explore 2%\n\n\n  drift kl > 0.1 nats over 1h => alert\n\n}",
            "learn {\n  explore 2%\n\n  drift kl > 0.1 nats over 1h => alert\n}\n",
        );
    }

    #[test]
    fn normalizes_crlf_tabs_and_trailing_whitespace() {
        check("// a   \r\n// b\r\n", "// a\n// b\n");
        check(
            "slo {\r\n\tttft p95 <= 3s \t\r\n}\r\n",
            "slo {\n  ttft p95 <= 3s\n}\n",
        );
    }

    #[test]
    fn empty_input_stays_empty() {
        assert_eq!(format("").unwrap(), "");
        assert_eq!(format("\n\n  \n").unwrap(), "");
    }

    #[test]
    fn refuses_syntax_errors() {
        assert!(matches!(format("model {\n"), Err(FormatError::Syntax(d)) if !d.is_empty()));
        assert!(matches!(
            format("slice a = \"open"),
            Err(FormatError::Syntax(_))
        ));
    }

    #[test]
    fn formats_the_normative_example_unchanged() {
        let src = include_str!("../../../examples/support.route");
        assert_eq!(format(src).unwrap(), src);
    }

    #[test]
    fn glue_rules() {
        assert!(!space_between(Token::Ident("env"), false, Token::LParen));
        assert!(space_between(Token::Ident("not"), false, Token::LParen));
        assert!(!space_between(Token::Minus, true, Token::Number("9%")));
        assert!(space_between(Token::Minus, false, Token::Number("5%")));
    }
}
