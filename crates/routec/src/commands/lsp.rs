//! `routec lsp`: the language server over standard input and output
//! (`routec-lsp`, whose code lenses run "Simulate" and "Run tests" through
//! the driver).
//!
//! Standard output carries the protocol and nothing else.

use routec_lsp::Config;

use super::eprint;
use crate::cli::{LspArgs, exit};

pub fn run(_args: &LspArgs) -> u8 {
    match routec_lsp::run_stdio(Config::default()) {
        // 1 when the client sent `exit` without `shutdown`, as LSP asks.
        Ok(ended) => ended.code(),
        Err(e) => {
            eprint(&format!(
                "routec: the language server could not start: {e}\n"
            ));
            exit::USAGE
        }
    }
}
