//! Code actions: the checker's machine-applicable suggestions (did-you-mean
//! and the like), a missing `otherwise` (routed to the baseline), objective
//! weights normalized to sum to exactly 1, and removing a rule that can
//! never match (shadowed, or after `otherwise`). Every fix is tested to
//! re-check clean of the diagnostic it fixes.

use routec_check::codes;
use routec_syntax::ast::{ItemKind, ObjectiveKind, RuleKind};
use routec_syntax::{Diagnostic, Span};

use crate::show::num;
use crate::text::{line_span, next_line_start, touches};
use crate::{Analysis, CodeAction, TextEdit};

pub(crate) fn code_actions(analysis: &Analysis, range: Span) -> Vec<CodeAction> {
    let mut out = Vec::new();
    let text = analysis.text();
    for d in analysis.diagnostics() {
        // The lines of the diagnostic: a cursor anywhere on them gets its fixes.
        let lines =
            line_span(text, d.span.start as usize).cover(line_span(text, d.span.end as usize));
        if !touches(lines, range) {
            continue;
        }
        match d.code {
            codes::MISSING_OTHERWISE => out.extend(add_otherwise(analysis, &d)),
            codes::WEIGHTS_SUM => out.extend(normalize_weights(analysis, &d)),
            codes::SHADOWED_RULE | codes::RULE_AFTER_OTHERWISE => {
                out.extend(remove_rule(analysis, &d));
                out.extend(suggestions(&d));
            }
            _ => out.extend(suggestions(&d)),
        }
    }
    out
}

/// The diagnostic's suggestions: one action per distinct message, its
/// suggestions applied together.
fn suggestions(d: &Diagnostic) -> Vec<CodeAction> {
    let mut out: Vec<CodeAction> = Vec::new();
    for s in &d.suggestions {
        let edit = TextEdit {
            span: s.span,
            new_text: s.replacement.clone(),
        };
        if let Some(a) = out.iter_mut().find(|a| a.title == s.message) {
            let overlaps = |e: &TextEdit| {
                e.span == s.span || (e.span.start < s.span.end && s.span.start < e.span.end)
            };
            if !a.edits.iter().any(overlaps) {
                a.edits.push(edit);
            }
            continue;
        }
        out.push(CodeAction {
            title: s.message.clone(),
            kind: "quickfix",
            diagnostic_code: Some(d.code),
            diagnostic_span: Some(d.span),
            preferred: false,
            edits: vec![edit],
        });
    }
    if out.len() == 1
        && let Some(a) = out.first_mut()
    {
        a.preferred = true;
    }
    out
}

/// `otherwise => BASELINE` before the route's closing brace, indented like
/// the rules.
fn add_otherwise(analysis: &Analysis, d: &Diagnostic) -> Option<CodeAction> {
    let text = analysis.text();
    let policy = analysis.policy();
    let target = policy
        .baseline
        .and_then(|b| policy.models.get(b.index()))
        .or_else(|| policy.models.first())?;
    let route = analysis
        .parse
        .file
        .items
        .iter()
        .find_map(|i| match &i.kind {
            ItemKind::Route(r) if touches(i.span, d.span) => Some(r),
            _ => None,
        })?;
    let close = route.body.span.end.checked_sub(1)? as usize;
    if text.get(close..close + 1) != Some("}") {
        return None;
    }
    let indent = route
        .body
        .items
        .first()
        .map(|r| {
            let line = line_span(text, r.span.start as usize);
            text[line.start as usize..r.span.start as usize].to_owned()
        })
        .filter(|s| s.chars().all(|c| c == ' ' || c == '\t'))
        .unwrap_or_else(|| "  ".to_owned());
    let line = line_span(text, close);
    let before = &text[line.start as usize..close];
    let (at, new_text) = if before.trim().is_empty() {
        // `}` starts its line: insert a line above it.
        (
            line.start as usize,
            format!("{indent}otherwise => {}\n", target.name),
        )
    } else {
        (close, format!("\n{indent}otherwise => {}\n", target.name))
    };
    Some(CodeAction {
        title: format!("add `otherwise => {}`", target.name),
        kind: "quickfix",
        diagnostic_code: Some(d.code),
        diagnostic_span: Some(d.span),
        preferred: true,
        edits: vec![TextEdit {
            span: Span::at(at),
            new_text,
        }],
    })
}

/// Rewrites the objective's weights so they sum to exactly 1: each divided
/// by the sum and rounded to 4 decimals, the largest absorbing the rounding.
fn normalize_weights(analysis: &Analysis, d: &Diagnostic) -> Option<CodeAction> {
    let entries = analysis
        .parse
        .file
        .items
        .iter()
        .find_map(|i| match &i.kind {
            ItemKind::Objective(o) if touches(i.span, d.span) => match &o.kind {
                ObjectiveKind::Weighted(es) => Some(es),
                _ => None,
            },
            _ => None,
        })?;
    let values: Vec<(Span, f64)> = entries
        .iter()
        .map(|e| match &e.value.kind {
            routec_syntax::ast::LitKind::Number { value, suffix } if suffix.is_empty() => {
                Some((e.value.span, *value))
            }
            _ => None,
        })
        .collect::<Option<_>>()?;
    let sum: f64 = values.iter().map(|v| v.1).sum();
    if sum.is_nan() || sum <= 0.0 || values.iter().any(|v| v.1 < 0.0 || !v.1.is_finite()) {
        return None;
    }
    // In units of 1e-4, so the sum is exact.
    let mut units: Vec<i64> = values
        .iter()
        .map(|v| (v.1 / sum * 1e4).round() as i64)
        .collect();
    let total: i64 = units.iter().sum();
    let largest = (0..units.len()).max_by(|a, b| values[*a].1.total_cmp(&values[*b].1))?;
    units[largest] += 10_000 - total;
    let edits = values
        .iter()
        .zip(&units)
        .map(|((span, _), u)| TextEdit {
            span: *span,
            new_text: num(*u as f64 / 1e4, 4),
        })
        .collect();
    Some(CodeAction {
        title: "normalize the weights to sum to 1".to_owned(),
        kind: "quickfix",
        diagnostic_code: Some(d.code),
        diagnostic_span: Some(d.span),
        preferred: true,
        edits,
    })
}

/// Deletes the lines of the rule the diagnostic is about.
fn remove_rule(analysis: &Analysis, d: &Diagnostic) -> Option<CodeAction> {
    let text = analysis.text();
    let rule = analysis
        .parse
        .file
        .items
        .iter()
        .filter_map(|i| match &i.kind {
            ItemKind::Route(r) => Some(r),
            _ => None,
        })
        .flat_map(|r| r.body.items.iter())
        .find(|r| !matches!(r.kind, RuleKind::Error) && r.span.contains(d.span.start as usize))?;
    let first = line_span(text, rule.span.start as usize);
    let last = line_span(text, rule.span.end as usize);
    let own_lines = text[first.start as usize..rule.span.start as usize]
        .trim()
        .is_empty()
        && text[rule.span.end as usize..last.end as usize]
            .trim_start()
            .is_empty_or_comment();
    let span = if own_lines {
        Span::new(
            first.start as usize,
            next_line_start(text, rule.span.end as usize),
        )
    } else {
        rule.span
    };
    Some(CodeAction {
        title: "remove the unreachable rule".to_owned(),
        kind: "quickfix",
        diagnostic_code: Some(d.code),
        diagnostic_span: Some(d.span),
        preferred: true,
        edits: vec![TextEdit {
            span,
            new_text: String::new(),
        }],
    })
}

trait EmptyOrComment {
    fn is_empty_or_comment(&self) -> bool;
}

impl EmptyOrComment for str {
    fn is_empty_or_comment(&self) -> bool {
        self.is_empty() || self.starts_with("//")
    }
}
