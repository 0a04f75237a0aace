//! Folding ranges: blocks and bracketed lists over several lines, and runs
//! of two or more comment lines.

use routec_syntax::Span;
use routec_syntax::lexer::{Token, lex};

use crate::{Analysis, Fold, FoldKind};

pub(crate) fn folding_ranges(analysis: &Analysis) -> Vec<Fold> {
    let lines = analysis.line_index();
    let line = |offset: u32| lines.line_col(offset as usize).line;
    let mut out = Vec::new();
    let mut open: Vec<Span> = Vec::new();
    // The current run of comment-only lines: (first comment, last comment, last line).
    let mut run: Option<(Span, Span, u32)> = None;
    let mut line_has_code = false;
    let flush = |run: &mut Option<(Span, Span, u32)>, out: &mut Vec<Fold>| {
        if let Some((first, last, _)) = run.take()
            && line(first.start) < line(last.start)
        {
            out.push(Fold {
                span: first.cover(last),
                kind: FoldKind::Comment,
            });
        }
    };
    for (token, span) in lex(analysis.text()) {
        match token {
            Token::Newline => {
                line_has_code = false;
                continue;
            }
            Token::Comment(_) | Token::DocComment(_) if !line_has_code => {
                let l = line(span.start);
                run = match run {
                    Some((first, _, last_line)) if last_line + 1 == l => Some((first, span, l)),
                    other => {
                        let mut other = other;
                        flush(&mut other, &mut out);
                        Some((span, span, l))
                    }
                };
                continue;
            }
            Token::Comment(_) | Token::DocComment(_) => continue,
            _ => {}
        }
        line_has_code = true;
        flush(&mut run, &mut out);
        match token {
            Token::LBrace | Token::LBracket | Token::LParen => open.push(span),
            Token::RBrace | Token::RBracket | Token::RParen => {
                if let Some(start) = open.pop()
                    && line(start.start) < line(span.start)
                {
                    out.push(Fold {
                        span: start.cover(span),
                        kind: FoldKind::Region,
                    });
                }
            }
            _ => {}
        }
    }
    flush(&mut run, &mut out);
    out.sort_by_key(|f| (f.span.start, f.span.end));
    out
}
