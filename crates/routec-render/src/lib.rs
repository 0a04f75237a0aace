//! The renderers of routec: pure functions from typed values to text.
//!
//! - Diagnostics: `human` (ariadne), `json` and `sarif`. Each takes the
//!   diagnostics of one policy with its [`SourceMap`] (the policy and the
//!   files it reads: a diagnostic in a recorded traffic file is located in
//!   that file); the JSON and SARIF renderers also combine several
//!   policies into one document.
//! - Reports: [`test`], [`simulate`], [`evaluate`] (offline replay),
//!   [`explain`] and [`diff`], in human form and as JSON (and markdown for
//!   `diff`).
//!
//! Positions are computed here, at the boundary, from byte spans: 1-based
//! lines and 1-based columns counted in characters. Numbers are rounded
//! here too ([`round`], [`ms`], [`finite`]): the libraries keep raw values.
//!
//! [`text_table`] aligns the tables of the human reports (`simulate`,
//! `evaluate`, `diff`).

pub mod diff;
pub mod evaluate;
pub mod explain;
pub mod human;
pub mod json;
pub mod load;
pub mod sarif;
pub mod simulate;
pub mod test;

use routec_syntax::{Diagnostic, LineIndex, SourceMap, Span};

/// The diagnostics of one policy, with the files they point into.
#[derive(Clone, Copy, Debug)]
pub struct FileDiagnostics<'a> {
    pub files: &'a SourceMap,
    pub diagnostics: &'a [Diagnostic],
}

/// Milliseconds, for reports: seconds × 1000, rounded to 0.001 ms.
pub fn ms(seconds: f64) -> f64 {
    round(seconds * 1000.0, 3)
}

/// [`round`]ed for a JSON report, or `null` when not finite.
pub fn finite(x: f64, digits: i32) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!(round(x, digits))
    } else {
        serde_json::Value::Null
    }
}

/// Rounds to `digits` decimals (reports only: keeps JSON short and stable).
pub fn round(x: f64, digits: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// Pretty JSON with a final newline.
pub fn pretty(json: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(json).unwrap_or_default();
    text.push('\n');
    text
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
