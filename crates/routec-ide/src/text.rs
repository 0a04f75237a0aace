//! Offsets and words: the helpers that keep every feature total on any
//! offset (past the end, inside a multi-byte character).

use routec_syntax::Span;

/// `offset` clamped to the text and moved back to a character boundary.
pub(crate) fn clamp(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Is `c` part of an identifier?
pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Is `name` a valid identifier of the language?
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(is_ident_char)
}

/// The span of the line containing `offset` (without its newline).
pub(crate) fn line_span(text: &str, offset: usize) -> Span {
    let offset = clamp(text, offset);
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    Span::new(start, end)
}

/// The byte offset just after the end of the line containing `offset`
/// (after its `\n`), or the end of the text.
pub(crate) fn next_line_start(text: &str, offset: usize) -> usize {
    let offset = clamp(text, offset);
    text[offset..]
        .find('\n')
        .map_or(text.len(), |i| offset + i + 1)
}

/// Does `span` intersect `range` (touching counts)?
pub(crate) fn touches(span: Span, range: Span) -> bool {
    span.start <= range.end && range.start <= span.end
}
