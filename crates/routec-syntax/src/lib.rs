//! The syntax of the routec policy language: spans and line index, the logos
//! lexer, the chumsky parser, the AST and the formatter.
//!
//! Architecture Invariant: parsing never fails. [`parse`] always returns a
//! tree and a list of diagnostics; broken input becomes error nodes. This
//! crate does no IO and knows nothing of LSP or serialization.

pub mod ast;
pub mod codes;
pub mod diagnostic;
pub mod fmt;
pub mod lexer;
pub mod parser;
mod shift;
pub mod span;
pub mod suggest;
pub mod words;

pub use diagnostic::{Diagnostic, FileId, Severity, SourceMap};
pub use parser::{MAX_DEPTH, MAX_SOURCE_BYTES, Parse, parse, reparse};
pub use span::{LineCol, LineIndex, Span};
