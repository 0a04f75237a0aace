//! The checker of routec policies: name resolution, types and units, the
//! exact request-space analyses (shadowed rules, missing `otherwise`,
//! models that cannot serve a rule) and lints.
//!
//! Architecture Invariant: the checker is pure and total. [`check`] takes a
//! tree (possibly with error nodes) and always returns every diagnostic it
//! can find in one pass plus a resolved [`ir::Policy`]; it never panics and
//! never reports an error node again (the parser already did). Messages are
//! written in one place, [`diagnostics`].

pub mod codes;
mod diagnostics;
pub mod index;
pub mod ir;
pub mod quantity;
pub mod space;
mod units;

mod blocks;
mod cx;
mod exprs;
mod lints;
mod models;
mod plans;
mod route_space;

use routec_syntax::Diagnostic;
use routec_syntax::ast::SourceFile;

pub use index::{Reference, Symbol, SymbolId, SymbolIndex, SymbolKind};
pub use ir::Policy;
pub use space::{Region, Space};

/// The prompt length (tokens) a request without `prompt_tokens` has: the
/// built-in signal's default, used by the optimizer, the simulator, recorded
/// traffic and every runtime (through the table).
pub const DEFAULT_PROMPT_TOKENS: f64 = 1000.0;

/// The signals every policy has, with their types.
pub const BUILTIN_SIGNALS: &[(&str, &str)] = &[
    ("prompt_tokens", "tokens"),
    ("max_output_tokens", "tokens"),
    ("has_images", "bool"),
    ("has_tools", "bool"),
    ("stream", "bool"),
];

/// The result of checking a file.
#[derive(Clone, Debug)]
pub struct Checked {
    /// Errors and warnings, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// The resolved policy, including what could be resolved of a broken file.
    pub policy: Policy,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Checks a parsed file: resolves every name, type and unit, runs the
/// request-space analyses and the lints.
pub fn check(file: &SourceFile) -> Checked {
    let mut cx = cx::Cx::new(file);
    cx.run();
    let (diagnostics, policy) = cx.finish();
    Checked {
        diagnostics,
        policy,
    }
}
