//! The SARIF 2.1.0 renderer, for code-scanning services: one run of the
//! `routec` tool, a rule for every code used, a result per diagnostic with
//! its primary location, related locations for secondary labels, and fixes
//! for machine-applicable suggestions. Columns count Unicode code points.

use std::collections::BTreeMap;

use routec_syntax::{FileId, LineIndex, Severity, Span};
use serde::Serialize;

use super::{FileDiagnostics, Region};

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
pub const VERSION: &str = "2.1.0";

#[derive(Debug, Serialize)]
pub struct Log {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub version: &'static str,
    pub runs: Vec<Run>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub tool: Tool,
    pub column_kind: &'static str,
    pub results: Vec<SarifResult>,
}

#[derive(Debug, Serialize)]
pub struct Tool {
    pub driver: Driver,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Driver {
    pub name: &'static str,
    pub version: &'static str,
    pub information_uri: &'static str,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub id: String,
    pub short_description: Message,
    pub default_configuration: Configuration,
}

#[derive(Debug, Serialize)]
pub struct Configuration {
    pub level: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Message {
    pub text: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifResult {
    pub rule_id: String,
    pub rule_index: usize,
    pub level: &'static str,
    pub message: Message,
    pub locations: Vec<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_locations: Vec<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<Fix>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<usize>,
    pub physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalLocation {
    pub artifact_location: ArtifactLocation,
    pub region: SarifRegion,
}

#[derive(Debug, Serialize)]
pub struct ArtifactLocation {
    pub uri: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifRegion {
    pub start_line: usize,
    pub start_column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fix {
    pub description: Message,
    pub artifact_changes: Vec<ArtifactChange>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactChange {
    pub artifact_location: ArtifactLocation,
    pub replacements: Vec<Replacement>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    pub deleted_region: SarifRegion,
    pub inserted_content: Content,
}

#[derive(Debug, Serialize)]
pub struct Content {
    pub text: String,
}

/// The diagnostics catalog: a `## CODE: title` heading for every code.
const CATALOG: &str = include_str!("../../../docs/diagnostics.md");

/// A short description of a diagnostic code, for the rule table: the title
/// of its entry in `docs/diagnostics.md`.
pub fn describe(code: &str) -> Option<&'static str> {
    CATALOG.lines().find_map(|line| {
        let rest = line.strip_prefix("## ")?.strip_prefix(code)?;
        rest.strip_prefix(": ").map(str::trim)
    })
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A relative URI reference for a path: `\` becomes `/`, and bytes outside
/// the unreserved set are percent-encoded.
pub fn path_to_uri(path: &str) -> String {
    let mut uri = String::with_capacity(path.len());
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

fn region(index: &LineIndex, source: &str, span: Span) -> SarifRegion {
    let r = Region::of(index, source, span);
    SarifRegion {
        start_line: r.line,
        start_column: r.column,
        end_line: r.end_line,
        end_column: r.end_column,
    }
}

fn physical(uri: &str, index: &LineIndex, source: &str, span: Span) -> PhysicalLocation {
    PhysicalLocation {
        artifact_location: ArtifactLocation {
            uri: uri.to_owned(),
        },
        region: region(index, source, span),
    }
}

/// The SARIF log for the diagnostics of several files.
pub fn log(files: &[FileDiagnostics<'_>]) -> Log {
    // Rules in code order, each described once.
    let mut rule_table: BTreeMap<&'static str, (String, Severity)> = BTreeMap::new();
    for d in files.iter().flat_map(|f| f.diagnostics) {
        rule_table.entry(d.code).or_insert_with(|| {
            let text = describe(d.code).map_or_else(|| d.message.clone(), str::to_owned);
            (text, d.severity)
        });
    }
    let rule_index: BTreeMap<&str, usize> = rule_table
        .keys()
        .enumerate()
        .map(|(i, code)| (*code, i))
        .collect();
    let rules = rule_table
        .iter()
        .map(|(code, (text, severity))| Rule {
            id: (*code).to_owned(),
            short_description: Message { text: text.clone() },
            default_configuration: Configuration {
                level: level(*severity),
            },
        })
        .collect();

    let mut results = Vec::new();
    for unit in files {
        let indexes: Vec<LineIndex> = unit
            .files
            .iter()
            .map(|(_, _, text)| LineIndex::new(text))
            .collect();
        let empty = LineIndex::new("");
        let index_of = |f: FileId| indexes.get(f.0 as usize).unwrap_or(&empty);
        let at = |f: FileId, span: Span| {
            physical(
                &path_to_uri(unit.files.name(f)),
                index_of(f),
                unit.files.text(f),
                span,
            )
        };
        for d in unit.diagnostics {
            let uri = path_to_uri(unit.files.name(d.file));
            let (index, source) = (index_of(d.file), unit.files.text(d.file));
            let mut text = d.message.clone();
            if let Some(help) = &d.help {
                text.push_str(&format!("\nhelp: {help}"));
            }
            results.push(SarifResult {
                rule_id: d.code.to_owned(),
                rule_index: rule_index.get(d.code).copied().unwrap_or(0),
                level: level(d.severity),
                message: Message { text },
                locations: vec![Location {
                    id: None,
                    physical_location: at(d.file, d.span),
                    message: d.label.clone().map(|text| Message { text }),
                }],
                related_locations: d
                    .labels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| Location {
                        id: Some(i),
                        physical_location: at(l.file, l.span),
                        message: Some(Message {
                            text: l.message.clone(),
                        }),
                    })
                    .collect(),
                fixes: d
                    .suggestions
                    .iter()
                    .map(|s| Fix {
                        description: Message {
                            text: if s.message.is_empty() {
                                format!("replace with `{}`", s.replacement)
                            } else {
                                s.message.clone()
                            },
                        },
                        artifact_changes: vec![ArtifactChange {
                            artifact_location: ArtifactLocation { uri: uri.clone() },
                            replacements: vec![Replacement {
                                deleted_region: region(index, source, s.span),
                                inserted_content: Content {
                                    text: s.replacement.clone(),
                                },
                            }],
                        }],
                    })
                    .collect(),
            });
        }
    }

    Log {
        schema: SCHEMA,
        version: VERSION,
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "routec",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: env!("CARGO_PKG_REPOSITORY"),
                    rules,
                },
            },
            column_kind: "unicodeCodePoints",
            results,
        }],
    }
}

/// The SARIF log as pretty-printed JSON, with a final newline.
pub fn render(files: &[FileDiagnostics<'_>]) -> String {
    let mut text = serde_json::to_string_pretty(&log(files)).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_short_description() {
        for code in routec_syntax::codes::ALL
            .iter()
            .chain(routec_check::codes::ALL)
        {
            assert!(describe(code).is_some_and(|d| !d.is_empty()), "{code}");
        }
        assert_eq!(describe("E0001"), Some("syntax error"));
        assert_eq!(describe("E9999"), None);
    }

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(path_to_uri("a b/c.route"), "a%20b/c.route");
        assert_eq!(path_to_uri(r"dir\é.route"), "dir/%C3%A9.route");
    }
}
