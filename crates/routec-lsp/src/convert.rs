//! The one place where byte offsets become LSP positions and back
//! (`to_proto`/`from_proto` in rust-analyzer's terms).
//!
//! LSP positions are a 0-based line and a column counted in the negotiated
//! encoding: UTF-16 code units by default, UTF-8 bytes when the client offers
//! it. Every conversion goes through [`LineMap`], built once per document
//! version. Out-of-range positions are clamped, never a panic.

use routec_syntax::{LineCol, LineIndex, Span};
use tower_lsp_server::ls_types::{Position, PositionEncodingKind, Range};

/// The column unit negotiated at `initialize`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 bytes (when the client lists `utf-8` in `positionEncodings`).
    Utf8,
    /// UTF-16 code units, the LSP default.
    #[default]
    Utf16,
}

impl Encoding {
    /// Picks UTF-8 if the client offers it, UTF-16 otherwise.
    pub fn negotiate(offered: Option<&[PositionEncodingKind]>) -> Encoding {
        match offered {
            Some(kinds) if kinds.contains(&PositionEncodingKind::UTF8) => Encoding::Utf8,
            _ => Encoding::Utf16,
        }
    }

    pub fn kind(self) -> PositionEncodingKind {
        match self {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
        }
    }
}

/// Converts between byte offsets of one text and LSP positions.
#[derive(Clone, Debug)]
pub struct LineMap {
    index: LineIndex,
    len: usize,
    encoding: Encoding,
}

impl LineMap {
    pub fn new(text: &str, encoding: Encoding) -> LineMap {
        LineMap::from_index(LineIndex::new(text), text.len(), encoding)
    }

    /// A map over an index already built for a text of `len` bytes (the
    /// analysis's own), so a change does not index its text twice.
    pub fn from_index(index: LineIndex, len: usize, encoding: Encoding) -> LineMap {
        LineMap {
            index,
            len,
            encoding,
        }
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The position of a byte offset (clamped to the text; an offset inside
    /// a character counts from that character's start).
    pub fn position(&self, offset: usize) -> Position {
        let lc = match self.encoding {
            Encoding::Utf16 => self.index.line_col_utf16(offset),
            Encoding::Utf8 => self.index.line_col(offset),
        };
        Position::new(lc.line, lc.col)
    }

    pub fn range(&self, span: Span) -> Range {
        Range::new(
            self.position(span.start as usize),
            self.position(span.end as usize),
        )
    }

    /// The byte offset of a position, clamped to its line (a column past
    /// the end of a line is the line's end; a line past the end is the end
    /// of the text) and to a character boundary.
    pub fn offset(&self, pos: Position) -> usize {
        match self.encoding {
            Encoding::Utf16 => self.index.offset_utf16(LineCol {
                line: pos.line,
                col: pos.character,
            }),
            Encoding::Utf8 => {
                let start = self.index.offset_utf16(LineCol {
                    line: pos.line,
                    col: 0,
                });
                let end = self.line_end(pos.line, start);
                let mut offset = start.saturating_add(pos.character as usize).min(end);
                // Back off to a character boundary: the end of the line is
                // one, so this stops.
                while offset > start && !self.index_is_boundary(offset) {
                    offset -= 1;
                }
                offset
            }
        }
    }

    pub fn span(&self, range: Range) -> Span {
        let start = self.offset(range.start);
        let end = self.offset(range.end).max(start);
        Span::new(start, end)
    }

    /// The end of a 0-based line, before its newline.
    fn line_end(&self, line: u32, start: usize) -> usize {
        // The start of the next line, minus its newline; or the text's end.
        let next = self.index.offset_utf16(LineCol {
            line: line.saturating_add(1),
            col: 0,
        });
        if next > start && next <= self.len && (line as usize + 1) < self.index.line_count() {
            next - 1
        } else {
            self.len
        }
    }

    fn index_is_boundary(&self, offset: usize) -> bool {
        // A byte column maps back to itself only on a character boundary:
        // `line_col_utf16` floors to one, and `offset_utf16` returns it.
        let lc = self.index.line_col_utf16(offset);
        self.index.offset_utf16(lc) == offset
    }

    /// The length of `text[span]` in the negotiated unit (for semantic
    /// tokens). `text` must be the text this map was built from.
    pub fn len_of(&self, text: &str, span: Span) -> u32 {
        let s = text.get(span.range()).unwrap_or("");
        let n = match self.encoding {
            Encoding::Utf8 => s.len(),
            Encoding::Utf16 => s.chars().map(char::len_utf16).sum(),
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_both_encodings() {
        let text = "ab\nçé𝄞x\n\nlast";
        for enc in [Encoding::Utf8, Encoding::Utf16] {
            let map = LineMap::new(text, enc);
            for (offset, _) in text.char_indices().chain([(text.len(), ' ')]) {
                let pos = map.position(offset);
                assert_eq!(map.offset(pos), offset, "{enc:?} offset {offset}");
            }
        }
        let x = text.find('x').unwrap();
        assert_eq!(
            LineMap::new(text, Encoding::Utf16).position(x),
            Position::new(1, 4)
        );
        assert_eq!(
            LineMap::new(text, Encoding::Utf8).position(x),
            Position::new(1, 8)
        );
    }

    #[test]
    fn a_map_over_a_shared_index_agrees_with_a_fresh_one() {
        let text = "ab\nçé𝄞x\n\nlast";
        for enc in [Encoding::Utf8, Encoding::Utf16] {
            let fresh = LineMap::new(text, enc);
            let shared = LineMap::from_index(LineIndex::new(text), text.len(), enc);
            for offset in 0..=text.len() + 2 {
                assert_eq!(shared.position(offset), fresh.position(offset), "{enc:?}");
            }
            for line in 0..6 {
                for col in 0..10 {
                    let pos = Position::new(line, col);
                    assert_eq!(shared.offset(pos), fresh.offset(pos), "{enc:?} {pos:?}");
                }
            }
        }
    }

    #[test]
    fn clamps_out_of_range_positions() {
        let text = "ab\nçé\n";
        for enc in [Encoding::Utf8, Encoding::Utf16] {
            let map = LineMap::new(text, enc);
            assert_eq!(map.offset(Position::new(0, 99)), 2, "{enc:?}");
            assert_eq!(map.offset(Position::new(99, 0)), text.len(), "{enc:?}");
            assert_eq!(map.offset(Position::new(1, 99)), 7, "{enc:?}");
        }
        // Inside a two-byte character: back to its start.
        assert_eq!(
            LineMap::new(text, Encoding::Utf8).offset(Position::new(1, 1)),
            3
        );
    }
}
