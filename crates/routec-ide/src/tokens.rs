//! Semantic tokens from the lexer and the symbol index.

use crate::{Analysis, SemanticToken};

/// The token kinds, in legend order (LSP standard names).
pub const SEMANTIC_TOKEN_KINDS: &[&str] = &[
    "keyword",
    "variable",
    "enumMember",
    "class",
    "type",
    "namespace",
    "property",
    "string",
    "number",
    "comment",
    "operator",
    "function",
    "event",
];

/// The token modifiers, in legend order (LSP standard names).
pub const SEMANTIC_TOKEN_MODIFIERS: &[&str] =
    &["declaration", "documentation", "defaultLibrary", "readonly"];

/// The kind of a semantic token; [`SemanticTokenKind::index`] is its index in
/// [`SEMANTIC_TOKEN_KINDS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SemanticTokenKind {
    /// Item and structure words (`model`, `when`, `cascade`, ...).
    Keyword,
    /// A signal.
    Variable,
    /// A value of an enum signal.
    EnumMember,
    /// A model.
    Class,
    /// A signal type (`ratio`, `enum`).
    Type,
    /// A slice.
    Namespace,
    /// A property word inside a block (`price`, `latency`, `p95`, ...).
    Property,
    String,
    /// A number, money amount or quantity with its unit.
    Number,
    Comment,
    Operator,
    /// A traffic profile.
    Function,
    /// A test name.
    Event,
}

impl SemanticTokenKind {
    /// The index of this kind in [`SEMANTIC_TOKEN_KINDS`].
    pub fn index(self) -> u32 {
        self as u32
    }

    pub fn as_str(self) -> &'static str {
        SEMANTIC_TOKEN_KINDS
            .get(self as usize)
            .copied()
            .unwrap_or("keyword")
    }
}

pub(crate) fn semantic_tokens(analysis: &Analysis) -> Vec<SemanticToken> {
    let _ = analysis;
    Vec::new()
}
