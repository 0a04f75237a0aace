//! Byte-offset spans and the line index that converts them to line/column
//! positions (UTF-8 columns for humans, UTF-16 columns for LSP clients).

use std::fmt;
use std::ops::Range;

/// A half-open byte range `start..end` into one source text.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: clamp_u32(start),
            end: clamp_u32(end.max(start)),
        }
    }

    /// An empty span at `offset`.
    pub fn at(offset: usize) -> Span {
        Span::new(offset, offset)
    }

    /// The smallest span covering both `self` and `other`.
    pub fn cover(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    pub fn contains(self, offset: usize) -> bool {
        (self.start as usize..=self.end as usize).contains(&offset)
    }

    /// The text this span covers, or `""` when the span does not fit `source`.
    pub fn text(self, source: &str) -> &str {
        source.get(self.range()).unwrap_or("")
    }
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

impl From<Range<usize>> for Span {
    fn from(r: Range<usize>) -> Span {
        Span::new(r.start, r.end)
    }
}

impl From<chumsky::span::SimpleSpan> for Span {
    fn from(s: chumsky::span::SimpleSpan) -> Span {
        Span::new(s.start, s.end)
    }
}

/// A 0-based line and column. `col` counts UTF-8 bytes or UTF-16 code units
/// depending on the method that produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

/// Maps byte offsets to lines and columns, and back.
#[derive(Clone, Debug)]
pub struct LineIndex {
    /// Byte offset of the start of every line.
    line_starts: Vec<u32>,
    text: String,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(clamp_u32(i + 1));
            }
        }
        LineIndex {
            line_starts,
            text: text.to_owned(),
        }
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The 0-based line containing `offset` and its byte column.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = clamp_u32(offset.min(self.text.len()));
        let line = match self.line_starts.binary_search(&offset) {
            Ok(l) => l,
            Err(l) => l - 1,
        };
        LineCol {
            line: clamp_u32(line),
            col: offset - self.line_starts[line],
        }
    }

    /// 1-based line and 1-based column counted in characters, as humans and
    /// SARIF expect them.
    pub fn line_col_human(&self, offset: usize) -> (usize, usize) {
        let lc = self.line_col(offset);
        let start = self.line_starts[lc.line as usize] as usize;
        let end = self.floor_char_boundary(start + lc.col as usize);
        let chars = self.text.get(start..end).map_or(0, |s| s.chars().count());
        (lc.line as usize + 1, chars + 1)
    }

    /// The 0-based line and UTF-16 column of `offset`, as LSP expects them.
    pub fn line_col_utf16(&self, offset: usize) -> LineCol {
        let lc = self.line_col(offset);
        let start = self.line_starts[lc.line as usize] as usize;
        let end = self.floor_char_boundary(start + lc.col as usize);
        let units = self
            .text
            .get(start..end)
            .map_or(0, |s| s.chars().map(char::len_utf16).sum::<usize>());
        LineCol {
            line: lc.line,
            col: clamp_u32(units),
        }
    }

    /// The byte offset of a 0-based line and UTF-16 column, clamped to the
    /// line's end.
    pub fn offset_utf16(&self, pos: LineCol) -> usize {
        let Some(&start) = self.line_starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let start = start as usize;
        let end = self
            .line_starts
            .get(pos.line as usize + 1)
            .map_or(self.text.len(), |&e| e as usize);
        let mut units = 0u32;
        for (i, c) in self.text.get(start..end).unwrap_or("").char_indices() {
            if units >= pos.col || c == '\n' {
                return start + i;
            }
            units += c.len_utf16() as u32;
        }
        end
    }

    fn floor_char_boundary(&self, mut i: usize) -> usize {
        i = i.min(self.text.len());
        while !self.text.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_cols_round_trip_in_utf16() {
        let text = "ab\nçé𝄞x\n\nlast";
        let idx = LineIndex::new(text);
        for (offset, _) in text.char_indices() {
            let lc = idx.line_col_utf16(offset);
            assert_eq!(idx.offset_utf16(lc), offset, "offset {offset}");
        }
        assert_eq!(
            idx.line_col_utf16(text.find('x').unwrap()),
            LineCol { line: 1, col: 4 }
        );
        assert_eq!(idx.line_col_human(text.find('x').unwrap()), (2, 4));
        assert_eq!(idx.line_col(text.len()), LineCol { line: 3, col: 4 });
    }
}
