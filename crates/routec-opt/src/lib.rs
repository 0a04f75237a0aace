//! The routec optimizer: the cost/latency/quality [`model`], the cell
//! partition of the request space, the linear program that assigns plans to
//! cells, and the reduction of the result to a decision table.
//!
//! [`compile`] returns one [`Compiled`] result: the table and the model it
//! was optimized with. Every consumer (the editor's figures, `routec diff`,
//! `explain`, the frontier) reads that result; the partition, the
//! estimates and the LP stay private to this crate.
//!
//! Architecture Invariant: pure. No IO, clocks or environment (enforced by
//! `clippy.toml`); the same policy and options always give the same table.

#[cfg(test)]
mod brute_force_tests;
mod capacity;
mod cells;
pub mod codes;
mod compile;
mod diagram;
mod eval;
pub mod lints;
pub mod load;
mod lp;
pub mod model;
mod objective;
mod optimize;
mod pacing;
pub mod recorded;
mod slos;
mod solved;
mod table;
pub mod traffic;

pub use capacity::LoadPoint;
pub use compile::{
    CellInfo, CompileOptions, Compiled, Failure, FrontierPoint, RecordedEstimates, ValueSet,
    compile, compile_cancellable, compile_on_records, compile_recorded, line_of,
};
pub use solved::{RuleFigures, SinglePoint, SliceFigures, SloRow, Tightening};
pub use table::plan_text;
