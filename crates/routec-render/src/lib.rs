//! The renderers of routec: pure functions from typed values to text.
//!
//! - Diagnostics: `human` (ariadne), `json` and `sarif`. Each takes the
//!   diagnostics of one policy with its [`SourceMap`] (the policy and the
//!   files it reads: a diagnostic in a recorded traffic file is located in
//!   that file); the JSON and SARIF renderers also combine several
//!   policies into one document.
//! - Reports: [`test`], [`simulate`], [`evaluate`] (offline replay),
//!   [`offpolicy`] (estimates from a decision log),
//!   [`explain`] and [`diff`], in human form and as JSON (and markdown for
//!   `diff`); [`predicted`], the figures `compile` prints.
//!
//! Positions are computed here, at the boundary, from byte spans: 1-based
//! lines and 1-based columns counted in characters. Numbers are rounded
//! here too ([`round`], [`ms`], [`finite`]): the libraries keep raw values.
//! Human reports write durations in the unit their magnitude calls for
//! ([`duration`]: `304ms`, `8.13s`, `8.95h`, never `32210518ms`).
//!
//! [`text_table`] aligns the tables of the human reports (`simulate`,
//! `evaluate`, `diff`).

pub mod diff;
pub mod evaluate;
pub mod explain;
pub mod human;
pub mod json;
pub mod load;
pub mod offpolicy;
pub mod pacing;
pub mod predicted;
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

/// A duration for a human report, in the unit its magnitude calls for:
/// `0.42ms`, `99ms`, `304ms`, `1.00s`, `15.5s`, `12.5m`, `8.95h`, `2.10d`:
/// three significant digits (whole milliseconds from 10ms to 1s). JSON reports keep one fixed unit (milliseconds).
pub fn duration(seconds: f64) -> String {
    duration_with(seconds, 0)
}

/// [`duration`] with `extra` more decimals (to tell apart two figures that
/// round to the same text).
pub fn duration_with(seconds: f64, extra: usize) -> String {
    if !seconds.is_finite() {
        return "-".into();
    }
    let x = seconds.abs();
    let (value, unit) = if x == 0.0 {
        (0.0, "ms")
    } else if x < 0.9995 {
        (seconds * 1e3, "ms")
    } else if x < 59.95 {
        (seconds, "s")
    } else if x < 3597.0 {
        (seconds / 60.0, "m")
    } else if x < 86_220.0 {
        (seconds / 3600.0, "h")
    } else {
        (seconds / 86_400.0, "d")
    };
    let v = value.abs();
    let decimals = if v < 10.0 {
        2
    } else if v < 100.0 && unit != "ms" {
        1
    } else {
        0
    } + extra;
    if value == 0.0 {
        return "0ms".into();
    }
    format!("{value:.decimals$}{unit}")
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

#[cfg(test)]
mod tests {
    use super::{duration, duration_with};

    #[test]
    fn durations_take_the_unit_of_their_magnitude() {
        let cases = [
            (0.0, "0ms"),
            (0.00042, "0.42ms"),
            (0.0031, "3.10ms"),
            (0.304, "304ms"),
            (0.0993, "99ms"),
            (0.99949, "999ms"),
            (0.9996, "1.00s"),
            (8.128, "8.13s"),
            (15.455, "15.5s"),
            (30.0, "30.0s"),
            (59.96, "1.00m"),
            (750.0, "12.5m"),
            (32_210.518, "8.95h"),
            (181_440.0, "2.10d"),
            (-0.25, "-250ms"),
            (f64::NAN, "-"),
        ];
        for (seconds, text) in cases {
            assert_eq!(duration(seconds), text, "{seconds}s");
        }
        assert_eq!(duration_with(8.128, 1), "8.128s");
        assert_eq!(duration_with(0.304, 1), "304.0ms");
    }
}
