//! Formatting as small edits instead of one replacement of the whole
//! document, so editors keep their marks, folds and cursor positions on the
//! lines that did not change.
//!
//! The formatter only changes whitespace (its own invariant: the
//! non-whitespace tokens of its output are the input's), so the two texts
//! are walked together: their non-whitespace characters are the same, one
//! for one, and each whitespace run between two of them that differs
//! becomes one edit, of the part between the two runs' common prefix and
//! suffix (`"\n    "` to `"\n  "` deletes two spaces, not the line
//! break). Should the texts differ elsewhere (a formatter bug),
//! one edit replaces what lies between their common prefix and suffix.

use routec_syntax::Span;

use crate::TextEdit;

/// Edits turning `old` into `new`: sorted, not overlapping, none of them a
/// no-op. Applied in order (or in reverse, by offsets into `old`), they
/// give exactly `new`.
pub fn format_edits(old: &str, new: &str) -> Vec<TextEdit> {
    whitespace_edits(old, new).unwrap_or_else(|| middle_edit(old, new))
}

/// The end of the whitespace run starting at `i`.
fn skip_whitespace(text: &str, i: usize) -> usize {
    text[i..]
        .find(|c: char| !c.is_whitespace())
        .map_or(text.len(), |n| i + n)
}

/// One edit per differing whitespace run; `None` when the texts differ in
/// anything but whitespace.
fn whitespace_edits(old: &str, new: &str) -> Option<Vec<TextEdit>> {
    let mut edits = Vec::new();
    let (mut i, mut j) = (0, 0);
    loop {
        let (oi, nj) = (skip_whitespace(old, i), skip_whitespace(new, j));
        if old[i..oi] != new[j..nj] {
            // Only the part of the run that differs: a re-indented line
            // keeps the line break before it and the spaces it keeps.
            let mut edit = middle_edit(&old[i..oi], &new[j..nj]);
            for e in &mut edit {
                e.span = Span::new(e.span.start as usize + i, e.span.end as usize + i);
            }
            edits.extend(edit);
        }
        (i, j) = (oi, nj);
        match (old[i..].chars().next(), new[j..].chars().next()) {
            (None, None) => return Some(edits),
            (Some(a), Some(b)) if a == b => {
                i += a.len_utf8();
                j += b.len_utf8();
            }
            _ => return None,
        }
    }
}

/// One edit replacing what lies between the common prefix and suffix.
fn middle_edit(old: &str, new: &str) -> Vec<TextEdit> {
    if old == new {
        return Vec::new();
    }
    let prefix: usize = old
        .chars()
        .zip(new.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let suffix: usize = old[prefix..]
        .chars()
        .rev()
        .zip(new[prefix..].chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    vec![TextEdit {
        span: Span::new(prefix, old.len() - suffix),
        new_text: new[prefix..new.len() - suffix].to_owned(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str, edits: &[TextEdit]) -> String {
        let mut out = text.to_owned();
        for e in edits.iter().rev() {
            out.replace_range(e.span.range(), &e.new_text);
        }
        out
    }

    #[test]
    fn only_the_whitespace_that_changes_is_edited() {
        let old = "model  a {\n    price x\n  quality 1\n}\n\n\n";
        let new = "model a {\n  price x\n  quality 1\n}\n";
        let edits = format_edits(old, new);
        assert_eq!(apply(old, &edits), new);
        let spans: Vec<(u32, u32, &str)> = edits
            .iter()
            .map(|e| (e.span.start, e.span.end, e.new_text.as_str()))
            .collect();
        // One of the spaces of `model  a`, two spaces of the indentation
        // of `price`, and the blank lines at the end; the `quality` line is
        // untouched.
        assert_eq!(spans, [(6, 7, ""), (13, 15, ""), (37, 39, "")]);
        assert!(format_edits(new, new).is_empty());
    }

    #[test]
    fn other_differences_become_one_edit_between_prefix_and_suffix() {
        for (old, new) in [("abcé", "abxé"), ("a b", "a  c"), ("", "x"), ("x", "")] {
            let edits = format_edits(old, new);
            assert_eq!(apply(old, &edits), new, "{old:?} -> {new:?}");
            assert_eq!(edits.len(), 1);
        }
        assert_eq!(format_edits("abcé", "abxé")[0].span, Span::new(2, 3));
    }
}
