//! The routec command-line interface: argument parsing, calls into the
//! driver (`routec-driver`), rendering (`routec-render`), writing outputs
//! and exit codes.
//!
//! Architecture Invariant: holds no pipeline logic; with the other binaries
//! it is the only crate that uses `anyhow`, and with the driver the only
//! one that does IO; the compiler crates stay pure.

pub mod cli;
pub mod commands;

pub use cli::{exit, run};
