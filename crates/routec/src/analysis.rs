//! Everything the CLI knows about a policy's problems: the parser's
//! diagnostics and the checker's, in one sorted list.

use routec_syntax::ast::SourceFile;
use routec_syntax::diagnostic::sort;
use routec_syntax::{Diagnostic, parse};

/// All diagnostics of one source text, sorted by position.
pub fn diagnostics(source: &str) -> Vec<Diagnostic> {
    let parsed = parse(source);
    let mut all = parsed.diagnostics;
    all.extend(semantic(&parsed.file));
    sort(&mut all);
    all
}

/// The checker's diagnostics. The checker keeps going past syntax errors
/// (the AST has error nodes), so it runs on every file.
fn semantic(file: &SourceFile) -> Vec<Diagnostic> {
    routec_check::check(file).diagnostics
}
