//! The weights of a packed F16 matrix that its code table does not hold
//! (`format::packed_f16`), kept in the order the kernel adds them: per tile of 16 rows, in
//! slots of 16 lanes, lane t holding the next exception of row 16g + t (column and F16 bits),
//! rows with fewer padded with (column 0, +0.0), which the kernel masks out by the row's count.
//!
//! Why slots: one gather of x, one conversion of 16 F16s and one FMA per slot add a tile's
//! exceptions
//! to its 16 sums in the lanes the tile's sums are stored from. Row by row in scalar code, 2b4t's
//! 0.42 % exceptions (about 11 a row, a varying count) cost about a third of what packing saved
//! (lm_head 1.09× against 1.14× without them, probe on the Zen 5 VM).

/// Rows per tile (the kernels' row tile).
pub const TILE_ROWS: usize = 16;
/// Bytes one slot takes in the stream: 16 columns and 16 F16 values, a cache line.
pub const SLOT_BYTES: u64 = (TILE_ROWS * 4) as u64;

/// Exceptions of every row, tile by tile.
#[derive(Debug, Clone, PartialEq)]
pub struct Exceptions {
    /// First slot of each tile; one more than there are tiles.
    tile_starts: Vec<u32>,
    /// Exceptions per row.
    counts: Vec<u32>,
    cols: Vec<u16>,
    bits: Vec<u16>,
    /// The tile being filled: each row's (column, F16 bits) list.
    pending: Vec<Vec<(u16, u16)>>,
}

impl Default for Exceptions {
    fn default() -> Self {
        Exceptions {
            tile_starts: vec![0],
            counts: Vec::new(),
            cols: Vec::new(),
            bits: Vec::new(),
            pending: Vec::new(),
        }
    }
}

impl Exceptions {
    /// Adds the next row's exceptions (column, F16 bits); a full tile is laid out into slots.
    pub(crate) fn push_row(&mut self, row: Vec<(u16, u16)>) {
        self.pending.push(row);
        if self.pending.len() == TILE_ROWS {
            self.flush();
        }
    }

    /// Lays out the last, partial tile (call once after the last row).
    pub(crate) fn finish(&mut self) {
        if !self.pending.is_empty() {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let slots = self.pending.iter().map(Vec::len).max().unwrap_or(0);
        for s in 0..slots {
            for t in 0..TILE_ROWS {
                let (c, v) = self
                    .pending
                    .get(t)
                    .and_then(|row| row.get(s))
                    .copied()
                    .unwrap_or((0, 0));
                self.cols.push(c);
                self.bits.push(v);
            }
        }
        self.counts
            .extend(self.pending.iter().map(|row| row.len() as u32));
        let last = self.tile_starts.last().copied().unwrap_or(0);
        self.tile_starts.push(last + slots as u32);
        self.pending.clear();
    }

    /// Tile `g`'s slots (16 columns and 16 F16 values each, lane t for row 16g + t) and its
    /// rows' exception counts (fewer than 16 in a last, partial tile).
    pub fn tile(&self, g: usize) -> (&[u16], &[u16], &[u32]) {
        let (a, b) = (
            TILE_ROWS * self.tile_starts[g] as usize,
            TILE_ROWS * self.tile_starts[g + 1] as usize,
        );
        let rows = TILE_ROWS * g..self.counts.len().min(TILE_ROWS * (g + 1));
        (&self.cols[a..b], &self.bits[a..b], &self.counts[rows])
    }

    /// Row `r`'s exceptions (column, F16 bits), in column order.
    pub fn of_row(&self, r: usize) -> impl Iterator<Item = (usize, u16)> + '_ {
        let (cols, values, _) = self.tile(r / TILE_ROWS);
        let lane = r % TILE_ROWS;
        (0..self.counts[r] as usize).map(move |s| {
            let i = TILE_ROWS * s + lane;
            (cols[i] as usize, values[i])
        })
    }

    /// Exceptions in every row.
    pub fn len(&self) -> usize {
        self.counts.iter().map(|&c| c as usize).sum()
    }

    /// Whether no row has one.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes a GEMV reads of them: the tile index and every slot.
    pub fn streamed_bytes(&self) -> u64 {
        4 * self.tile_starts.len() as u64 + SLOT_BYTES * (self.cols.len() / TILE_ROWS) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of a tile come back with their own exceptions whatever the other rows hold, across
    /// a full tile and a partial last one; padding is not an exception.
    #[test]
    fn rows_get_their_own_exceptions_back() {
        let mut e = Exceptions::default();
        let rows = 20;
        for r in 0..rows {
            e.push_row(
                (0..(r % 5))
                    .map(|j| ((3 * j + r) as u16, 0x8000 | r as u16))
                    .collect(),
            );
        }
        e.finish();
        for r in 0..rows {
            let got: Vec<_> = e.of_row(r).collect();
            let want: Vec<_> = (0..(r % 5))
                .map(|j| (3 * j + r, 0x8000 | r as u16))
                .collect();
            assert_eq!(got, want, "row {r}");
        }
        assert_eq!(e.len(), (0..rows).map(|r| r % 5).sum::<usize>());
        // Two tiles of 4 slots (rows 4, 9, 14, 19 have 4 exceptions).
        assert_eq!(e.tile(0).0.len(), 4 * TILE_ROWS);
        assert_eq!(e.tile(1).0.len(), 4 * TILE_ROWS);
        assert_eq!(e.streamed_bytes(), 4 * 3 + 8 * SLOT_BYTES);
    }
}
