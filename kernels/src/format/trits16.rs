//! The trits16 layout: lane groups of 16 rows as in lanes16, but five ternary codes per byte
//! (3⁵ = 243 ≤ 256) where lanes16 holds four: 1.6 bits per weight, so a decode streams 0.8× the
//! ternary bytes (2B-4T: 0.42 GB a token where lanes16 reads 0.52).
//!
//! Line `c` of a group (64 bytes) holds columns `20c..20c + 20` of its 16 rows. Row `r`'s four
//! bytes are the line's 32-bit lane `r % 16`; byte `i` of the lane holds the codes of columns
//! `20c + 4k + i`, k = 0..5, as the base-3 number `v = Σ code_k · 3^(4−k)`, stored as
//! `q = ⌈256·v / 243⌉`, llama.cpp's TQ1_0 byte (`format::ggml_blocks`). Digit k is then read by
//! multiplying by 3 in a byte:
//! `y₀ = q`, `d_k = ⌊3·y_k / 256⌋`, `y_{k+1} = 3·y_k mod 256` (every one of the 243 values is
//! checked below). Digit k of every byte of a line gives, in each lane, four consecutive columns
//! of one row, so a `vpdpbusd` against those four activations broadcast accumulates 16 rows side
//! by side, as in lanes16.
//!
//! Since `3·y_k = 256·d_k + y_{k+1}` holds exactly for any byte, a dot product needs no digit at
//! all: `Σ_k d_k·a_k = (3·Σ_k y_k·a_k − Σ_k y_{k+1}·a_k) / 256`, two `vpdpbusd` on the bytes as
//! they are per digit and two byte adds for `3·y`. The decode kernel does that; the same identity
//! defines the codes of any byte, so kernels and [`BYTE_CODES`] agree on every byte, valid or not.
//!
//! A row's `padded_cols` columns (a multiple of 128, so of 4) take ⌈padded_cols / 20⌉ lines; the
//! last line of a row whose padded columns are not a multiple of 20 holds fewer digits (the rest
//! are 0, and no kernel reads them).

use crate::format::ternary_layout::{lanes_code_position, LANE_LINE_BYTES, LANE_ROWS};

/// Columns per 64-byte line of a trits16 group.
pub const TRIT_LINE_COLS: usize = 20;
/// Codes per byte.
pub const DIGITS: usize = 5;

/// Lines per group for rows of `padded_cols` columns.
#[inline]
pub fn lines(padded_cols: usize) -> usize {
    padded_cols.div_ceil(TRIT_LINE_COLS)
}

/// Digits of a row's partial last line (0: the row ends on a full line of 5).
#[inline]
pub fn tail_digits(padded_cols: usize) -> usize {
    padded_cols % TRIT_LINE_COLS / 4
}

/// Bytes one row takes (its share of its group's lines).
#[inline]
pub fn row_bytes(padded_cols: usize) -> usize {
    lines(padded_cols) * LANE_LINE_BYTES / LANE_ROWS
}

/// The byte holding five codes (0, 1, 2), `codes[0]` the most significant digit: llama.cpp's
/// TQ1_0 byte.
pub use crate::format::ggml_blocks::tq1_0_byte as encode;

/// Digit `k` (0 = most significant) of a packed byte, as every kernel reads it: the TQ1_0 code.
pub use crate::format::ggml_blocks::tq1_0_code as digit;

/// Every byte's five codes, as [`digit`] reads them (the per-task repack's table).
pub const BYTE_CODES: [[u8; DIGITS]; 256] = {
    let mut table = [[0u8; DIGITS]; 256];
    let mut q = 0;
    while q < 256 {
        let mut k = 0;
        while k < DIGITS {
            table[q][k] = digit(q as u8, k);
            k += 1;
        }
        q += 1;
    }
    table
};

/// Byte offset and digit of the code of weight `(r, j)` in a trits16 matrix of `lines` lines per
/// group.
#[inline]
pub fn code_position(lines: usize, r: usize, j: usize) -> (usize, usize) {
    let group = r / LANE_ROWS;
    let lane = r % LANE_ROWS;
    let line = j / TRIT_LINE_COLS;
    let byte = group * lines * LANE_LINE_BYTES + line * LANE_LINE_BYTES + 4 * lane + j % 4;
    (byte, (j % TRIT_LINE_COLS) / 4)
}

/// Repacks a lanes16 matrix (`rows`, a multiple of 16, of `padded_cols` columns) into trits16 in
/// place and returns the trits16 length; the bytes after it are left as they were.
pub fn lanes_to_trits_in_place(data: &mut [u8], rows: usize, padded_cols: usize) -> usize {
    lanes_to_trits_in_place_with(data, rows, padded_cols, |_, _, _| false)
}

/// [`lanes_to_trits_in_place`] with `fast_line(group, c, out)` offered every line first: it
/// writes trits16 line `c` of the lanes16 `group` into `out` and returns true, or returns false
/// to leave the line to the scalar packer (the AVX-512 one in `cpu::lanes_pack` takes the full
/// lines).
///
/// In place works line by line: trits16 line `c` of group `g` lands at or before the first
/// lanes16 line it reads (`g·T + c ≤ g·L + ⌊5c/4⌋` lines, T < L the group sizes), and every code
/// it overwrites has been read for a line at or before `c`.
pub(crate) fn lanes_to_trits_in_place_with(
    data: &mut [u8],
    rows: usize,
    padded_cols: usize,
    fast_line: impl Fn(&[u8], usize, &mut [u8; LANE_LINE_BYTES]) -> bool,
) -> usize {
    let lanes_group = LANE_ROWS * padded_cols / 4;
    let n_lines = lines(padded_cols);
    let trits_group = n_lines * LANE_LINE_BYTES;
    let mut line = [0u8; LANE_LINE_BYTES];
    for g in 0..rows / LANE_ROWS {
        for c in 0..n_lines {
            let group = &data[g * lanes_group..(g + 1) * lanes_group];
            if !fast_line(group, c, &mut line) {
                scalar_line(group, padded_cols, c, &mut line);
            }
            let at = g * trits_group + c * LANE_LINE_BYTES;
            data[at..at + LANE_LINE_BYTES].copy_from_slice(&line);
        }
    }
    rows / LANE_ROWS * trits_group
}

/// Trits16 line `c` of one lanes16 group of rows with `padded_cols` columns.
pub(crate) fn scalar_line(
    group: &[u8],
    padded_cols: usize,
    c: usize,
    out: &mut [u8; LANE_LINE_BYTES],
) {
    let quads = padded_cols / 4;
    for lane in 0..LANE_ROWS {
        for i in 0..4 {
            let mut codes = [0u8; DIGITS];
            for (k, code) in codes.iter_mut().enumerate() {
                let quad = DIGITS * c + k;
                if quad < quads {
                    let (byte, shift) = lanes_code_position(padded_cols / 4, lane, 4 * quad + i);
                    *code = (group[byte] >> shift) & 3;
                }
            }
            out[4 * lane + i] = encode(codes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_five_codes_come_back_from_their_byte_and_the_identity_holds() {
        let mut seen = std::collections::HashSet::new();
        for v in 0..243u32 {
            let codes: [u8; DIGITS] =
                std::array::from_fn(|k| (v / 3u32.pow(4 - k as u32) % 3) as u8);
            let q = encode(codes);
            assert!(seen.insert(q), "{codes:?} shares byte {q}");
            for (k, &code) in codes.iter().enumerate() {
                assert_eq!(digit(q, k), code, "v = {v}, digit {k}");
            }
        }
        // The kernels' identity, for every byte (valid or not) and digit.
        for q in 0..=255u8 {
            let mut y = u32::from(q);
            for k in 0..DIGITS {
                let next = 3 * y % 256;
                assert_eq!(3 * y, 256 * u32::from(digit(q, k)) + next);
                assert!(digit(q, k) <= 2);
                y = next;
            }
        }
    }

    #[test]
    fn row_sizes_cover_every_column() {
        assert_eq!((lines(2560), tail_digits(2560)), (128, 0));
        assert_eq!((lines(6912), tail_digits(6912)), (346, 3));
        assert_eq!((lines(128), tail_digits(128)), (7, 2));
        assert_eq!(row_bytes(2560) * 5, 2560 / 4 * 4);
        // Every weight of a 16-row group has its own byte and digit.
        let cols = 384;
        let n = lines(cols);
        let mut seen = vec![[false; DIGITS]; n * LANE_LINE_BYTES];
        for r in 0..LANE_ROWS {
            for j in 0..cols {
                let (byte, k) = code_position(n, r, j);
                assert!(!seen[byte][k], "({r}, {j}) collides");
                seen[byte][k] = true;
            }
        }
        assert_eq!(code_position(n, 16, 0).0, n * LANE_LINE_BYTES);
    }
}
