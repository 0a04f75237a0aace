//! Everything the CLI knows about a policy's problems: the parser's
//! diagnostics and the checker's, in one sorted list.

use routec_syntax::diagnostic::sort;
use routec_syntax::{Diagnostic, parse};

/// A policy that checks: its resolved form and its warnings.
#[derive(Debug)]
pub struct Analyzed {
    /// Errors and warnings, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    pub policy: routec_check::Policy,
}

impl Analyzed {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and checks a source text, keeping the resolved policy. The
/// checker keeps going past syntax errors (the AST has error nodes), so it
/// runs on every file.
pub fn analyze(source: &str) -> Analyzed {
    let parsed = parse(source);
    let checked = routec_check::check(&parsed.file);
    let mut diagnostics = parsed.diagnostics;
    diagnostics.extend(checked.diagnostics);
    sort(&mut diagnostics);
    Analyzed {
        diagnostics,
        policy: checked.policy,
    }
}

/// All diagnostics of one source text, sorted by position.
pub fn diagnostics(source: &str) -> Vec<Diagnostic> {
    analyze(source).diagnostics
}
