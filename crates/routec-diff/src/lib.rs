//! The behavioral diff of two compiled policies (`routec diff`).
//!
//! Two questions, answered exactly and analytically:
//!
//! - **Where does traffic change destination?** [`regions`] walks the two
//!   tables' decision diagrams together over the whole request space: the
//!   product of the two diagrams is the common refinement of both
//!   partitions, so every request falls in exactly one piece, and inside a
//!   piece both tables decide one fixed leaf. Pieces whose plans (or split
//!   shares) differ are merged per change into few boxes, each printed as a
//!   condition in the language's own syntax with a concrete example request
//!   and the share of traffic it carries under the profile. Signals are
//!   matched by name; a signal one side lacks never splits that side's
//!   behaviour; an enum value one side lacks is, for that side, an invalid
//!   value and takes its default (as the runtime does).
//! - **What does it do to the metrics?** [`predict`] reads each table's own
//!   predictions (the optimizer's analytic per-cell figures and mixture
//!   quantiles, `table.assumed`) and completes them with the per-slice
//!   quality and the calls per model, aggregated from the same per-plan
//!   estimates the optimizer used (the compiled result, `routec_opt::Compiled`).
//!
//! Architecture Invariant: pure and deterministic: no IO, clocks or
//! environment (`clippy.toml`); the same two policies give the same diff.
//! The diff never serializes: the CLI renders it.

mod predict;
mod regions;

use std::fmt;

use routec_check::Policy;
use routec_opt::Compiled;

pub use predict::{Aggregate, Prediction, SloDelta, SloSide, Unit, aggregate};
pub use regions::{ExampleValue, MAX_PIECES, Region, Regions, example_request, regions};

/// One side of a diff: a checked policy, its text and its compilation.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    pub policy: &'a Policy,
    /// The policy's text (for SLO line numbers).
    pub source: &'a str,
    pub compiled: &'a Compiled,
    /// The traffic profile the side was compiled for; `None` when the
    /// policy declares none (the optimizer's uniform default).
    pub traffic: Option<&'a str>,
    /// The records of the profile when it is a recorded file (what
    /// `routec_opt::compile_recorded` was given).
    pub recorded: Option<&'a routec_traffic::BoundTraffic>,
}

/// Why two policies cannot be compared.
#[derive(Clone, Debug, PartialEq)]
pub enum DiffError {
    /// The product of the two diagrams has more pieces than [`MAX_PIECES`].
    TooManyPieces,
    /// A table that does not belong to its policy, or a traffic profile
    /// that does not exist (a bug in the caller).
    Mismatch(String),
}

impl fmt::Display for DiffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiffError::TooManyPieces => write!(
                f,
                "the two decision tables split the request space into more than {MAX_PIECES} pieces"
            ),
            DiffError::Mismatch(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for DiffError {}

/// The whole comparison.
#[derive(Clone, Debug)]
pub struct Diff {
    /// Where the plan changed.
    pub regions: Regions,
    pub old: Prediction,
    pub new: Prediction,
    /// Every SLO of either side, matched by its text.
    pub slos: Vec<SloDelta>,
}

impl Diff {
    /// Whether any request is routed differently.
    pub fn behavior_changed(&self) -> bool {
        !self.regions.changed.is_empty()
    }
}

/// Compares two compiled policies.
pub fn diff(old: &Side, new: &Side) -> Result<Diff, DiffError> {
    let regions = regions(old, new)?;
    let old_prediction = predict::predict(old)?;
    let new_prediction = predict::predict(new)?;
    let slos = predict::slo_deltas(&old_prediction, &new_prediction);
    Ok(Diff {
        regions,
        old: old_prediction,
        new: new_prediction,
        slos,
    })
}
