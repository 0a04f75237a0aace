//! Folding ranges: multi-line blocks and lists, and runs of comment lines.

use crate::{Analysis, Fold};

pub(crate) fn folding_ranges(analysis: &Analysis) -> Vec<Fold> {
    let _ = analysis;
    Vec::new()
}
