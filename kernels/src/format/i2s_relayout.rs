//! Moves I2_S codes between the row-major, lanes16 and trits16 layouts ([`TernaryLayout`]): once
//! per matrix at model load (in place, a lane group at a time), and per task where a kernel that
//! only reads row-major meets a lanes16 or trits16 matrix.

use std::ops::Range;

use crate::error::KernelError;
use crate::format::i2s::{code_position, I2sMatrix, I2sMatrixRef, BLOCK_BYTES, BLOCK_WEIGHTS};
use crate::format::ternary_layout::{TernaryLayout, LANE_LINE_BYTES, LANE_LINE_COLS, LANE_ROWS};
use crate::format::trits16;

/// Row-major byte offset (within its row) and bit shift holding columns `16c + 4p + i`, p = 0..3,
/// at offsets `+4p`: a 16-column line never crosses a 32-column plane of a 128-weight block, so
/// the four codes a lanes16 byte gathers share one shift.
#[inline]
pub(crate) fn row_major_line(c: usize) -> (usize, u32) {
    let j0 = c * LANE_LINE_COLS;
    let offset = (j0 / BLOCK_WEIGHTS) * BLOCK_BYTES + j0 % BLOCK_BYTES;
    (
        offset,
        (6 - 2 * ((j0 % BLOCK_WEIGHTS) / BLOCK_BYTES)) as u32,
    )
}

/// Writes the lanes16 bytes of one group of 16 row-major rows (`rows`, 16·`row_bytes` bytes).
fn group_to_lanes(rows: &[u8], row_bytes: usize, out: &mut [u8]) {
    for c in 0..row_bytes * 4 / LANE_LINE_COLS {
        let (offset, shift) = row_major_line(c);
        for lane in 0..LANE_ROWS {
            let src = &rows[lane * row_bytes + offset..];
            for i in 0..4 {
                let mut b = 0u8;
                for p in 0..4 {
                    b |= ((src[4 * p + i] >> shift) & 3) << (6 - 2 * p);
                }
                out[c * LANE_LINE_BYTES + 4 * lane + i] = b;
            }
        }
    }
}

/// The inverse of [`group_to_lanes`] for the rows `lanes` of a group (0..16), into `out`
/// (`lanes.len()` row-major rows).
fn group_to_rows(group: &[u8], row_bytes: usize, lanes: Range<usize>, out: &mut [u8]) {
    for c in 0..row_bytes * 4 / LANE_LINE_COLS {
        let (offset, shift) = row_major_line(c);
        let line = &group[c * LANE_LINE_BYTES..(c + 1) * LANE_LINE_BYTES];
        for (k, lane) in lanes.clone().enumerate() {
            let dst = &mut out[k * row_bytes + offset..];
            for p in 0..4 {
                for i in 0..4 {
                    let code = (line[4 * lane + i] >> (6 - 2 * p)) & 3;
                    let slot = &mut dst[4 * p + i];
                    *slot = (*slot & !(3 << shift)) | (code << shift);
                }
            }
        }
    }
}

/// Reorders the row-aligned codes `data` of a `rows`-row matrix with `row_bytes` bytes per row
/// from row-major to lanes16, in place. `rows` must be a multiple of 16.
pub fn row_major_to_lanes_in_place(data: &mut [u8], rows: usize, row_bytes: usize) {
    each_group_in_place(data, rows, row_bytes, group_to_lanes);
}

/// Runs `to_lanes(rows, row_bytes, out)` on every 16-row group of `data`, the group's row-major
/// bytes copied aside first so that `out` may overwrite them: the loop the scalar reorder and
/// the SIMD one (`cpu::lanes_pack`) share.
pub(crate) fn each_group_in_place(
    data: &mut [u8],
    rows: usize,
    row_bytes: usize,
    to_lanes: impl Fn(&[u8], usize, &mut [u8]),
) {
    assert!(TernaryLayout::Lanes16.fits(rows) && data.len() == rows * row_bytes);
    let mut scratch = vec![0u8; LANE_ROWS * row_bytes];
    for group in data.chunks_exact_mut(LANE_ROWS * row_bytes) {
        scratch.copy_from_slice(group);
        to_lanes(&scratch, row_bytes, group);
    }
}

/// Rows `rows` of a lanes16 matrix as row-major packed rows into `out`
/// (`rows.len() · row_bytes` bytes).
pub fn lanes_rows_to_row_major(w: &I2sMatrixRef<'_>, rows: Range<usize>, out: &mut [u8]) {
    debug_assert_eq!(w.layout(), TernaryLayout::Lanes16);
    let row_bytes = w.row_bytes();
    let group_bytes = LANE_ROWS * row_bytes;
    let mut r = rows.start;
    while r < rows.end {
        let g = r / LANE_ROWS;
        let end = rows.end.min((g + 1) * LANE_ROWS);
        let group = &w.data()[g * group_bytes..(g + 1) * group_bytes];
        let dst = &mut out[(r - rows.start) * row_bytes..(end - rows.start) * row_bytes];
        group_to_rows(
            group,
            row_bytes,
            r % LANE_ROWS..r % LANE_ROWS + (end - r),
            dst,
        );
        r = end;
    }
}

/// Rows `rows` of `w`, in any layout, as row-major packed rows into `out`
/// (`rows.len() · padded_cols / 4` bytes).
pub fn rows_to_row_major(w: &I2sMatrixRef<'_>, rows: Range<usize>, out: &mut [u8]) {
    let row_bytes = w.padded_cols() / 4;
    match w.layout() {
        TernaryLayout::RowMajor => {
            out.copy_from_slice(&w.data()[rows.start * row_bytes..rows.end * row_bytes])
        }
        TernaryLayout::Lanes16 => lanes_rows_to_row_major(w, rows, out),
        TernaryLayout::Trits16 => trits_rows_to_row_major(w, rows, out),
    }
}

/// Rows `rows` of a trits16 matrix as row-major packed rows into `out`: each byte's five codes
/// from `trits16::BYTE_CODES`, each code to its row-major slot.
fn trits_rows_to_row_major(w: &I2sMatrixRef<'_>, rows: Range<usize>, out: &mut [u8]) {
    let padded = w.padded_cols();
    let row_bytes = padded / 4;
    let lines = trits16::lines(padded);
    let group_bytes = lines * LANE_LINE_BYTES;
    // Padding columns hold zero weights (code 1), as in a row-major row.
    out.fill(0b0101_0101);
    for (n, r) in rows.enumerate() {
        let dst = &mut out[n * row_bytes..(n + 1) * row_bytes];
        let lane = &w.data()[(r / LANE_ROWS) * group_bytes + 4 * (r % LANE_ROWS)..];
        for c in 0..lines {
            for i in 0..4 {
                let codes = trits16::BYTE_CODES[usize::from(lane[c * LANE_LINE_BYTES + i])];
                for (k, &code) in codes.iter().enumerate() {
                    let j = trits16::TRIT_LINE_COLS * c + 4 * k + i;
                    if j >= w.cols() {
                        continue;
                    }
                    let (byte, shift) = code_position(j % BLOCK_WEIGHTS);
                    let slot = &mut dst[(j / BLOCK_WEIGHTS) * BLOCK_BYTES + byte];
                    *slot = (*slot & !(3 << shift)) | (code << shift);
                }
            }
        }
    }
}

/// A copy of `w` in `layout` (itself when it is in `layout` already); a layout that does not fit
/// the matrix (lanes16 or trits16 with rows not a multiple of 16) is an error.
pub fn relayout(w: &I2sMatrixRef<'_>, layout: TernaryLayout) -> Result<I2sMatrix, KernelError> {
    let (rows, cols) = (w.rows(), w.cols());
    if w.layout() == layout {
        return I2sMatrix::from_aligned_in(w.data().to_vec(), rows, cols, w.scale(), layout);
    }
    if !layout.fits(rows) {
        return Err(KernelError::InvalidShape {
            rows,
            cols,
            reason: "the lanes16 and trits16 layouts need a multiple of 16 rows",
        });
    }
    let row_bytes = w.padded_cols() / 4;
    let mut data = match w.layout() {
        TernaryLayout::Lanes16 if layout == TernaryLayout::Trits16 => w.data().to_vec(),
        _ => {
            let mut rm = vec![0u8; rows * row_bytes];
            rows_to_row_major(w, 0..rows, &mut rm);
            if layout != TernaryLayout::RowMajor {
                row_major_to_lanes_in_place(&mut rm, rows, row_bytes);
            }
            rm
        }
    };
    if layout == TernaryLayout::Trits16 {
        let len = trits16::lanes_to_trits_in_place(&mut data, rows, w.padded_cols());
        data.truncate(len);
    }
    I2sMatrix::from_aligned_in(data, rows, cols, w.scale(), layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::random_matrix;

    #[test]
    fn lanes16_holds_every_code_where_code_finds_it_and_converts_back() {
        for (rows, cols) in [(16, 128), (32, 384), (48, 2560), (64, 300)] {
            let m = random_matrix(rows, cols, 7).unwrap();
            let lanes = relayout(&m.view(), TernaryLayout::Lanes16).unwrap();
            assert_eq!(lanes.layout(), TernaryLayout::Lanes16);
            assert_ne!(
                m.view().data(),
                lanes.view().data(),
                "{rows}x{cols} did not move"
            );
            for r in 0..rows {
                for j in 0..cols {
                    assert_eq!(m.view().code(r, j), lanes.view().code(r, j), "({r}, {j})");
                }
            }
            let back = relayout(&lanes.view(), TernaryLayout::RowMajor).unwrap();
            assert_eq!(back, m);
            // A task's rows that start and end inside groups.
            let rb = m.view().row_bytes();
            let part_rows = rows / 2 - 5..rows / 2 + 4;
            let mut part = vec![0u8; 9 * rb];
            lanes_rows_to_row_major(&lanes.view(), part_rows.clone(), &mut part);
            assert_eq!(
                part,
                m.view().data()[part_rows.start * rb..part_rows.end * rb]
            );
        }
        // A code of 3 is named by its row and column in either layout.
        let m = random_matrix(32, 256, 3).unwrap();
        let lanes = relayout(&m.view(), TernaryLayout::Lanes16).unwrap();
        let (r, j) = (21, 183);
        let (byte, shift) = crate::format::ternary_layout::lanes_code_position(64, r, j);
        let mut bad = lanes.view().data().to_vec();
        bad[byte] |= 3 << shift;
        let err = I2sMatrixRef::from_aligned_in(&bad, 32, 256, 0.1, TernaryLayout::Lanes16)
            .unwrap()
            .validate_codes()
            .unwrap_err();
        assert!(
            matches!(err, KernelError::InvalidCode { index } if index == r * 256 + j),
            "{err:?}"
        );
        let odd = random_matrix(24, 128, 1).unwrap();
        assert!(relayout(&odd.view(), TernaryLayout::Lanes16).is_err());
        assert!(relayout(&odd.view(), TernaryLayout::Trits16).is_err());
    }

    #[test]
    fn trits16_holds_every_code_in_four_fifths_of_the_bytes_and_converts_back() {
        // 300 columns pad to 384: 19 full lines and one of four digits; 2560 ends on a line.
        for (rows, cols) in [(16, 128), (32, 300), (48, 2560), (16, 6912)] {
            let m = random_matrix(rows, cols, 11).unwrap();
            let trits = relayout(&m.view(), TernaryLayout::Trits16).unwrap();
            let v = trits.view();
            assert_eq!(v.layout(), TernaryLayout::Trits16);
            assert_eq!(
                v.data().len(),
                rows * trits16::row_bytes(m.view().padded_cols())
            );
            assert!(5 * v.data().len() <= 4 * m.view().data().len() + 5 * 4 * rows);
            for r in 0..rows {
                for j in 0..cols {
                    assert_eq!(m.view().code(r, j), v.code(r, j), "({r}, {j})");
                }
            }
            assert_eq!(relayout(&v, TernaryLayout::RowMajor).unwrap(), m);
            let lanes = relayout(&m.view(), TernaryLayout::Lanes16).unwrap();
            assert_eq!(relayout(&v, TernaryLayout::Lanes16).unwrap(), lanes);
            assert_eq!(
                relayout(&lanes.view(), TernaryLayout::Trits16).unwrap(),
                trits
            );
            let rb = m.view().row_bytes();
            let part_rows = rows / 2 - 3..rows / 2 + 2;
            let mut part = vec![0u8; 5 * rb];
            rows_to_row_major(&v, part_rows.clone(), &mut part);
            assert_eq!(
                part,
                m.view().data()[part_rows.start * rb..part_rows.end * rb]
            );
        }
    }
}
