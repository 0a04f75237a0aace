//! Code actions: did-you-mean fixes, a missing `otherwise`, normalized
//! objective weights, removing an unreachable rule.

use routec_syntax::Span;

use crate::{Analysis, CodeAction};

pub(crate) fn code_actions(analysis: &Analysis, range: Span) -> Vec<CodeAction> {
    let _ = (analysis, range);
    Vec::new()
}
