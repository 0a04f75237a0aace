//! The routec optimizer: the cost/latency/quality [`model`], the cell
//! partition of the request space, the linear program that assigns plans to
//! cells, and the reduction of the result to a decision table.
//!
//! Architecture Invariant: pure. No IO, clocks or environment (enforced by
//! `clippy.toml`); the same policy and options always give the same table.

pub mod cells;
pub mod codes;
mod compile;
pub mod diagram;
pub mod eval;
pub mod frontier;
pub mod lp;
pub mod model;
pub mod optimize;
pub mod recorded;
pub mod traffic;

pub use compile::{
    CellInfo, CompileOptions, Compiled, RecordedEstimates, ValueSet, compile, compile_recorded,
    line_of, plan_text,
};
