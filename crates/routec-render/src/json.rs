//! The JSON renderer: one flat array of diagnostics over all files, with
//! 1-based lines and character columns (ends exclusive) and byte offsets.

use routec_syntax::{Diagnostic, FileId, LineIndex, SourceMap, Span};
use serde::Serialize;

use super::{FileDiagnostics, Region};

#[derive(Clone, Debug, Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// Byte offset of the start of the primary span.
    pub start: u32,
    /// Byte offset just past the end of the primary span.
    pub end: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<JsonLabel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<JsonSuggestion>,
}

#[derive(Clone, Debug, Serialize)]
pub struct JsonLabel {
    /// The label's file, when it is not the diagnostic's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub message: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub start: u32,
    pub end: u32,
}

/// A machine-applicable edit: replace the bytes `start..end` (also given as
/// lines and columns) with `replacement`.
#[derive(Clone, Debug, Serialize)]
pub struct JsonSuggestion {
    pub message: String,
    pub replacement: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub start: u32,
    pub end: u32,
}

struct Located {
    region: Region,
    start: u32,
    end: u32,
}

fn locate(index: &LineIndex, source: &str, span: Span) -> Located {
    Located {
        region: Region::of(index, source, span),
        start: span.start,
        end: span.end,
    }
}

/// The JSON objects for the diagnostics of one policy (each names its
/// file).
pub fn diagnostics(files: &SourceMap, diagnostics: &[Diagnostic]) -> Vec<JsonDiagnostic> {
    let indexes: Vec<LineIndex> = files
        .iter()
        .map(|(_, _, text)| LineIndex::new(text))
        .collect();
    let empty = LineIndex::new("");
    let index_of = |f: FileId| indexes.get(f.0 as usize).unwrap_or(&empty);
    diagnostics
        .iter()
        .map(|d| {
            let (index, source) = (index_of(d.file), files.text(d.file));
            let at = locate(index, source, d.span);
            JsonDiagnostic {
                file: files.name(d.file).to_owned(),
                severity: d.severity.as_str(),
                code: d.code,
                message: d.message.clone(),
                line: at.region.line,
                column: at.region.column,
                end_line: at.region.end_line,
                end_column: at.region.end_column,
                start: at.start,
                end: at.end,
                label: d.label.clone(),
                help: d.help.clone(),
                labels: d
                    .labels
                    .iter()
                    .map(|l| {
                        let at = locate(index_of(l.file), files.text(l.file), l.span);
                        JsonLabel {
                            file: (l.file != d.file).then(|| files.name(l.file).to_owned()),
                            message: l.message.clone(),
                            line: at.region.line,
                            column: at.region.column,
                            end_line: at.region.end_line,
                            end_column: at.region.end_column,
                            start: at.start,
                            end: at.end,
                        }
                    })
                    .collect(),
                suggestions: d
                    .suggestions
                    .iter()
                    .map(|s| {
                        let at = locate(index, source, s.span);
                        JsonSuggestion {
                            message: s.message.clone(),
                            replacement: s.replacement.clone(),
                            line: at.region.line,
                            column: at.region.column,
                            end_line: at.region.end_line,
                            end_column: at.region.end_column,
                            start: at.start,
                            end: at.end,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// One pretty-printed JSON array over all files, with a final newline.
pub fn render(files: &[FileDiagnostics<'_>]) -> String {
    let all: Vec<JsonDiagnostic> = files
        .iter()
        .flat_map(|f| diagnostics(f.files, f.diagnostics))
        .collect();
    let mut text = serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".to_owned());
    text.push('\n');
    text
}
