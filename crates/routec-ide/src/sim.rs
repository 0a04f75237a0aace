//! The heavy half: [`Simulation::compute`] compiles the policy with
//! `routec-opt` under its first traffic profile and aggregates the
//! compiler's predictions per rule, model, slice and SLO (see the crate
//! docs for the exact aggregation). Inlay hints and code lenses live here.

use routec_syntax::{Diagnostic, Span};

use crate::{Analysis, CodeLens, InlayHint};

/// The compiler's figures for one rule of the `route` block.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleFigures {
    /// 0-based index of the rule.
    pub rule: usize,
    /// The rule's span in the text.
    pub span: Span,
    /// Share of all traffic the rule takes (0..=1).
    pub share: f64,
    /// 95th percentile of end-to-end latency of the rule's traffic, seconds.
    pub p95: f64,
    /// Expected cost per 1,000 of the rule's requests, USD.
    pub cost_per_1k: f64,
    /// Expected quality of the rule's traffic (0..=1).
    pub quality: f64,
}

/// The share of traffic whose plan starts at a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFigures {
    pub model: String,
    pub share: f64,
}

/// The share of traffic inside a slice.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceFigures {
    pub slice: String,
    pub share: f64,
}

/// The compiler's status of one SLO row (a `for each slice` line has one
/// row per slice).
#[derive(Clone, Debug, PartialEq)]
pub struct SloFigures {
    /// The SLO line's span in the text.
    pub span: Span,
    /// The slice of a `for each slice` row.
    pub slice: Option<String>,
    /// The predicted value, in base units (seconds, USD, ratio).
    pub value: f64,
    /// The limit, in base units.
    pub limit: f64,
    pub ok: bool,
    /// What tightening the SLO by one step costs, when it is binding
    /// (`latency p95 -100ms costs +$0.31/1k, quality +0.2%`).
    pub tightening: Option<String>,
}

/// The compiled policy's predictions for one text.
#[derive(Clone, Debug)]
pub struct Simulation {
    text: String,
    traffic: Option<String>,
    diagnostics: Vec<Diagnostic>,
    rules: Vec<RuleFigures>,
    models: Vec<ModelFigures>,
    slices: Vec<SliceFigures>,
    slos: Vec<SloFigures>,
}

impl Simulation {
    /// Compiles `analysis`'s policy under its first traffic profile.
    /// Returns `None` when the file does not check or `cancelled()` turned
    /// true; an infeasible policy gives a simulation with the compiler's
    /// errors and no figures.
    pub fn compute(analysis: &Analysis, cancelled: &dyn Fn() -> bool) -> Option<Simulation> {
        if cancelled() || !analysis.checks() {
            return None;
        }
        let _ = analysis;
        None
    }

    /// The compiler's diagnostics (infeasible SLOs, warnings).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.diagnostics.clone()
    }

    /// The traffic profile the figures are for (`None`: no profile declared,
    /// the compiler's default assumptions).
    pub fn traffic(&self) -> Option<&str> {
        self.traffic.as_deref()
    }

    pub fn rules(&self) -> &[RuleFigures] {
        &self.rules
    }

    pub fn models(&self) -> &[ModelFigures] {
        &self.models
    }

    pub fn slices(&self) -> &[SliceFigures] {
        &self.slices
    }

    pub fn slos(&self) -> &[SloFigures] {
        &self.slos
    }

    /// True when this simulation was computed for exactly `analysis`'s text.
    pub fn is_for(&self, analysis: &Analysis) -> bool {
        self.text == analysis.text()
    }
}

pub(crate) fn inlay_hints(analysis: &Analysis, sim: &Simulation, range: Span) -> Vec<InlayHint> {
    let _ = (analysis, sim, range);
    Vec::new()
}

pub(crate) fn code_lenses(analysis: &Analysis) -> Vec<CodeLens> {
    let _ = analysis;
    Vec::new()
}
