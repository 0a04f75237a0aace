//! The routec command-line interface: argument parsing, file IO, exit codes,
//! the renderers of diagnostics (human, JSON, SARIF) and of the reports of
//! `compile`, `test`, `explain` and `simulate`.
//!
//! Architecture Invariant: this is the only crate (with the other binaries)
//! that does IO or uses `anyhow`; the compiler crates stay pure.

pub mod analysis;
pub mod cli;
pub mod commands;
pub mod pipeline;
pub mod render;
pub mod source;

pub use cli::{exit, run};
