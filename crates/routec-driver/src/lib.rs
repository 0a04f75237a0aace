//! The routec driver: the one way every front end (the CLI, the language
//! server's commands, the gateway) turns a policy into what it needs.
//!
//! - [`source`]: where a policy comes from ([`Source`]: a file, standard
//!   input, a git revision `REV:PATH`, an editor buffer), the one
//!   size-bounded reader, and how a recorded traffic file named by a policy
//!   is found (relative to the policy's directory).
//! - [`pipeline`]: [`check`](pipeline::check) and
//!   [`compile`](pipeline::compile) (a recorded profile's file is read,
//!   its bad lines become diagnostics located in that file), giving a
//!   [`CompiledPolicy`]: the policy, the compiler's [`routec_opt::Compiled`]
//!   result and every file it read, in one [`routec_syntax::SourceMap`].
//! - [`tests`], [`simulate`], [`offpolicy`], [`explain`], [`diff`]: the other commands, as
//!   functions from a compiled policy to a typed report; [`predicted`]: the
//!   figures a table was optimized for (what `compile` prints);
//!   [`convert`]: public evaluation data (RouterBench, RouteLLM) as
//!   recorded traffic.
//!
//! Architecture Invariant: the driver does IO (reading sources and recorded
//! files, `git cat-file`) but never renders and never parses arguments:
//! every result is a typed value or a [`Failed`] with located diagnostics;
//! renderers (the `routec-render` crate) turn them into text.

pub mod convert;
pub mod decide;
pub mod diff;
pub mod explain;
pub mod load;
pub mod offpolicy;
pub mod pipeline;
pub mod predicted;
pub mod simulate;
pub mod source;
pub mod tests;

use routec_syntax::{Diagnostic, SourceMap};

pub use pipeline::{Checked, CompiledPolicy, check, compile, compile_source, refit, traffic_index};
pub use source::Source;

/// Why a step stopped without a result.
#[derive(Clone, Debug, PartialEq)]
pub enum Failed {
    /// Errors in a policy or in a file it reads (exit code 1): every
    /// diagnostic, with the files they point into.
    Diagnostics {
        files: SourceMap,
        diagnostics: Vec<Diagnostic>,
    },
    /// An error in the policies that has no location (exit code 1), such
    /// as two tables too different to compare.
    Policy(String),
    /// A usage or IO error (exit code 2): a missing or unreadable file, an
    /// unknown traffic profile or signal; the message names it.
    Usage(String),
}

impl Failed {
    /// The diagnostics' errors only (warnings dropped), for steps that leave
    /// warnings to `check` and `compile`.
    pub fn without_warnings(self) -> Failed {
        match self {
            Failed::Diagnostics { files, diagnostics } => Failed::Diagnostics {
                files,
                diagnostics: diagnostics
                    .into_iter()
                    .filter(Diagnostic::is_error)
                    .collect(),
            },
            other => other,
        }
    }
}

impl From<source::ReadFailure> for Failed {
    fn from(e: source::ReadFailure) -> Failed {
        Failed::Usage(e.0)
    }
}

/// This compiler's version, stamped into every table.
pub const COMPILER_VERSION: &str = env!("CARGO_PKG_VERSION");
