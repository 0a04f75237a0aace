//! Semantic tokens from the lexer and the symbol index.

use std::collections::HashMap;

use routec_check::SymbolKind;
use routec_syntax::lexer::{Token, lex};
use routec_syntax::words::{self, Highlight};

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

const DECLARATION: u32 = 1 << 0;
const DOCUMENTATION: u32 = 1 << 1;
const DEFAULT_LIBRARY: u32 = 1 << 2;

pub(crate) fn semantic_tokens(analysis: &Analysis) -> Vec<SemanticToken> {
    let policy = analysis.policy();
    let index = &policy.index;
    let mut names: HashMap<(u32, u32), (SemanticTokenKind, u32)> = HashMap::new();
    let kind_of = |k: SymbolKind| match k {
        SymbolKind::Signal(_) => SemanticTokenKind::Variable,
        SymbolKind::Model(_) => SemanticTokenKind::Class,
        SymbolKind::Slice(_) => SemanticTokenKind::Namespace,
        SymbolKind::Traffic(_) => SemanticTokenKind::Function,
        SymbolKind::Variant(..) => SemanticTokenKind::EnumMember,
        SymbolKind::Test(_) => SemanticTokenKind::Event,
        SymbolKind::Policy => SemanticTokenKind::Namespace,
    };
    for symbol in &index.symbols {
        if let Some(def) = symbol.def {
            names.insert((def.start, def.end), (kind_of(symbol.kind), DECLARATION));
        }
    }
    for r in &index.references {
        let Some(symbol) = index.symbols.get(r.symbol.0 as usize) else {
            continue;
        };
        let builtin = if symbol.def.is_none() {
            DEFAULT_LIBRARY
        } else {
            0
        };
        names
            .entry((r.span.start, r.span.end))
            .or_insert((kind_of(symbol.kind), builtin));
    }
    let mut out = Vec::new();
    for (token, span) in lex(analysis.text()) {
        let (kind, modifiers) = match token {
            Token::Comment(_) => (SemanticTokenKind::Comment, 0),
            Token::DocComment(_) => (SemanticTokenKind::Comment, DOCUMENTATION),
            Token::Str(_) | Token::UnterminatedString(_) => {
                match names.get(&(span.start, span.end)) {
                    Some(k) => *k,
                    None => (SemanticTokenKind::String, 0),
                }
            }
            Token::Number(_) | Token::Money(_) => (SemanticTokenKind::Number, 0),
            Token::Ident(word) => match names.get(&(span.start, span.end)) {
                Some(k) => *k,
                // How the language's word table highlights it.
                None => match words::highlight(word) {
                    Highlight::Keyword => (SemanticTokenKind::Keyword, 0),
                    Highlight::Type => (SemanticTokenKind::Type, 0),
                    Highlight::Property => (SemanticTokenKind::Property, 0),
                    Highlight::None => continue,
                },
            },
            Token::EqEq
            | Token::NotEq
            | Token::Lt
            | Token::Le
            | Token::Gt
            | Token::Ge
            | Token::FatArrow
            | Token::Arrow
            | Token::Plus
            | Token::Minus => (SemanticTokenKind::Operator, 0),
            _ => continue,
        };
        if span.is_empty() {
            continue;
        }
        out.push(SemanticToken {
            span,
            kind,
            modifiers,
        });
    }
    out
}
