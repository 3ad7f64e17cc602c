//! Where a ternary weight's code sits in a row-aligned I2_S matrix: in bitnet.cpp's row-major
//! block order, in the lane-major order of the AVX-512 VNNI kernel, or in that order with five
//! codes per byte (`format::trits16`).
//!
//! **Lanes** (`lanes16`): rows go in groups of 16, a group's bytes are contiguous, and each
//! 64-byte line of a group holds 16 columns of all 16 rows. Row `r`'s four bytes are the line's
//! 32-bit lane `r % 16`; byte `i` of the lane keeps the codes of columns `16c + 4p + i` at bit
//! shift `6 − 2p` (p = 0..3). Masking one plane `p` of a line gives, in every lane, four
//! consecutive columns of one row: a `vpdpbusd` against those four activations broadcast to all
//! lanes accumulates 16 rows' dot products side by side. A GEMV then needs no horizontal sum per
//! row and streams one contiguous run of lines per task. Measured on the Zen 5 VM (2 threads):
//! `cargo bench --bench i2s_gemv`, 6912×2560 in cache, 56.3 → 79.9 GiB/s against the row-major
//! VNNI kernel; 2B-4T prefill (pp128) 1.18× in one `perfd bench --compare-layout row-major` run.
//!
//! Row-major and lanes16 use the same bytes per matrix, `rows · padded_cols / 4`; trits16 0.8× of
//! that ([`TernaryLayout::row_bytes`]).

use std::fmt;

/// Rows per lane group.
pub const LANE_ROWS: usize = 16;
/// Columns per 64-byte line of a lane group.
pub const LANE_LINE_COLS: usize = 16;
/// Bytes per line.
pub const LANE_LINE_BYTES: usize = 64;

/// Order of the packed codes of a row-aligned I2_S matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TernaryLayout {
    /// bitnet.cpp's I2_S order, row after row (every kernel reads it; files store it).
    #[default]
    RowMajor,
    /// Lane groups of 16 rows (the AVX-512 VNNI kernel's order; see the module docs).
    Lanes16,
    /// Lane groups of 16 rows, five codes per byte (the AVX-512 VNNI decode's order; see
    /// `format::trits16`).
    Trits16,
}

impl TernaryLayout {
    /// Stable name (reports, errors).
    pub fn name(self) -> &'static str {
        match self {
            Self::RowMajor => "row-major",
            Self::Lanes16 => "lanes16",
            Self::Trits16 => "trits16",
        }
    }

    /// Whether a matrix of `rows` rows can be held in this layout.
    pub fn fits(self, rows: usize) -> bool {
        match self {
            Self::RowMajor => true,
            Self::Lanes16 | Self::Trits16 => rows.is_multiple_of(LANE_ROWS),
        }
    }

    /// Bytes a row of `padded_cols` columns (a multiple of 4) takes in this layout.
    pub fn row_bytes(self, padded_cols: usize) -> usize {
        match self {
            Self::RowMajor | Self::Lanes16 => padded_cols / 4,
            Self::Trits16 => crate::format::trits16::row_bytes(padded_cols),
        }
    }
}

impl fmt::Display for TernaryLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Byte offset and bit shift of the code of weight `(r, j)` in the lane layout of a matrix with
/// `row_bytes` packed bytes per row.
#[inline]
pub fn lanes_code_position(row_bytes: usize, r: usize, j: usize) -> (usize, u32) {
    let group = r / LANE_ROWS;
    let lane = r % LANE_ROWS;
    let line = j / LANE_LINE_COLS;
    let plane = (j % LANE_LINE_COLS) / 4;
    let byte = group * LANE_ROWS * row_bytes + line * LANE_LINE_BYTES + 4 * lane + j % 4;
    (byte, (6 - 2 * plane) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_a_group_has_its_own_slot() {
        let row_bytes = 2 * 32; // 256 columns
        let mut seen = vec![0u8; LANE_ROWS * row_bytes];
        for r in 0..LANE_ROWS {
            for j in 0..4 * row_bytes {
                let (byte, shift) = lanes_code_position(row_bytes, r, j);
                assert_eq!(seen[byte] & (3 << shift), 0, "({r}, {j}) collides");
                seen[byte] |= 3 << shift;
            }
        }
        assert!(seen.iter().all(|&b| b == 0xFF));
        // The second group starts after the first's bytes.
        assert_eq!(
            lanes_code_position(row_bytes, 16, 0).0,
            LANE_ROWS * row_bytes
        );
        assert!(TernaryLayout::Lanes16.fits(640) && !TernaryLayout::Lanes16.fits(24));
    }
}
