//! Hover: signals, models, slices, rules, SLO lines and doc comments.

use crate::{Analysis, Hover, Simulation};

pub(crate) fn hover(analysis: &Analysis, offset: usize, sim: Option<&Simulation>) -> Option<Hover> {
    let _ = (analysis, offset, sim);
    None
}
