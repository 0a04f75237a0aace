//! `routec-ide` results to LSP types (`to_proto`). Positions go through the
//! snapshot's [`LineMap`](crate::convert::LineMap).

use std::collections::HashMap;

use routec_ide as ide;
use routec_syntax::{Diagnostic, Severity, Span};
use tower_lsp_server::ls_types::{
    self as lsp, CodeActionOrCommand, CompletionItemKind, CompletionTextEdit,
    DiagnosticRelatedInformation, DiagnosticSeverity, FoldingRangeKind, InsertTextFormat, Location,
    NumberOrString, SemanticTokenModifier, SemanticTokenType, SemanticTokensLegend, Uri,
    WorkspaceEdit,
};

use crate::capabilities::Caps;
use crate::convert::LineMap;
use crate::documents::Snapshot;

/// The legend of the semantic tokens, from `routec-ide`'s kinds and
/// modifiers (the token indices refer to it).
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: ide::SEMANTIC_TOKEN_KINDS
            .iter()
            .map(|k| SemanticTokenType::new(k))
            .collect(),
        token_modifiers: ide::SEMANTIC_TOKEN_MODIFIERS
            .iter()
            .map(|m| SemanticTokenModifier::new(m))
            .collect(),
    }
}

/// A diagnostic; its secondary labels become related information, or, for
/// a client without `relatedInformation`, lines of the message
/// (`12:5: first defined here`, 1-based, in the negotiated columns).
pub fn diagnostic(uri: &Uri, lines: &LineMap, d: &Diagnostic, caps: &Caps) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if let Some(label) = &d.label {
        message.push_str(&format!("\n{label}"));
    }
    if !caps.related_information {
        for l in &d.labels {
            let at = lines.position(l.span.start as usize);
            message.push_str(&format!(
                "\n{}:{}: {}",
                at.line + 1,
                at.character + 1,
                l.message
            ));
        }
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .map(|l| DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), lines.range(l.span)),
            message: l.message.clone(),
        })
        .collect();
    lsp::Diagnostic {
        range: lines.range(d.span),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.to_owned())),
        source: Some("routec".to_owned()),
        message,
        related_information: (caps.related_information && !related.is_empty()).then_some(related),
        ..lsp::Diagnostic::default()
    }
}

/// A hover in markdown, or in plain text for a client that does not list
/// markdown first in `hover.contentFormat`.
pub fn hover(lines: &LineMap, h: ide::Hover, caps: &Caps) -> lsp::Hover {
    let (kind, value) = if caps.hover_markdown {
        (lsp::MarkupKind::Markdown, h.markdown.clone())
    } else {
        (lsp::MarkupKind::PlainText, h.plain_text())
    };
    lsp::Hover {
        contents: lsp::HoverContents::Markup(lsp::MarkupContent { kind, value }),
        range: Some(lines.range(h.range)),
    }
}

/// A completion item. Snippets go as snippets only to a client with
/// `snippetSupport`; the others get their plain text (placeholders
/// replaced by their defaults). Kinds the client does not know are
/// replaced (see [`Caps::completion_kind`]).
pub fn completion(lines: &LineMap, c: ide::Completion, caps: &Caps) -> lsp::CompletionItem {
    let kind = match c.kind {
        ide::CompletionKind::Keyword => CompletionItemKind::KEYWORD,
        ide::CompletionKind::Property => CompletionItemKind::PROPERTY,
        ide::CompletionKind::Signal => CompletionItemKind::VARIABLE,
        ide::CompletionKind::EnumValue => CompletionItemKind::ENUM_MEMBER,
        ide::CompletionKind::Model => CompletionItemKind::CLASS,
        ide::CompletionKind::Slice => CompletionItemKind::MODULE,
        ide::CompletionKind::Traffic => CompletionItemKind::FUNCTION,
        ide::CompletionKind::Unit => CompletionItemKind::UNIT,
        ide::CompletionKind::Snippet => CompletionItemKind::SNIPPET,
    };
    let snippet = c.kind == ide::CompletionKind::Snippet && caps.snippets;
    let new_text = if snippet {
        c.insert_text.clone().unwrap_or_else(|| c.label.clone())
    } else {
        c.plain_text()
    };
    lsp::CompletionItem {
        kind: caps.completion_kind(kind),
        detail: c.detail,
        insert_text_format: Some(if snippet {
            InsertTextFormat::SNIPPET
        } else {
            InsertTextFormat::PLAIN_TEXT
        }),
        text_edit: Some(CompletionTextEdit::Edit(lsp::TextEdit::new(
            lines.range(c.replace),
            new_text,
        ))),
        label: c.label,
        ..lsp::CompletionItem::default()
    }
}

pub fn location(snap: &Snapshot, span: Span) -> Location {
    Location::new(snap.uri.clone(), snap.lines.range(span))
}

pub fn text_edit(lines: &LineMap, e: ide::TextEdit) -> lsp::TextEdit {
    lsp::TextEdit::new(lines.range(e.span), e.new_text)
}

pub fn workspace_edit(snap: &Snapshot, edits: Vec<ide::TextEdit>) -> WorkspaceEdit {
    let edits = edits
        .into_iter()
        .map(|e| text_edit(&snap.lines, e))
        .collect();
    WorkspaceEdit {
        changes: Some(HashMap::from([(snap.uri.clone(), edits)])),
        ..WorkspaceEdit::default()
    }
}

fn symbol_kind(kind: ide::SymbolKind) -> lsp::SymbolKind {
    match kind {
        ide::SymbolKind::Policy => lsp::SymbolKind::MODULE,
        ide::SymbolKind::Signal => lsp::SymbolKind::VARIABLE,
        ide::SymbolKind::EnumValue => lsp::SymbolKind::ENUM_MEMBER,
        ide::SymbolKind::Model => lsp::SymbolKind::CLASS,
        ide::SymbolKind::Slice => lsp::SymbolKind::NAMESPACE,
        ide::SymbolKind::Objective => lsp::SymbolKind::OPERATOR,
        ide::SymbolKind::Slo => lsp::SymbolKind::STRUCT,
        ide::SymbolKind::Constraint => lsp::SymbolKind::FIELD,
        ide::SymbolKind::Route => lsp::SymbolKind::STRUCT,
        ide::SymbolKind::Rule => lsp::SymbolKind::EVENT,
        ide::SymbolKind::Faults => lsp::SymbolKind::STRUCT,
        ide::SymbolKind::Learn => lsp::SymbolKind::STRUCT,
        ide::SymbolKind::Traffic => lsp::SymbolKind::FUNCTION,
        ide::SymbolKind::Test => lsp::SymbolKind::METHOD,
    }
}

#[expect(
    deprecated,
    reason = "`DocumentSymbol::deprecated` must still be written; `tags` replaces it"
)]
pub fn document_symbol(lines: &LineMap, s: ide::Symbol, caps: &Caps) -> lsp::DocumentSymbol {
    let children: Vec<lsp::DocumentSymbol> = s
        .children
        .into_iter()
        .map(|c| document_symbol(lines, c, caps))
        .collect();
    lsp::DocumentSymbol {
        // Clients reject empty names.
        name: if s.name.is_empty() {
            "_".to_owned()
        } else {
            s.name
        },
        detail: s.detail,
        kind: caps.symbol_kind(symbol_kind(s.kind), false),
        tags: None,
        deprecated: None,
        range: lines.range(s.span),
        selection_range: lines.range(s.selection),
        children: (!children.is_empty()).then_some(children),
    }
}

/// Document symbols as a flat list, for a client without
/// `hierarchicalDocumentSymbolSupport`: every symbol, parents before their
/// children, each child naming its parent as its container.
#[expect(
    deprecated,
    reason = "`SymbolInformation::deprecated` must still be written; `tags` replaces it"
)]
pub fn flat_symbols(
    snap: &Snapshot,
    symbols: Vec<ide::Symbol>,
    caps: &Caps,
) -> Vec<lsp::SymbolInformation> {
    fn walk(
        snap: &Snapshot,
        s: ide::Symbol,
        container: Option<&str>,
        caps: &Caps,
        out: &mut Vec<lsp::SymbolInformation>,
    ) {
        let name = if s.name.is_empty() {
            "_".to_owned()
        } else {
            s.name
        };
        out.push(lsp::SymbolInformation {
            name: name.clone(),
            kind: caps.symbol_kind(symbol_kind(s.kind), false),
            tags: None,
            deprecated: None,
            location: location(snap, s.span),
            container_name: container.map(str::to_owned),
        });
        for c in s.children {
            walk(snap, c, Some(&name), caps, out);
        }
    }
    let mut out = Vec::new();
    for s in symbols {
        walk(snap, s, None, caps, &mut out);
    }
    out
}

pub fn workspace_symbol(snap: &Snapshot, s: ide::Symbol, caps: &Caps) -> lsp::WorkspaceSymbol {
    lsp::WorkspaceSymbol {
        name: if s.name.is_empty() {
            "_".to_owned()
        } else {
            s.name
        },
        kind: caps.symbol_kind(symbol_kind(s.kind), true),
        tags: None,
        container_name: None,
        location: lsp::OneOf::Left(location(snap, s.selection)),
        data: None,
    }
}

/// Semantic tokens in the LSP's relative encoding: each token's line and
/// start are deltas from the previous token's, lengths and columns in the
/// negotiated unit. `routec-ide` gives sorted tokens that never span a
/// line break.
pub fn semantic_tokens(
    lines: &LineMap,
    text: &str,
    tokens: &[ide::SemanticToken],
) -> Vec<lsp::SemanticToken> {
    let mut out = Vec::with_capacity(tokens.len());
    let (mut line, mut col) = (0u32, 0u32);
    for t in tokens {
        let start = lines.position(t.span.start as usize);
        let length = lines.len_of(text, t.span);
        if length == 0 || (start.line, start.character) < (line, col) {
            continue;
        }
        let delta_line = start.line - line;
        let delta_start = if delta_line == 0 {
            start.character - col
        } else {
            start.character
        };
        out.push(lsp::SemanticToken {
            delta_line,
            delta_start,
            length,
            token_type: t.kind.index(),
            token_modifiers_bitset: t.modifiers,
        });
        line = start.line;
        col = start.character;
    }
    out
}

/// A folding range; `None` when it covers a single line. Blocks end on the
/// line before their closing bracket so the bracket stays visible.
pub fn folding_range(lines: &LineMap, text: &str, f: ide::Fold) -> Option<lsp::FoldingRange> {
    let (start, end) = (f.span.start as usize, f.span.end as usize);
    let last = lines.position(end.saturating_sub(1).max(start)).line;
    let start = lines.position(start).line;
    let (end_line, kind) = match f.kind {
        ide::FoldKind::Comment => (last, Some(FoldingRangeKind::Comment)),
        ide::FoldKind::Region => {
            let closes = text
                .get(..end)
                .and_then(|s| s.trim_end().chars().last())
                .is_some_and(|c| matches!(c, '}' | ']' | ')'));
            (if closes { last.saturating_sub(1) } else { last }, None)
        }
    };
    (end_line > start).then(|| lsp::FoldingRange {
        start_line: start,
        end_line,
        kind,
        ..lsp::FoldingRange::default()
    })
}

pub fn code_action(
    snap: &Snapshot,
    a: ide::CodeAction,
    context: &[lsp::Diagnostic],
) -> CodeActionOrCommand {
    let diagnostics: Vec<lsp::Diagnostic> = match (a.diagnostic_code, a.diagnostic_span) {
        (Some(code), Some(span)) => {
            let range = snap.lines.range(span);
            context
                .iter()
                .filter(|d| {
                    d.range == range && d.code == Some(NumberOrString::String(code.to_owned()))
                })
                .cloned()
                .collect()
        }
        _ => Vec::new(),
    };
    CodeActionOrCommand::CodeAction(lsp::CodeAction {
        title: a.title,
        kind: Some(lsp::CodeActionKind::from(a.kind.to_owned())),
        diagnostics: (!diagnostics.is_empty()).then_some(diagnostics),
        edit: Some(workspace_edit(snap, a.edits)),
        is_preferred: a.preferred.then_some(true),
        ..lsp::CodeAction::default()
    })
}

pub fn inlay_hint(lines: &LineMap, h: ide::InlayHint) -> lsp::InlayHint {
    lsp::InlayHint {
        position: lines.position(h.offset),
        label: lsp::InlayHintLabel::String(h.label),
        kind: None,
        text_edits: None,
        tooltip: h.tooltip.map(lsp::InlayHintTooltip::String),
        padding_left: Some(true),
        padding_right: None,
        data: None,
    }
}

pub fn code_lens(snap: &Snapshot, l: ide::CodeLens) -> lsp::CodeLens {
    lsp::CodeLens {
        range: snap.lines.range(l.span),
        command: Some(lsp::Command {
            title: l.title,
            command: l.command.to_owned(),
            arguments: Some(vec![serde_json::Value::String(
                snap.uri.as_str().to_owned(),
            )]),
        }),
        data: None,
    }
}
