//! Renderers of diagnostics: `human` (ariadne), `json` and `sarif`. Each
//! takes the diagnostics of one file with its path and text; the JSON and
//! SARIF renderers also combine several files into one document.
//!
//! Positions are computed here, at the boundary, from byte spans: 1-based
//! lines and 1-based columns counted in characters.
//!
//! [`text_table`] aligns the tables of the human reports (`simulate`,
//! `evaluate`, `diff`).

pub mod diff;
pub mod human;
pub mod json;
pub mod sarif;

use routec_syntax::{Diagnostic, LineIndex, Span};

/// The diagnostics of one file, with what the renderers need to locate them.
#[derive(Clone, Copy, Debug)]
pub struct FileDiagnostics<'a> {
    /// The path as the user gave it.
    pub path: &'a str,
    pub source: &'a str,
    pub diagnostics: &'a [Diagnostic],
}

/// A span as 1-based lines and character columns; the end is exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl Region {
    pub fn of(index: &LineIndex, source: &str, span: Span) -> Region {
        let len = source.len();
        let start = (span.start as usize).min(len);
        let end = (span.end as usize).clamp(start, len);
        let (line, column) = index.line_col_human(start);
        let (end_line, end_column) = index.line_col_human(end);
        Region {
            line,
            column,
            end_line,
            end_column,
        }
    }
}

/// `2 errors, 1 warning`
pub fn count_summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    match (errors, warnings) {
        (0, w) => plural(w, "warning"),
        (e, 0) => plural(e, "error"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}

/// Aligns `rows` into columns two spaces apart, each line after `indent`:
/// the first `left` columns are left-aligned, the rest right-aligned.
/// Trailing spaces are trimmed; every line ends with `\n`.
pub fn text_table(rows: &[Vec<String>], left: usize, indent: &str) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |x| x.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from(indent);
        for (c, cell) in r.iter().enumerate() {
            let pad = " ".repeat(widths[c].saturating_sub(cell.chars().count()));
            if c > 0 {
                line.push_str("  ");
            }
            if c < left {
                line.push_str(cell);
                line.push_str(&pad);
            } else {
                line.push_str(&pad);
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
