//! What the client said it supports at `initialize`, read once, and the
//! choices that follow from it: every answer honors these, so a client
//! never receives what it did not declare (snippets, markdown, symbol or
//! completion kinds outside its value set, related information, ...).
//!
//! Where the protocol gives a default for an absent capability, it is used
//! (completion item kinds `Text` to `Reference` and symbol kinds `File` to
//! `Array`, the kinds of LSP's first version); where it gives none, the
//! conservative choice is made (plain text for hovers, no snippets).

use tower_lsp_server::ls_types::{ClientCapabilities, CompletionItemKind, MarkupKind, SymbolKind};

use crate::convert::Encoding;

/// The completion item kinds of LSP 1.0, `Text` (1) to `Reference` (18):
/// what a client that sends no value set knows.
const LSP1_COMPLETION_KINDS: [CompletionItemKind; 18] = [
    CompletionItemKind::TEXT,
    CompletionItemKind::METHOD,
    CompletionItemKind::FUNCTION,
    CompletionItemKind::CONSTRUCTOR,
    CompletionItemKind::FIELD,
    CompletionItemKind::VARIABLE,
    CompletionItemKind::CLASS,
    CompletionItemKind::INTERFACE,
    CompletionItemKind::MODULE,
    CompletionItemKind::PROPERTY,
    CompletionItemKind::UNIT,
    CompletionItemKind::VALUE,
    CompletionItemKind::ENUM,
    CompletionItemKind::KEYWORD,
    CompletionItemKind::SNIPPET,
    CompletionItemKind::COLOR,
    CompletionItemKind::FILE,
    CompletionItemKind::REFERENCE,
];

/// The symbol kinds of LSP 1.0, `File` (1) to `Array` (18).
const LSP1_SYMBOL_KINDS: [SymbolKind; 18] = [
    SymbolKind::FILE,
    SymbolKind::MODULE,
    SymbolKind::NAMESPACE,
    SymbolKind::PACKAGE,
    SymbolKind::CLASS,
    SymbolKind::METHOD,
    SymbolKind::PROPERTY,
    SymbolKind::FIELD,
    SymbolKind::CONSTRUCTOR,
    SymbolKind::ENUM,
    SymbolKind::INTERFACE,
    SymbolKind::FUNCTION,
    SymbolKind::VARIABLE,
    SymbolKind::CONSTANT,
    SymbolKind::STRING,
    SymbolKind::NUMBER,
    SymbolKind::BOOLEAN,
    SymbolKind::ARRAY,
];

/// The client's capabilities that shape the server's answers.
#[derive(Clone, Debug, Default)]
pub struct Caps {
    /// The column unit of positions.
    pub encoding: Encoding,
    /// `completionItem.snippetSupport`: completion may use snippet syntax.
    pub snippets: bool,
    /// Hovers in markdown (the client lists `markdown` before `plaintext`
    /// in `hover.contentFormat`), else plain text.
    pub hover_markdown: bool,
    /// `completionItemKind.valueSet` (`None`: the first version's kinds).
    pub completion_kinds: Option<Vec<CompletionItemKind>>,
    /// `documentSymbol.symbolKind.valueSet` (`None`: the first version's).
    pub symbol_kinds: Option<Vec<SymbolKind>>,
    /// `workspace.symbol.symbolKind.valueSet` (`None`: the first version's).
    pub workspace_symbol_kinds: Option<Vec<SymbolKind>>,
    /// `documentSymbol.hierarchicalDocumentSymbolSupport`: nested symbols,
    /// else a flat list of `SymbolInformation`.
    pub hierarchical_symbols: bool,
    /// `publishDiagnostics.relatedInformation`.
    pub related_information: bool,
    /// `codeAction.codeActionLiteralSupport`: code actions as literals
    /// with edits (without it, a client takes only commands).
    pub code_action_literals: bool,
    /// `workspace.inlayHint.refreshSupport`.
    pub inlay_refresh: bool,
}

impl Caps {
    pub fn from_client(c: &ClientCapabilities) -> Caps {
        let text = c.text_document.as_ref();
        let completion = text.and_then(|t| t.completion.as_ref());
        let item = completion.and_then(|c| c.completion_item.as_ref());
        let hover_markdown = text
            .and_then(|t| t.hover.as_ref())
            .and_then(|h| h.content_format.as_ref())
            .and_then(|formats| {
                formats
                    .iter()
                    .find(|f| matches!(f, MarkupKind::Markdown | MarkupKind::PlainText))
                    .cloned()
            })
            == Some(MarkupKind::Markdown);
        let symbols = text.and_then(|t| t.document_symbol.as_ref());
        Caps {
            encoding: Encoding::negotiate(
                c.general
                    .as_ref()
                    .and_then(|g| g.position_encodings.as_deref()),
            ),
            snippets: item.and_then(|i| i.snippet_support).unwrap_or(false),
            hover_markdown,
            completion_kinds: completion
                .and_then(|c| c.completion_item_kind.as_ref())
                .and_then(|k| k.value_set.clone()),
            symbol_kinds: symbols
                .and_then(|s| s.symbol_kind.as_ref())
                .and_then(|k| k.value_set.clone()),
            workspace_symbol_kinds: c
                .workspace
                .as_ref()
                .and_then(|w| w.symbol.as_ref())
                .and_then(|s| s.symbol_kind.as_ref())
                .and_then(|k| k.value_set.clone()),
            hierarchical_symbols: symbols
                .and_then(|s| s.hierarchical_document_symbol_support)
                .unwrap_or(false),
            related_information: text
                .and_then(|t| t.publish_diagnostics.as_ref())
                .and_then(|p| p.related_information)
                .unwrap_or(false),
            code_action_literals: text
                .and_then(|t| t.code_action.as_ref())
                .is_some_and(|a| a.code_action_literal_support.is_some()),
            inlay_refresh: c
                .workspace
                .as_ref()
                .and_then(|w| w.inlay_hint.as_ref())
                .and_then(|i| i.refresh_support)
                .unwrap_or(false),
        }
    }

    /// `kind` if the client knows it, else its fallback, else `Text`, else
    /// no kind (the field is optional).
    pub fn completion_kind(&self, kind: CompletionItemKind) -> Option<CompletionItemKind> {
        let known = |k: CompletionItemKind| match &self.completion_kinds {
            Some(set) => set.contains(&k),
            None => LSP1_COMPLETION_KINDS.contains(&k),
        };
        let fallback = match kind {
            CompletionItemKind::ENUM_MEMBER => CompletionItemKind::VALUE,
            CompletionItemKind::CONSTANT => CompletionItemKind::VALUE,
            CompletionItemKind::STRUCT | CompletionItemKind::TYPE_PARAMETER => {
                CompletionItemKind::CLASS
            }
            CompletionItemKind::OPERATOR | CompletionItemKind::EVENT => CompletionItemKind::KEYWORD,
            _ => CompletionItemKind::TEXT,
        };
        [kind, fallback, CompletionItemKind::TEXT]
            .into_iter()
            .find(|k| known(*k))
    }

    /// `kind` if the client knows it (in document symbols, or in workspace
    /// symbols with `workspace`), else a kind of LSP 1.0 close to it.
    pub fn symbol_kind(&self, kind: SymbolKind, workspace: bool) -> SymbolKind {
        let set = if workspace {
            &self.workspace_symbol_kinds
        } else {
            &self.symbol_kinds
        };
        let known = |k: SymbolKind| match set {
            Some(set) => set.contains(&k),
            None => LSP1_SYMBOL_KINDS.contains(&k),
        };
        let fallback = match kind {
            SymbolKind::ENUM_MEMBER => SymbolKind::CONSTANT,
            SymbolKind::STRUCT | SymbolKind::OBJECT => SymbolKind::NAMESPACE,
            SymbolKind::EVENT => SymbolKind::FIELD,
            SymbolKind::OPERATOR => SymbolKind::PROPERTY,
            SymbolKind::NULL | SymbolKind::KEY => SymbolKind::VARIABLE,
            SymbolKind::TYPE_PARAMETER => SymbolKind::CLASS,
            _ => SymbolKind::VARIABLE,
        };
        [kind, fallback]
            .into_iter()
            .find(|k| known(*k))
            // A client that knows neither gets the kind anyway: the field
            // is required, and clients show unknown kinds with a default.
            .unwrap_or(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(json: serde_json::Value) -> Caps {
        Caps::from_client(&serde_json::from_value(json).unwrap_or_default())
    }

    #[test]
    fn absent_capabilities_take_the_conservative_defaults() {
        let c = caps(serde_json::json!({}));
        assert!(!c.snippets && !c.hover_markdown && !c.hierarchical_symbols);
        assert!(!c.related_information && !c.code_action_literals && !c.inlay_refresh);
        // Enum members are not among LSP 1.0's kinds.
        assert_eq!(
            c.completion_kind(CompletionItemKind::ENUM_MEMBER),
            Some(CompletionItemKind::VALUE)
        );
        assert_eq!(
            c.completion_kind(CompletionItemKind::KEYWORD),
            Some(CompletionItemKind::KEYWORD)
        );
        assert_eq!(c.symbol_kind(SymbolKind::EVENT, false), SymbolKind::FIELD);
        assert_eq!(c.symbol_kind(SymbolKind::CLASS, true), SymbolKind::CLASS);
    }

    #[test]
    fn declared_capabilities_are_read() {
        let c = caps(serde_json::json!({
            "textDocument": {
                "completion": {
                    "completionItem": { "snippetSupport": true },
                    "completionItemKind": { "valueSet": [1, 14] }
                },
                "hover": { "contentFormat": ["plaintext", "markdown"] },
                "documentSymbol": {
                    "hierarchicalDocumentSymbolSupport": true,
                    "symbolKind": { "valueSet": [1, 2, 24] }
                },
            },
        }));
        assert!(c.snippets && c.hierarchical_symbols);
        // The client prefers plain text.
        assert!(!c.hover_markdown);
        assert_eq!(
            c.completion_kind(CompletionItemKind::ENUM_MEMBER),
            Some(CompletionItemKind::TEXT)
        );
        assert_eq!(
            c.completion_kind(CompletionItemKind::CLASS),
            Some(CompletionItemKind::TEXT)
        );
        assert_eq!(c.symbol_kind(SymbolKind::EVENT, false), SymbolKind::EVENT);
        let markdown = caps(serde_json::json!({
            "textDocument": { "hover": { "contentFormat": ["markdown", "plaintext"] } }
        }));
        assert!(markdown.hover_markdown);
    }
}
