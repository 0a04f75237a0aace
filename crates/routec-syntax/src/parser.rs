//! The parser: a preparation pass over the logos tokens, then a chumsky
//! grammar that builds the AST.
//!
//! Parsing never fails. The preparation pass reports lexical errors, drops
//! comments, and decides which newlines matter: inside `(` and `[` they never
//! do; inside `{` they separate statements of a block, and inline lists such
//! as `{ chat 84%, code 58% }` skip them explicitly. It also bounds nesting
//! depth, so that the recursive grammar cannot overflow the stack.
//!
//! Recovery is by line: a statement that does not parse becomes an error
//! node and parsing resumes on the next line of its block; an item that does
//! not parse is skipped up to the next line that starts with an item keyword.

use chumsky::input::{Input as _, ValueInput};
use chumsky::prelude::*;

use crate::ast::*;
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::lexer::{Token, is_reserved_word, lex};
use crate::shift::Shift;
use crate::span::Span;
use crate::words;

/// Inputs larger than this are refused with one diagnostic.
pub const MAX_SOURCE_BYTES: usize = 8 * 1024 * 1024;
/// Brackets, braces, parentheses and `not`s nested deeper than this are
/// refused; the item containing them is skipped.
pub const MAX_DEPTH: usize = 64;

/// The words that start an item; error recovery resumes at a line starting
/// with one of them.
pub const ITEM_KEYWORDS: &[&str] = crate::words::ITEMS;

/// The result of parsing: always a tree, plus the syntax diagnostics.
#[derive(Clone, Debug)]
pub struct Parse {
    pub file: SourceFile,
    pub diagnostics: Vec<Diagnostic>,
    /// The top-level stretches the items were parsed from, for [`reparse`].
    chunks: Vec<Chunk>,
    /// Items [`reparse`] took from the earlier parse.
    reused: usize,
}

impl Parse {
    /// How many items [`reparse`] took from the earlier parse (for tests
    /// and measurements).
    #[doc(hidden)]
    pub fn reused_items(&self) -> usize {
        self.reused
    }
}

/// A stretch of top-level tokens parsed on its own: from the first token
/// of the file, or from an item keyword that starts a line outside any
/// braces, to the next such keyword (the newline before it included).
/// Items never span such a line and recovery never skips past one, so the
/// stretches parse independently, and one whose text did not change parses
/// the same wherever it moved.
#[derive(Clone, Debug)]
struct Chunk {
    /// Its bytes, from its first token to the end of its last one.
    bytes: std::ops::Range<usize>,
    /// Bytes from its end to the end of input (only the last chunk reads
    /// the end of input).
    to_end: Option<usize>,
    /// Its items, in `file.items`.
    items: std::ops::Range<usize>,
    /// The grammar's diagnostics on it.
    diagnostics: Vec<Diagnostic>,
}

/// Parses a whole `.route` file.
pub fn parse(source: &str) -> Parse {
    parse_with(source, None)
}

/// Parses `source`, the text of `old` (parsed from `old_source`) after an
/// edit: stretches of top-level items whose text did not change are taken
/// from `old` (moved to their new place) instead of being parsed again.
/// The result is the same as [`parse`]'s (a property test checks it); an
/// editor re-parses a large file in the time the changed items take.
pub fn reparse(old: &Parse, old_source: &str, source: &str) -> Parse {
    parse_with(source, Some((old, old_source)))
}

fn parse_with(source: &str, old: Option<(&Parse, &str)>) -> Parse {
    let whole = Span::new(0, source.len());
    if source.len() > MAX_SOURCE_BYTES {
        let diag = Diagnostic::error(
            codes::TOO_LARGE,
            Span::at(0),
            format!(
                "input is too large: {} bytes, the limit is {} bytes",
                source.len(),
                MAX_SOURCE_BYTES
            ),
        )
        .with_help("split the policy into smaller files");
        return Parse {
            file: SourceFile {
                items: Vec::new(),
                span: whole,
            },
            diagnostics: vec![diag],
            chunks: Vec::new(),
            reused: 0,
        };
    }

    let all = lex(source);
    let mut diagnostics = Vec::new();
    let joined = join_hyphenated(source, &all, &mut diagnostics);
    hash_comments(&joined, &mut diagnostics);
    let (tokens, starts) = prepare(&joined, &mut diagnostics);
    let parser = file_parser();
    let mut items: Vec<Item> = Vec::new();
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut reused_items = 0;
    let delta = old.map_or(0, |(_, text)| source.len() as i64 - text.len() as i64);
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(tokens.len());
        let (Some(first), Some(last)) = (tokens.get(start), tokens.get(end.wrapping_sub(1))) else {
            continue;
        };
        let bytes = first.1.start..last.1.end;
        let to_end = (end == tokens.len()).then(|| source.len() - bytes.end);
        let reused = old.and_then(|(old, old_source)| {
            let text = &source[bytes.clone()];
            // Before the edit a stretch keeps its place; after it, it moves
            // by the change in length.
            [bytes.start as i64, bytes.start as i64 - delta]
                .into_iter()
                .find_map(|at| {
                    let i = old
                        .chunks
                        .binary_search_by_key(&at, |c| c.bytes.start as i64)
                        .ok()?;
                    let c = &old.chunks[i];
                    (old_source.get(c.bytes.clone()) == Some(text) && c.to_end == to_end)
                        .then_some((old, c, bytes.start as i64 - at))
                })
        });
        let first_item = items.len();
        let chunk_diagnostics = match reused {
            Some((old, c, moved)) => {
                for item in &old.file.items[c.items.clone()] {
                    let mut item = item.clone();
                    item.shift(moved);
                    items.push(item);
                }
                reused_items += c.items.len();
                let mut ds = c.diagnostics.clone();
                ds.shift(moved);
                ds
            }
            None => {
                let eoi = match to_end {
                    Some(_) => source.len(),
                    None => bytes.end,
                };
                let eoi = SimpleSpan::from(eoi..eoi);
                let (output, errors) = parser
                    .parse(tokens[start..end].split_token_span(eoi))
                    .into_output_errors();
                items.extend(output.unwrap_or_default());
                errors.into_iter().map(to_diagnostic).collect()
            }
        };
        diagnostics.extend(chunk_diagnostics.iter().cloned());
        chunks.push(Chunk {
            bytes,
            to_end,
            items: first_item..items.len(),
            diagnostics: chunk_diagnostics,
        });
    }
    // Doc comments sit before a stretch's first token: attach them afresh.
    for item in &mut items {
        item.doc = None;
    }
    attach_docs(&all, &mut items);
    crate::diagnostic::sort(&mut diagnostics);
    diagnostics.dedup();
    Parse {
        file: SourceFile { items, span: whole },
        diagnostics,
        chunks,
        reused: reused_items,
    }
}

/// The whole-file parse, in one piece: the reference [`parse`] is tested
/// against (stretch by stretch, it must give the same tree and diagnostics).
#[doc(hidden)]
pub fn parse_in_one_piece(source: &str) -> Parse {
    let whole = Span::new(0, source.len());
    if source.len() > MAX_SOURCE_BYTES {
        return parse(source);
    }
    let all = lex(source);
    let mut diagnostics = Vec::new();
    let joined = join_hyphenated(source, &all, &mut diagnostics);
    hash_comments(&joined, &mut diagnostics);
    let (tokens, _) = prepare(&joined, &mut diagnostics);
    let eoi = SimpleSpan::from(source.len()..source.len());
    let (output, errors) = file_parser()
        .parse(tokens.as_slice().split_token_span(eoi))
        .into_output_errors();
    diagnostics.extend(errors.into_iter().map(to_diagnostic));
    let mut items = output.unwrap_or_default();
    attach_docs(&all, &mut items);
    crate::diagnostic::sort(&mut diagnostics);
    diagnostics.dedup();
    Parse {
        file: SourceFile { items, span: whole },
        diagnostics,
        chunks: Vec::new(),
        reused: 0,
    }
}

// ------------------------------------------------------------------ preparation

/// Number suffixes that make `a-5%` an offset, not a name.
const QUANTITY_SUFFIXES: &[&str] = &["%", "ms", "s", "m", "h", "d"];

/// Joins what users type as a model name, `gpt-4o-mini` (words and numbers
/// joined by `-` with no spaces), into one name token, and reports each such
/// name once, at its first occurrence, with the fix applied to every
/// occurrence: names are identifiers (`gpt_4o_mini`); the provider's own
/// name is a string (`upstream "gpt-4o-mini"`). `-` stays subtraction and
/// the minus of offsets (`quality for b - 5%`, `ja -9%`). The rest of the
/// file then parses and checks as if the name were valid, so the user sees
/// one error instead of one per token and per reference.
fn join_hyphenated<'s>(
    source: &'s str,
    all: &[(Token<'s>, Span)],
    diags: &mut Vec<Diagnostic>,
) -> Vec<(Token<'s>, Span)> {
    let part = |t: Token<'_>| match t {
        Token::Ident(_) => true,
        Token::Number(text) => {
            let (_, suffix) = split_number(text);
            !QUANTITY_SUFFIXES.contains(&suffix.as_str())
        }
        _ => false,
    };
    let mut out = Vec::with_capacity(all.len());
    // Each joined name, with every span it occurs at, in order.
    let mut names: Vec<(&'s str, Vec<Span>)> = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let (token, span) = all[i];
        let mut end = i;
        if let Token::Ident(word) = token
            && !is_reserved_word(word)
        {
            while end + 2 < all.len()
                && all[end + 1].0 == Token::Minus
                && all[end + 1].1.start == all[end].1.end
                && all[end + 2].1.start == all[end + 1].1.end
                && part(all[end + 2].0)
            {
                end += 2;
            }
        }
        if end == i {
            out.push((token, span));
            i += 1;
            continue;
        }
        let joined = Span::new(span.start as usize, all[end].1.end as usize);
        let text = &source[joined.range()];
        match names.iter_mut().find(|(t, _)| *t == text) {
            Some((_, spans)) => spans.push(joined),
            None => names.push((text, vec![joined])),
        }
        out.push((Token::Ident(text), joined));
        i = end + 1;
    }
    for (text, spans) in names {
        let fixed = text.replace(['-', '.'], "_");
        let mut d = Diagnostic::error(
            codes::HYPHEN_IN_NAME,
            spans[0],
            format!("`{text}` is not a name: names cannot contain `-`"),
        )
        .with_label("`-` is subtraction in this language")
        .with_help(format!(
            "write `{fixed}`; a provider's own model name goes in a string, `upstream \"{text}\"`"
        ));
        for span in &spans[1..] {
            d = d.with_secondary(*span, "also written here");
        }
        for span in &spans {
            d = d.with_suggestion(format!("rename to `{fixed}` everywhere"), *span, &fixed);
        }
        diags.push(d);
    }
    out
}

/// Reports `#` comments once: one error at the first, naming the others,
/// with the fix (`//`) for each. [`prepare`] then drops them like comments.
fn hash_comments(all: &[(Token<'_>, Span)], diags: &mut Vec<Diagnostic>) {
    let spans: Vec<Span> = all
        .iter()
        .filter(|(t, _)| matches!(t, Token::HashComment(_)))
        .map(|&(_, s)| s)
        .collect();
    let Some(first) = spans.first() else {
        return;
    };
    let mut d = Diagnostic::error(
        codes::UNKNOWN_CHARACTER,
        *first,
        "`#` does not start a comment",
    )
    .with_label("comments start with `//`")
    .with_help("use `//` for comments (and `///` for documentation)");
    for span in &spans[1..] {
        d = d.with_secondary(*span, "another `#` comment");
    }
    for span in &spans {
        let hash = Span::new(span.start as usize, span.start as usize + 1);
        d = d.with_suggestion("use `//` for comments", hash, "//");
    }
    diags.push(d);
}

/// Turns the full token list into what the grammar sees: no comments, no
/// error tokens (they are reported here), newlines only where they separate
/// statements, at most one newline in a row, and no item nested deeper than
/// [`MAX_DEPTH`].
///
/// Also returns where the parse may be cut into stretches ([`Chunk`]): the
/// first token, and each item keyword that starts a line outside braces.
fn prepare<'s>(
    all: &[(Token<'s>, Span)],
    diags: &mut Vec<Diagnostic>,
) -> (Vec<(Token<'s>, SimpleSpan)>, Vec<usize>) {
    let mut out: Vec<(Token<'s>, SimpleSpan)> = Vec::with_capacity(all.len());
    // The open delimiters, innermost last.
    let mut stack: Vec<(Token<'s>, Span)> = Vec::new();
    let mut not_run = 0usize;
    // Index in `out` where the current top-level item starts, and whether the
    // item has already been found too deep.
    let mut item_start = 0usize;
    let mut too_deep = false;
    // Positions in `out` right after a newline outside any delimiter.
    let mut line_starts: Vec<usize> = Vec::new();

    for &(token, span) in all {
        let sspan = SimpleSpan::from(span.range());
        let token = match token {
            Token::Comment(_) | Token::DocComment(_) | Token::HashComment(_) => continue,
            Token::Error(text) => {
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_CHARACTER,
                        span,
                        format!("unknown character `{}`", text.escape_debug()),
                    )
                    .with_label("not part of the language"),
                );
                continue;
            }
            Token::UnterminatedString(text) => {
                diags.push(
                    Diagnostic::error(codes::UNTERMINATED_STRING, span, "unterminated string")
                        .with_label("this string has no closing quote")
                        .with_help("strings end on the line they start on: add a closing `\"`"),
                );
                Token::Str(text)
            }
            other => other,
        };

        match token {
            Token::Newline => {
                if matches!(stack.last(), Some((Token::LParen | Token::LBracket, _))) {
                    continue;
                }
                if matches!(out.last(), None | Some((Token::Newline, _))) {
                    continue;
                }
                out.push((token, sspan));
                if stack.is_empty() {
                    if too_deep {
                        out.truncate(item_start);
                        too_deep = false;
                    }
                    item_start = out.len();
                    line_starts.push(item_start);
                }
                not_run = 0;
                continue;
            }
            Token::LBrace | Token::LBracket | Token::LParen => stack.push((token, span)),
            Token::RBrace => {
                while let Some((open, _)) = stack.pop() {
                    if open == Token::LBrace {
                        break;
                    }
                }
            }
            Token::RBracket | Token::RParen => {
                let want = if token == Token::RBracket {
                    Token::LBracket
                } else {
                    Token::LParen
                };
                if let Some(pos) = stack.iter().rposition(|&(t, _)| t == want)
                    && !stack[pos..].iter().any(|&(t, _)| t == Token::LBrace)
                {
                    stack.truncate(pos);
                }
            }
            _ => {}
        }
        not_run = if token == Token::Ident("not") {
            not_run + 1
        } else {
            0
        };
        if !too_deep && stack.len() + not_run > MAX_DEPTH {
            too_deep = true;
            diags.push(
                Diagnostic::error(
                    codes::TOO_DEEP,
                    span,
                    format!("nesting is too deep: the limit is {MAX_DEPTH} levels"),
                )
                .with_label("this is nested too deeply")
                .with_help("the whole item is skipped; flatten it or split it into smaller parts"),
            );
        }
        out.push((token, sspan));
    }
    if too_deep {
        out.truncate(item_start);
    }
    let is_item_keyword = |t: &Token<'_>| matches!(t, Token::Ident(w) if ITEM_KEYWORDS.contains(w));
    let mut starts = vec![0];
    starts.extend(
        line_starts
            .into_iter()
            .filter(|&i| i > 0 && out.get(i).is_some_and(|(t, _)| is_item_keyword(t))),
    );
    starts.dedup();
    for &(open, span) in stack.iter().take(3) {
        let close = match open {
            Token::LBrace => "}",
            Token::LBracket => "]",
            _ => ")",
        };
        diags.push(
            Diagnostic::error(codes::SYNTAX, span, format!("unclosed {open}"))
                .with_label(format!("this {open} is never closed"))
                .with_help(format!("add the missing `{close}`")),
        );
    }
    (out, starts)
}

/// Attaches the `///` lines right above each item to it.
fn attach_docs(all: &[(Token<'_>, Span)], items: &mut [Item]) {
    // Items and tokens are both in source order: one pass finds each
    // item's first token (a bisection per item would jump around the token
    // list of a large file, a cache miss per step).
    let mut first = 0;
    for item in items.iter_mut() {
        while all
            .get(first)
            .is_some_and(|(_, span)| span.start < item.span.start)
        {
            first += 1;
        }
        if first >= all.len() {
            continue;
        }
        let mut lines = Vec::new();
        let mut span: Option<Span> = None;
        let mut i = first;
        while i > 0 {
            i -= 1;
            match all[i].0 {
                Token::Newline => {
                    // A blank line ends the doc comment block.
                    if i > 0 && all[i - 1].0 == Token::Newline {
                        break;
                    }
                }
                Token::DocComment(text) => {
                    let body = text.strip_prefix("///").unwrap_or(text);
                    lines.push(body.strip_prefix(' ').unwrap_or(body).trim_end().to_owned());
                    span = Some(span.map_or(all[i].1, |s| s.cover(all[i].1)));
                }
                _ => break,
            }
        }
        if let Some(span) = span {
            lines.reverse();
            item.doc = Some(Doc {
                text: lines.join("\n"),
                span,
            });
        }
    }
}

// ------------------------------------------------------------------ errors

/// Custom parser errors carry their code and help in the message, separated
/// by this character; [`to_diagnostic`] takes them apart again.
const SEP: char = '\u{1f}';

fn custom(code: &str, message: &str, help: &str) -> String {
    format!("{code}{SEP}{message}{SEP}{help}")
}

fn to_diagnostic(err: Rich<'_, Token<'_>, SimpleSpan>) -> Diagnostic {
    let span = Span::from(err.span().into_range());
    match err.reason() {
        chumsky::error::RichReason::Custom(msg) => {
            let mut parts = msg.splitn(3, SEP);
            let code = match parts.next() {
                Some(c) if c == codes::RESERVED_NAME => codes::RESERVED_NAME,
                Some(c) if c == codes::BAD_NUMBER => codes::BAD_NUMBER,
                _ => codes::SYNTAX,
            };
            let message = parts.next().unwrap_or("syntax error").to_owned();
            let diag = Diagnostic::error(code, span, message);
            match parts.next() {
                Some(help) if !help.is_empty() => diag.with_help(help),
                _ => diag,
            }
        }
        chumsky::error::RichReason::ExpectedFound { expected, found } => {
            let found_token = found.as_deref().copied();
            let found = match found.as_deref() {
                None => "end of input".to_owned(),
                Some(token) => token.to_string(),
            };
            let mut wanted: Vec<String> = expected
                .iter()
                .filter_map(|pattern| match pattern {
                    chumsky::error::RichPattern::Token(t) => Some(t.to_string()),
                    chumsky::error::RichPattern::Label(l) => Some(l.to_string()),
                    chumsky::error::RichPattern::Identifier(i) => Some(format!("`{i}`")),
                    chumsky::error::RichPattern::EndOfInput => Some("end of input".to_owned()),
                    _ => None,
                })
                .collect();
            if wanted.iter().any(|w| w == "end of line") {
                wanted.retain(|w| w != "end of input");
            }
            wanted.sort();
            wanted.dedup();
            let span = if found == "end of line" {
                // Point at the end of the line rather than at the next one.
                Span::at(span.start as usize)
            } else {
                span
            };
            let mut diag = Diagnostic::error(codes::SYNTAX, span, format!("unexpected {found}"));
            if let Some(Token::Ident(word)) = found_token
                && let Some(best) = did_you_mean(word, &wanted)
            {
                diag = diag
                    .with_help(format!("did you mean `{best}`?"))
                    .with_suggestion(format!("replace with `{best}`"), span, best);
            }
            match wanted.len() {
                0 => diag,
                1 => diag.with_label(format!("expected {}", wanted[0])),
                n if n <= 8 => {
                    let (last, rest) = wanted
                        .split_last()
                        .map_or((String::new(), &[][..]), |(l, r)| (l.clone(), r));
                    diag.with_label(format!("expected {} or {}", rest.join(", "), last))
                }
                _ => diag.with_label(format!("expected one of {}, ...", wanted[..8].join(", "))),
            }
        }
    }
}

/// The keywords a labelled statement can start with, for did-you-mean.
const STATEMENT_KEYWORDS: &[(&str, &[&str])] = &[
    ("policy property", words::POLICY_PROPERTIES),
    ("model property", words::MODEL_PROPERTIES),
    ("constraint", words::METRICS),
    ("metric", words::METRICS),
    ("rule", words::RULES),
    ("fault setting", words::FAULT_SETTINGS),
    ("learn setting", words::LEARN_SETTINGS),
    ("test statement", words::TEST_STATEMENTS),
    ("plan", words::PLAN_FORMS),
];

/// The closest keyword to `word` among those the expected labels allow.
fn did_you_mean(word: &str, wanted: &[String]) -> Option<&'static str> {
    let mut candidates: Vec<&'static str> = Vec::new();
    for want in wanted {
        if want.starts_with("item (") {
            candidates.extend_from_slice(ITEM_KEYWORDS);
        }
        for (label, words) in STATEMENT_KEYWORDS {
            if want == label {
                candidates.extend_from_slice(words);
            }
        }
    }
    crate::suggest::closest(word, candidates)
}

// ------------------------------------------------------------------ grammar

type Ex<'t, 's> = extra::Err<Rich<'t, Token<'s>, SimpleSpan>>;

fn sp(s: SimpleSpan) -> Span {
    Span::from(s.into_range())
}

/// A contextual keyword: any word the lexer saw as an identifier.
fn kw<'t, 's: 't, I>(word: &'static str) -> impl Parser<'t, I, Span, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    just(Token::Ident(word)).map_with(|_, e| sp(e.span()))
}

fn nl<'t, 's: 't, I>() -> impl Parser<'t, I, (), Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    just(Token::Newline).ignored()
}

/// A name in a reference position: any word that is not reserved.
fn name<'t, 's: 't, I>() -> impl Parser<'t, I, Name, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    select! { Token::Ident(s) if !is_reserved_word(s) => s }
        .map_with(|s, e| Name {
            text: s.to_owned(),
            span: sp(e.span()),
        })
        .labelled("name")
}

/// A name being defined: reserved words are reported, then accepted so the
/// rest of the item still parses.
fn def_name<'t, 's: 't, I>() -> impl Parser<'t, I, Name, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    select! { Token::Ident(s) => s }
        .validate(|s, e, emitter| {
            if is_reserved_word(s) {
                emitter.emit(Rich::custom(
                    e.span(),
                    custom(
                        codes::RESERVED_NAME,
                        &format!("`{s}` is a reserved word and cannot be used as a name"),
                        &format!("choose another name, such as `{s}_`"),
                    ),
                ));
            }
            Name {
                text: s.to_owned(),
                span: sp(e.span()),
            }
        })
        .labelled("name")
}

/// A key in `key: value` or `key value` lists: any word, reserved or not.
fn key<'t, 's: 't, I>() -> impl Parser<'t, I, Name, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    select! { Token::Ident(s) => s }
        .map_with(|s, e| Name {
            text: s.to_owned(),
            span: sp(e.span()),
        })
        .labelled("name")
}

fn string<'t, 's: 't, I>() -> impl Parser<'t, I, Str, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    select! { Token::Str(s) => s }
        .map_with(|s, e| Str {
            value: unescape(s),
            span: sp(e.span()),
        })
        .labelled("string")
}

/// `p50`, `p95`, `p99`, `p999`: a percentile word.
fn percentile<'t, 's: 't, I>() -> impl Parser<'t, I, Name, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    select! { Token::Ident(s) if is_percentile(s) => s }
        .map_with(|s, e| Name {
            text: s.to_owned(),
            span: sp(e.span()),
        })
        .labelled("percentile")
}

pub(crate) fn is_percentile(word: &str) -> bool {
    word.len() > 1 && word.starts_with('p') && word[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A literal value: number with unit, money, string, boolean, `env("X")`,
/// or a bare word.
fn lit<'t, 's: 't, I>() -> impl Parser<'t, I, Lit, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let number = select! { Token::Number(s) => s }.validate(|s, e, emitter| {
        let (value, suffix) = split_number(s);
        match value {
            Some(v) => LitKind::Number { value: v, suffix },
            None => {
                emitter.emit(Rich::custom(
                    e.span(),
                    custom(
                        codes::BAD_NUMBER,
                        &format!("cannot read the number `{}`", shorten(s)),
                        "numbers must be finite and below 1e308",
                    ),
                ));
                LitKind::Number { value: 0.0, suffix }
            }
        }
    });
    let money = select! { Token::Money(s) => s }.validate(|s, e, emitter| {
        let (value, per) = split_money(s);
        match value {
            Some(v) => LitKind::Money { value: v, per },
            None => {
                emitter.emit(Rich::custom(
                    e.span(),
                    custom(
                        codes::BAD_NUMBER,
                        &format!("cannot read the amount `{}`", shorten(s)),
                        "amounts must be finite and below 1e308",
                    ),
                ));
                LitKind::Money { value: 0.0, per }
            }
        }
    });
    let signed = just(Token::Minus)
        .or_not()
        .then(number.or(money))
        .map(|(minus, kind)| match (minus.is_some(), kind) {
            (true, LitKind::Number { value, suffix }) => LitKind::Number {
                value: -value,
                suffix,
            },
            (true, LitKind::Money { value, per }) => LitKind::Money { value: -value, per },
            (_, kind) => kind,
        });
    let env = just(Token::Ident("env")).ignore_then(
        string()
            .map(|s| LitKind::Env(s.value))
            .delimited_by(just(Token::LParen), just(Token::RParen)),
    );
    choice((
        signed,
        string().map(|s| LitKind::String(s.value)),
        just(Token::Ident("true")).to(LitKind::Bool(true)),
        just(Token::Ident("false")).to(LitKind::Bool(false)),
        env,
        select! { Token::Ident(s) if !is_reserved_word(s) => LitKind::Ident(s.to_owned()) },
    ))
    .map_with(|kind, e| Lit {
        kind,
        span: sp(e.span()),
    })
    .labelled("value")
}

fn cmp_op<'t, 's: 't, I>() -> impl Parser<'t, I, CmpOp, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    select! {
        Token::EqEq => CmpOp::Eq,
        Token::NotEq => CmpOp::Ne,
        Token::Lt => CmpOp::Lt,
        Token::Le => CmpOp::Le,
        Token::Gt => CmpOp::Gt,
        Token::Ge => CmpOp::Ge,
    }
    .labelled("comparison")
}

/// `open item, item, ... close`: a comma-separated list in which newlines
/// do not matter and a trailing comma is allowed.
fn list<'t, 's: 't, I, O>(
    open: Token<'s>,
    close: Token<'s>,
    item: impl Parser<'t, I, O, Ex<'t, 's>> + Clone,
) -> impl Parser<'t, I, (Vec<O>, Span), Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    item.padded_by(nl().or_not())
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .then_ignore(nl().or_not())
        .delimited_by(just(open), just(close))
        .map_with(|items, e| (items, sp(e.span())))
}

/// `{ key value, ... }` entries such as `chat 84%`.
fn entries<'t, 's: 't, I>() -> impl Parser<'t, I, (Vec<Entry>, Span), Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let entry = key().then(lit()).map_with(|(key, value), e| Entry {
        key,
        value,
        span: sp(e.span()),
    });
    list(Token::LBrace, Token::RBrace, entry)
}

/// `{ key: value, ... }` pairs.
fn params<'t, 's: 't, I>() -> impl Parser<'t, I, Vec<Param>, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let param = key()
        .then_ignore(just(Token::Colon))
        .then(lit())
        .map_with(|(key, value), e| Param {
            key,
            value,
            span: sp(e.span()),
        });
    list(Token::LBrace, Token::RBrace, param).map(|(items, _)| items)
}

/// What a statement that does not parse is skipped as: the rest of its line,
/// with balanced delimiter groups (which may span lines) taken whole.
fn line_junk<'t, 's: 't, I>() -> impl Parser<'t, I, (), Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let tree = recursive(|tree| {
        let group = |open, close| {
            tree.clone()
                .repeated()
                .delimited_by(just(open), just(close))
                .ignored()
        };
        choice((
            none_of([
                Token::LBrace,
                Token::RBrace,
                Token::LBracket,
                Token::RBracket,
                Token::LParen,
                Token::RParen,
            ])
            .ignored(),
            group(Token::LBrace, Token::RBrace),
            group(Token::LBracket, Token::RBracket),
            group(Token::LParen, Token::RParen),
        ))
    });
    let group = |open, close| {
        tree.clone()
            .repeated()
            .delimited_by(just(open), just(close))
            .ignored()
    };
    choice((
        none_of([
            Token::Newline,
            Token::LBrace,
            Token::RBrace,
            Token::LBracket,
            Token::LParen,
        ])
        .ignored(),
        group(Token::LBrace, Token::RBrace),
        group(Token::LBracket, Token::RBracket),
        group(Token::LParen, Token::RParen),
    ))
    .repeated()
    .at_least(1)
}

/// A statement of a block: must end its line, and recovers by skipping the
/// line when it does not parse.
fn statement<'t, 's: 't, I, O>(
    parser: impl Parser<'t, I, O, Ex<'t, 's>> + Clone + 't,
    label: &'static str,
    error: fn(Span) -> O,
) -> Boxed<'t, 't, I, O, Ex<'t, 's>>
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
    O: 't,
{
    parser
        .labelled(label)
        .then_ignore(choice((just(Token::Newline), just(Token::RBrace))).rewind())
        .recover_with(via_parser(
            line_junk().map_with(move |(), e| error(sp(e.span()))),
        ))
        .boxed()
}

/// `{ statement \n statement ... }`
fn block<'t, 's: 't, I, T>(
    stmt: impl Parser<'t, I, T, Ex<'t, 's>> + Clone,
) -> impl Parser<'t, I, Block<T>, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    just(Token::LBrace)
        .ignore_then(nl().or_not())
        .ignore_then(stmt.separated_by(nl()).allow_trailing().collect::<Vec<_>>())
        .then_ignore(just(Token::RBrace))
        .map_with(|items, e| Block {
            items,
            span: sp(e.span()),
        })
}

fn expr<'t, 's: 't, I>() -> impl Parser<'t, I, Expr, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    recursive(|expr| {
        let set = list(Token::LBrace, Token::RBrace, lit());
        let atom = choice((
            expr.delimited_by(just(Token::LParen), just(Token::RParen))
                .map(|inner: Expr| ExprKind::Paren(Box::new(inner))),
            lit()
                .then(cmp_op())
                .then(lit())
                .map(|((lhs, op), rhs)| ExprKind::Compare { lhs, op, rhs }),
            lit()
                .then(kw("not").or_not())
                .then_ignore(kw("in"))
                .then(set)
                .map(|((lhs, not), (set, set_span))| ExprKind::In {
                    lhs,
                    negated: not.is_some(),
                    set,
                    set_span,
                }),
            lit().map(ExprKind::Atom),
        ))
        .map_with(|kind, e| Expr {
            kind,
            span: sp(e.span()),
        })
        .labelled("condition");
        let unary = kw("not").repeated().foldr_with(atom, |_, inner, e| Expr {
            kind: ExprKind::Not(Box::new(inner)),
            span: sp(e.span()),
        });
        let chain = |operand: Boxed<'t, 't, I, Expr, Ex<'t, 's>>, word: &'static str, op| {
            operand
                .separated_by(kw(word))
                .at_least(1)
                .collect::<Vec<_>>()
                .map_with(move |mut operands, e| {
                    if operands.len() == 1 {
                        operands.pop().unwrap_or(Expr {
                            kind: ExprKind::Error,
                            span: sp(e.span()),
                        })
                    } else {
                        Expr {
                            kind: ExprKind::Logic { op, operands },
                            span: sp(e.span()),
                        }
                    }
                })
                .boxed()
        };
        let and = chain(unary.boxed(), "and", LogicOp::And);
        chain(and, "or", LogicOp::Or)
    })
}

fn metric<'t, 's: 't, I>() -> impl Parser<'t, I, Metric, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let count = select! { Token::Number(s) => s }.map_with(|s, e| {
        let (value, suffix) = split_number(s);
        Lit {
            kind: LitKind::Number {
                value: value.unwrap_or(0.0),
                suffix,
            },
            span: sp(e.span()),
        }
    });
    let cost_per = choice((
        kw("success").map(CostPer::Success),
        count
            .or_not()
            .then_ignore(kw("requests").or(kw("request")))
            .map_with(|count, e| CostPer::Requests {
                count,
                span: sp(e.span()),
            }),
    ));
    choice((
        kw("ttft")
            .ignore_then(percentile().or_not())
            .map(MetricKind::Ttft),
        kw("latency")
            .ignore_then(percentile().or_not())
            .map(MetricKind::Latency),
        kw("cost")
            .ignore_then(kw("per").ignore_then(cost_per).or_not())
            .map(MetricKind::Cost),
        kw("quality")
            .ignore_then(kw("for").ignore_then(name()).or_not())
            .map(MetricKind::Quality),
        kw("share").ignore_then(name()).map(MetricKind::Share),
        kw("spend")
            .ignore_then(kw("per"))
            .ignore_then(name())
            .map(MetricKind::Spend),
    ))
    .map_with(|kind, e| Metric {
        kind,
        span: sp(e.span()),
    })
    .labelled("metric")
}

fn plan<'t, 's: 't, I>() -> impl Parser<'t, I, Plan, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    recursive(|plan| {
        let accept = kw("accept")
            .ignore_then(kw("when"))
            .ignore_then(name())
            .then(cmp_op())
            .then(lit())
            .map_with(|((measure, op), threshold), e| Accept {
                measure,
                op,
                threshold,
                span: sp(e.span()),
            });
        let cascade = kw("cascade")
            .ignore_then(
                name()
                    .separated_by(just(Token::Arrow))
                    .at_least(1)
                    .collect::<Vec<_>>(),
            )
            .then(accept.or_not())
            .map(|(stages, accept)| PlanKind::Cascade { stages, accept });
        let split = kw("split")
            .ignore_then(entries())
            .map(|(arms, _)| PlanKind::Split(arms));
        let dimension = name()
            .then(
                kw("at")
                    .ignore_then(list(Token::LBracket, Token::RBracket, lit()))
                    .or_not(),
            )
            .map_with(|(signal, at), e| Dimension {
                signal,
                thresholds: at.map(|(t, _)| t).unwrap_or_default(),
                span: sp(e.span()),
            });
        let optimize = kw("optimize")
            .ignore_then(list(Token::LBracket, Token::RBracket, plan.clone()))
            .then_ignore(kw("by"))
            .then(
                dimension
                    .separated_by(just(Token::Comma))
                    .at_least(1)
                    .collect::<Vec<_>>(),
            )
            .map(|((candidates, candidates_span), by)| PlanKind::Optimize {
                candidates,
                candidates_span,
                by,
            });
        let primary = choice((
            cascade,
            split,
            optimize,
            plan.delimited_by(just(Token::LParen), just(Token::RParen))
                .map(|inner: Plan| inner.kind),
            name().map(PlanKind::Target),
        ))
        .map_with(|kind, e| Plan {
            kind,
            span: sp(e.span()),
        })
        .labelled("plan")
        .boxed();
        primary
            .separated_by(kw("else"))
            .at_least(1)
            .collect::<Vec<_>>()
            .map_with(|mut plans, e| {
                if plans.len() == 1 {
                    plans.pop().unwrap_or(Plan {
                        kind: PlanKind::Error,
                        span: sp(e.span()),
                    })
                } else {
                    Plan {
                        kind: PlanKind::Chain(plans),
                        span: sp(e.span()),
                    }
                }
            })
    })
}

fn quantiles<'t, 's: 't, I>() -> impl Parser<'t, I, Vec<Quantile>, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    percentile()
        .then(lit())
        .map_with(|(which, value), e| Quantile {
            which,
            value,
            span: sp(e.span()),
        })
        .repeated()
        .at_least(1)
        .collect()
}

fn policy_item<'t, 's: 't, I>() -> impl Parser<'t, I, ItemKind, Ex<'t, 's>> + Clone + 't
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> + 't,
{
    let prop = choice((
        kw("owner").ignore_then(string()).map(PolicyPropKind::Owner),
        kw("baseline")
            .ignore_then(name())
            .map(PolicyPropKind::Baseline),
    ))
    .map_with(|kind, e| PolicyProp {
        kind,
        span: sp(e.span()),
    });
    let error = |span| PolicyProp {
        kind: PolicyPropKind::Error,
        span,
    };
    kw("policy")
        .ignore_then(def_name())
        .then(block(statement(prop, "policy property", error)))
        .map(|(name, body)| ItemKind::Policy(Policy { name, body }))
}

fn signal_item<'t, 's: 't, I>() -> impl Parser<'t, I, ItemKind, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let ty = choice((
        kw("enum")
            .ignore_then(list(Token::LBrace, Token::RBrace, key()))
            .map(|(names, _)| TypeKind::Enum(names)),
        name().map(TypeKind::Named),
    ))
    .map_with(|kind, e| Type {
        kind,
        span: sp(e.span()),
    })
    .labelled("type");
    // Any `WORD VALUE` pair up to `default` is a clause; the checker knows
    // which words a source takes (`cost`, `endpoint`, `timeout`).
    let clause = select! { Token::Ident(s) if !is_reserved_word(s) && s != "default" => s }
        .map_with(|s, e| Name {
            text: s.to_owned(),
            span: sp(e.span()),
        })
        .then(lit())
        .map_with(|(name, value), e| SourceClause {
            name,
            value,
            span: sp(e.span()),
        });
    let source = name()
        .then(string().or_not())
        .then(clause.repeated().collect::<Vec<_>>())
        .map_with(|((kind, key), clauses), e| Source {
            kind,
            key,
            clauses,
            span: sp(e.span()),
        })
        .labelled("signal source");
    kw("signal")
        .ignore_then(def_name())
        .then_ignore(just(Token::Colon))
        .then(ty)
        .then(kw("from").ignore_then(source).or_not())
        .then(kw("default").ignore_then(lit()).or_not())
        .map(|(((name, ty), source), default)| {
            ItemKind::Signal(Signal {
                name,
                ty,
                source,
                default,
            })
        })
}

/// `tok/s`, `req/m`.
fn rate_unit<'t, 's: 't, I>() -> impl Parser<'t, I, RateUnit, Ex<'t, 's>> + Clone + 't
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> + 't,
{
    name()
        .then_ignore(just(Token::Slash))
        .then(name())
        .map_with(|(numerator, denominator), e| RateUnit {
            numerator,
            denominator,
            span: sp(e.span()),
        })
}

/// `40 qps`, `600 req/m`, `64 concurrent`.
fn rate_term<'t, 's: 't, I>() -> impl Parser<'t, I, RateTerm, Ex<'t, 's>> + Clone + 't
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> + 't,
{
    let load_unit = choice((rate_unit().map(LoadUnit::Rate), name().map(LoadUnit::Word)));
    lit()
        .then(load_unit.or_not())
        .map_with(|(amount, unit), e| RateTerm {
            amount,
            unit,
            span: sp(e.span()),
        })
}

fn model_item<'t, 's: 't, I>() -> impl Parser<'t, I, ItemKind, Ex<'t, 's>> + Clone + 't
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> + 't,
{
    let price_term = name()
        .or_not()
        .then(lit())
        .map_with(|(kind, amount), e| PriceTerm {
            kind,
            amount,
            span: sp(e.span()),
        });
    let rate_unit = rate_unit();
    let rate_term = rate_term();
    let latency_term = choice((
        kw("ttft")
            .ignore_then(quantiles())
            .map(LatencyTermKind::Ttft),
        kw("decode")
            .ignore_then(lit())
            .then(rate_unit.or_not())
            .map(|(rate, unit)| LatencyTermKind::Decode { rate, unit }),
        quantiles().map(LatencyTermKind::Total),
    ))
    .map_with(|kind, e| LatencyTerm {
        kind,
        span: sp(e.span()),
    });
    let table = name()
        .then(entries())
        .map_with(|(signal, (entries, _)), e| Table {
            signal,
            entries,
            span: sp(e.span()),
        });
    let quality = choice((
        kw("by")
            .ignore_then(table.clone())
            .then(
                kw("adjust")
                    .ignore_then(kw("by"))
                    .ignore_then(table)
                    .or_not(),
            )
            .map(|(by, adjust)| Quality {
                flat: None,
                by: Some(by),
                adjust,
            }),
        lit().map(|flat| Quality {
            flat: Some(flat),
            by: None,
            adjust: None,
        }),
    ));
    let prop = choice((
        kw("provider")
            .ignore_then(name())
            .map(ModelPropKind::Provider),
        kw("endpoint")
            .ignore_then(lit())
            .map(ModelPropKind::Endpoint),
        kw("upstream")
            .ignore_then(lit())
            .map(ModelPropKind::Upstream),
        kw("api_key").ignore_then(lit()).map(ModelPropKind::ApiKey),
        kw("params")
            .ignore_then(params())
            .map(ModelPropKind::Params),
        kw("context")
            .ignore_then(lit())
            .then(name().or_not())
            .map(|(size, unit)| ModelPropKind::Context { size, unit }),
        kw("price")
            .ignore_then(kw("for"))
            .ignore_then(kw("prompts"))
            .ignore_then(cmp_op().map_with(|op, e| (op, sp(e.span()))))
            .then(lit())
            .then(name().or_not())
            .then_ignore(just(Token::Colon))
            .then(
                price_term
                    .clone()
                    .separated_by(just(Token::Comma))
                    .at_least(1)
                    .collect(),
            )
            .map(|((((op, op_span), threshold), unit), terms)| {
                ModelPropKind::PriceTier(PriceTier {
                    op,
                    op_span,
                    threshold,
                    unit,
                    terms,
                })
            }),
        kw("price")
            .ignore_then(
                price_term
                    .separated_by(just(Token::Comma))
                    .at_least(1)
                    .collect(),
            )
            .map(ModelPropKind::Price),
        kw("latency")
            .ignore_then(kw("at"))
            .ignore_then(rate_term.clone())
            .then(
                latency_term
                    .clone()
                    .separated_by(just(Token::Comma))
                    .at_least(1)
                    .collect(),
            )
            .map(|(load, terms)| ModelPropKind::LatencyAt { load, terms }),
        kw("latency")
            .ignore_then(
                latency_term
                    .separated_by(just(Token::Comma))
                    .at_least(1)
                    .collect(),
            )
            .map(ModelPropKind::Latency),
        kw("quality")
            .ignore_then(quality)
            .map(ModelPropKind::Quality),
        kw("fallback")
            .ignore_then(name())
            .map(ModelPropKind::Fallback),
        kw("supports")
            .ignore_then(
                name()
                    .separated_by(just(Token::Comma))
                    .at_least(1)
                    .collect(),
            )
            .map(ModelPropKind::Supports),
        kw("capacity")
            .ignore_then(
                rate_term
                    .clone()
                    .separated_by(just(Token::Comma))
                    .at_least(1)
                    .collect(),
            )
            .map(ModelPropKind::Capacity),
        kw("rate")
            .then(kw("limit"))
            .map(|(a, b)| Span::new(a.start as usize, b.end as usize))
            .then(
                rate_term
                    .separated_by(just(Token::Comma))
                    .at_least(1)
                    .collect(),
            )
            .map(|(keyword, terms)| ModelPropKind::RateLimit { keyword, terms }),
        kw("reasoning")
            .ignore_then(lit())
            .then(
                choice((
                    kw("of")
                        .then(kw("output"))
                        .map_with(|_, e| ReasoningUnit::OfOutput(sp(e.span()))),
                    name().map(ReasoningUnit::Word),
                ))
                .or_not(),
            )
            .map(|(amount, unit)| ModelPropKind::Reasoning { amount, unit }),
    ))
    .map_with(|kind, e| ModelProp {
        kind,
        span: sp(e.span()),
    });
    let error = |span| ModelProp {
        kind: ModelPropKind::Error,
        span,
    };
    kw("model")
        .ignore_then(def_name())
        .then(kw("extends").ignore_then(name()).or_not())
        .then(block(statement(prop, "model property", error)))
        .map(|((name, extends), body)| {
            ItemKind::Model(Model {
                name,
                extends,
                body,
            })
        })
}

fn objective_item<'t, 's: 't, I>() -> impl Parser<'t, I, ItemKind, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    kw("objective")
        .ignore_then(choice((
            kw("weighted")
                .ignore_then(entries())
                .map(|(weights, _)| ObjectiveKind::Weighted(weights)),
            kw("minimize")
                .ignore_then(metric())
                .map(ObjectiveKind::Minimize),
            kw("maximize")
                .ignore_then(metric())
                .map(ObjectiveKind::Maximize),
        )))
        .map(|kind| ItemKind::Objective(Objective { kind }))
}

fn slo_item<'t, 's: 't, I>() -> impl Parser<'t, I, ItemKind, Ex<'t, 's>> + Clone + 't
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> + 't,
{
    let offset = choice((just(Token::Minus).to(true), just(Token::Plus).to(false)))
        .then(lit())
        .map_with(|(negative, value), e| Offset {
            negative,
            value,
            span: sp(e.span()),
        });
    let bound = choice((
        metric()
            .then(offset.or_not())
            .map_with(|(metric, offset), e| Bound::Metric {
                metric,
                offset,
                span: sp(e.span()),
            }),
        lit().map(Bound::Value),
    ));
    let scope = kw("for").ignore_then(choice((
        kw("each")
            .then(kw("slice"))
            .map_with(|_, e| Scope::EachSlice(sp(e.span()))),
        name().map(Scope::Slice),
    )));
    let constraint = metric()
        .then(cmp_op())
        .then(bound)
        .then(scope.or_not())
        .map_with(|(((metric, op), bound), scope), e| Constraint {
            kind: ConstraintKind::Bound {
                metric,
                op,
                bound,
                scope,
            },
            span: sp(e.span()),
        });
    let error = |span| Constraint {
        kind: ConstraintKind::Error,
        span,
    };
    let setting = kw("margin")
        .then(lit())
        .map(|(keyword, value)| ConstraintKind::Margin { keyword, value })
        .or(kw("confidence")
            .then(lit())
            .map(|(keyword, value)| ConstraintKind::Confidence { keyword, value }))
        .map_with(|kind, e| Constraint {
            kind,
            span: sp(e.span()),
        });
    kw("slo")
        .ignore_then(block(statement(
            setting.or(constraint),
            "constraint",
            error,
        )))
        .map(|body| ItemKind::Slo(Slo { body }))
}

fn route_item<'t, 's: 't, I>() -> impl Parser<'t, I, ItemKind, Ex<'t, 's>> + Clone + 't
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> + 't,
{
    let rule = choice((
        kw("when")
            .ignore_then(expr())
            .then_ignore(just(Token::FatArrow))
            .then(plan())
            .map(|(cond, plan)| RuleKind::When { cond, plan }),
        kw("otherwise")
            .then_ignore(just(Token::FatArrow))
            .then(plan())
            .map(|(keyword, plan)| RuleKind::Otherwise { keyword, plan }),
    ))
    .map_with(|kind, e| Rule {
        kind,
        span: sp(e.span()),
    });
    let error = |span| Rule {
        kind: RuleKind::Error,
        span,
    };
    kw("route")
        .ignore_then(block(statement(rule, "rule", error)))
        .map(|body| ItemKind::Route(Route { body }))
}

fn faults_item<'t, 's: 't, I>() -> impl Parser<'t, I, ItemKind, Ex<'t, 's>> + Clone + 't
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> + 't,
{
    let error = |span| FaultProp {
        kind: FaultPropKind::Error,
        span,
    };
    let props = recursive(|props| {
        let prop = choice((
            kw("timeout").ignore_then(lit()).map(FaultPropKind::Timeout),
            kw("ttft")
                .ignore_then(kw("timeout"))
                .ignore_then(lit())
                .map(FaultPropKind::TtftTimeout),
            kw("retry")
                .ignore_then(lit())
                .then_ignore(kw("on"))
                .then(list(Token::LBracket, Token::RBracket, lit()))
                .then(kw("backoff").ignore_then(lit()).or_not())
                .map(|((count, (on, _)), backoff)| FaultPropKind::Retry { count, on, backoff }),
            kw("cooldown")
                .ignore_then(lit())
                .then_ignore(kw("after"))
                .then(lit())
                .then_ignore(kw("failures").or(kw("failure")))
                .map(|(duration, failures)| FaultPropKind::Cooldown { duration, failures }),
            kw("hedge")
                .ignore_then(kw("after"))
                .ignore_then(lit())
                .map(FaultPropKind::Hedge),
            kw("for")
                .ignore_then(name())
                .then(props)
                .map(|(model, body)| FaultPropKind::For { model, body }),
        ))
        .map_with(|kind, e| FaultProp {
            kind,
            span: sp(e.span()),
        });
        block(statement(prop, "fault setting", error)).boxed()
    });
    kw("faults")
        .ignore_then(props)
        .map(|body| ItemKind::Faults(Faults { body }))
}

fn learn_item<'t, 's: 't, I>() -> impl Parser<'t, I, ItemKind, Ex<'t, 's>> + Clone + 't
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> + 't,
{
    let unit =
        select! { Token::Ident(s) if s != "over" && !is_reserved_word(s) => s }.map_with(|s, e| {
            Name {
                text: s.to_owned(),
                span: sp(e.span()),
            }
        });
    let word = |w: &'static str| {
        kw(w).map(move |span| Name {
            text: w.to_owned(),
            span,
        })
    };
    let position = choice((word("below"), word("at"), word("above")));
    let sample_term = lit()
        .then(position.then(rate_term()).or_not())
        .map_with(|(share, at), e| SampleTerm {
            share,
            at,
            span: sp(e.span()),
        });
    let prop = choice((
        kw("explore")
            .ignore_then(lit())
            .then(
                kw("budget")
                    .ignore_then(lit())
                    .then(kw("per").ignore_then(name()).or_not())
                    .or_not(),
            )
            .map(|(share, budget)| {
                let (budget, period) = match budget {
                    Some((b, p)) => (Some(b), p),
                    None => (None, None),
                };
                LearnPropKind::Explore {
                    share,
                    budget,
                    period,
                }
            }),
        kw("drift")
            .ignore_then(name())
            .then(cmp_op())
            .then(lit())
            .then(unit.or_not())
            .then_ignore(kw("over"))
            .then(lit())
            .then_ignore(just(Token::FatArrow))
            .then(name())
            .map(
                |(((((measure, op), threshold), unit), window), action)| LearnPropKind::Drift {
                    measure,
                    op,
                    threshold,
                    unit,
                    window,
                    action,
                },
            ),
        kw("judge")
            .ignore_then(name())
            .then_ignore(kw("sample"))
            .then(
                sample_term
                    .separated_by(just(Token::Comma))
                    .at_least(1)
                    .collect::<Vec<_>>(),
            )
            .map(|(model, sample)| LearnPropKind::Judge { model, sample }),
    ))
    .map_with(|kind, e| LearnProp {
        kind,
        span: sp(e.span()),
    });
    let error = |span| LearnProp {
        kind: LearnPropKind::Error,
        span,
    };
    kw("learn")
        .ignore_then(block(statement(prop, "learn setting", error)))
        .map(|body| ItemKind::Learn(Learn { body }))
}

fn traffic_item<'t, 's: 't, I>() -> impl Parser<'t, I, ItemKind, Ex<'t, 's>> + Clone + 't
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> + 't,
{
    let prop = choice((
        kw("qps").ignore_then(lit()).map(TrafficPropKind::Qps),
        kw("peak").ignore_then(lit()).map(TrafficPropKind::Peak),
        name()
            .then(entries())
            .map(|(signal, (entries, _))| TrafficPropKind::Mix { signal, entries }),
        name()
            .then_ignore(kw("lognormal"))
            .then(quantiles())
            .map(|(signal, quantiles)| TrafficPropKind::Lognormal { signal, quantiles }),
        name()
            .then(kw("uniform"))
            .map(|(signal, keyword)| TrafficPropKind::Uniform { signal, keyword }),
        name()
            .then(lit())
            .map(|(signal, value)| TrafficPropKind::Value { signal, value }),
    ))
    .map_with(|kind, e| TrafficProp {
        kind,
        span: sp(e.span()),
    });
    let error = |span| TrafficProp {
        kind: TrafficPropKind::Error,
        span,
    };
    kw("traffic")
        .ignore_then(def_name())
        .then(choice((
            just(Token::Assign)
                .ignore_then(kw("file"))
                .ignore_then(string())
                .map(TrafficKind::File),
            block(statement(prop, "traffic setting", error)).map(TrafficKind::Inline),
        )))
        .map(|(name, kind)| ItemKind::Traffic(Traffic { name, kind }))
}

fn test_item<'t, 's: 't, I>() -> impl Parser<'t, I, ItemKind, Ex<'t, 's>> + Clone + 't
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> + 't,
{
    let prop = choice((
        kw("given").ignore_then(params()).map(TestPropKind::Given),
        kw("under").ignore_then(name()).map(TestPropKind::Under),
        kw("expect").ignore_then(choice((
            metric()
                .then(cmp_op())
                .then(lit())
                .map(|((metric, op), value)| TestPropKind::ExpectMetric { metric, op, value }),
            plan().map(TestPropKind::ExpectPlan),
        ))),
    ))
    .map_with(|kind, e| TestProp {
        kind,
        span: sp(e.span()),
    });
    let error = |span| TestProp {
        kind: TestPropKind::Error,
        span,
    };
    kw("test")
        .ignore_then(string())
        .then(block(statement(prop, "test statement", error)))
        .map(|(name, body)| ItemKind::Test(Test { name, body }))
}

fn file_parser<'t, 's: 't, I>() -> impl Parser<'t, I, Vec<Item>, Ex<'t, 's>>
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> + 't,
{
    let item_keyword = select! { Token::Ident(s) if ITEM_KEYWORDS.contains(&s) => () };
    // Skips to the next line that starts with an item keyword, or to the
    // newline that ends the input: a junk item never takes the newline
    // before a stretch's end, in a stretch as in the whole file.
    let junk = any()
        .and_is(nl().then(item_keyword.or(end())).not())
        .repeated()
        .at_least(1)
        .to(ItemKind::Error);
    let slice = kw("slice")
        .ignore_then(def_name())
        .then_ignore(just(Token::Assign))
        .then(expr())
        .map(|(name, expr)| ItemKind::Slice(Slice { name, expr }));
    let item = choice((
        policy_item().boxed(),
        signal_item().boxed(),
        model_item().boxed(),
        slice.boxed(),
        objective_item().boxed(),
        slo_item().boxed(),
        route_item().boxed(),
        faults_item().boxed(),
        learn_item().boxed(),
        traffic_item().boxed(),
        test_item().boxed(),
    ))
    .labelled("item (`policy`, `signal`, `model`, `slice`, `objective`, `slo`, `route`, `faults`, `learn`, `traffic` or `test`)")
    .then_ignore(choice((nl(), end())).rewind())
    .recover_with(via_parser(junk))
    .map_with(|kind, e| Item {
        doc: None,
        kind,
        span: sp(e.span()),
    });
    nl().or_not()
        .ignore_then(item.separated_by(nl()).allow_trailing().collect::<Vec<_>>())
        .then_ignore(end())
}

// ------------------------------------------------------------------ literals

/// Splits `12_000.5ms` into `Some(12000.5)` and `"ms"`.
pub fn split_number(text: &str) -> (Option<f64>, String) {
    let digits_end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '_' || (c == '.' && i > 0)))
        .map_or(text.len(), |(i, _)| i);
    let (digits, suffix) = text.split_at(digits_end);
    let cleaned: String = digits.chars().filter(|&c| c != '_').collect();
    let value = cleaned.parse::<f64>().ok().filter(|v| v.is_finite());
    (value, suffix.to_owned())
}

/// Splits `$1.5k/Mtok` into `Some(1500.0)` and `Some("Mtok")`.
pub fn split_money(text: &str) -> (Option<f64>, Option<String>) {
    let body = text.strip_prefix('$').unwrap_or(text);
    let (amount, per) = match body.split_once('/') {
        Some((a, p)) => (a, Some(p.to_owned())),
        None => (body, None),
    };
    let (value, suffix) = split_number(amount);
    let scale = match suffix.as_str() {
        "" => Some(1.0),
        "k" => Some(1e3),
        "M" => Some(1e6),
        _ => None,
    };
    let value = value
        .zip(scale)
        .map(|(v, s)| v * s)
        .filter(|v| v.is_finite());
    (value, per)
}

/// `text`, cut to a length that fits in a message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(24) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
}

/// The value of a string literal: quotes removed, escapes resolved.
pub fn unescape(text: &str) -> String {
    let inner = text.strip_prefix('"').unwrap_or(text);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}
