//! Offsets to 1-based lines and 0-based columns (in characters), as the contract reports
//! them.

use ruff_source_file::LineIndex;
use ruff_text_size::TextSize;

/// The analysed text and its line index.
#[derive(Debug)]
pub struct Source<'a> {
    pub text: &'a str,
    index: LineIndex,
}

impl<'a> Source<'a> {
    pub fn new(text: &'a str) -> Source<'a> {
        Source {
            text,
            index: LineIndex::from_source_text(text),
        }
    }

    /// (line, column): line 1-based, column 0-based.
    pub fn line_column(&self, offset: TextSize) -> (u32, u32) {
        let offset = offset.min(TextSize::try_from(self.text.len()).unwrap_or_default());
        let lc = self.index.line_column(offset, self.text);
        (lc.line.get() as u32, lc.column.to_zero_indexed() as u32)
    }

    /// The 1-based line of an offset.
    pub fn line(&self, offset: TextSize) -> u32 {
        self.line_column(offset).0
    }
}
