//! I2_S dot products over the lanes16 layout with AVX-512 VNNI: 16 rows per 64-byte line, one
//! 32-bit lane per row, activations broadcast four at a time (see `format::ternary_layout`).
//!
//! Decode keeps each plane masked but unshifted in its own accumulator (plane p holds code·4^(3−p))
//! and divides the scales out once per group, as the row-major decode tile does; with one
//! token there is nothing to amortise shifts over. Prompt batches shift the planes to plain codes
//! once per line and share them among a tile of up to 8 tokens, two groups (32 rows) at a time
//! (`lane_group_driver` walks the task).

use std::arch::x86_64::*;
use std::ops::Range;

use super::lane_group_driver::{self, quad, BatchTile, GroupSums, LaneGroups, BATCH_TOKENS};
use super::prefetch::prefetch_ahead_with;
use super::tile::TileParams;
use crate::activation::QuantizedActivations;
use crate::format::i2s::I2sMatrixRef;
use crate::format::ternary_layout::{LANE_LINE_BYTES, LANE_LINE_COLS, LANE_ROWS};

/// Σ code·q for rows `rows` × every token into `out[(r − rows.start)·tokens + t]`, `w` in lanes16.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and AVX-512VNNI (checked once by `I2sGemm::new`); `w`
/// is in the lanes16 layout and its columns match the activations' (checked by `I2sGemm`).
pub unsafe fn dot_codes_lanes(
    w: &I2sMatrixRef<'_>,
    rows: Range<usize>,
    acts: &QuantizedActivations,
    tile: TileParams,
    out: &mut [i32],
) {
    let kernel = Lanes {
        lines: w.row_bytes() * 4 / LANE_LINE_COLS,
    };
    // SAFETY: this function's contract: AVX-512F/BW/VNNI, whole groups of `padded_cols` columns
    // (`lines · 16`), which every token row holds.
    unsafe { lane_group_driver::dot_codes(&kernel, w.data(), rows, acts, tile, out) }
}

/// The lanes16 kernels of one matrix shape: `lines` 64-byte lines per group.
struct Lanes {
    lines: usize,
}

impl LaneGroups for Lanes {
    fn group_bytes(&self) -> usize {
        self.lines * LANE_LINE_BYTES
    }

    unsafe fn decode_with<const S: i32, const N: bool>(
        &self,
        group: &[u8],
        acts: &[i8],
        prefetch: usize,
        sums: &mut [i32; LANE_ROWS],
    ) {
        // SAFETY: the trait's contract (AVX-512F/BW/VNNI, one group, a token's row).
        unsafe { decode::<S, N>(group, self.lines, acts, prefetch, sums) }
    }

    unsafe fn batch(&self, tile: BatchTile<'_>, sums: &mut GroupSums) {
        let (g, n, acts, t0) = (tile.groups, self.lines, tile.acts, tile.tokens.start);
        let [first, second] = sums;
        // SAFETY: the trait's contract: `span` groups, every token row of the tile.
        unsafe {
            match (tile.span, tile.tokens.len()) {
                (2, BATCH_TOKENS) => batch_pair::<BATCH_TOKENS>(g, n, acts, t0, first, second),
                (2, 4) => batch_pair::<4>(g, n, acts, t0, first, second),
                (2, 2) => batch_pair::<2>(g, n, acts, t0, first, second),
                (2, _) => batch_pair::<1>(g, n, acts, t0, first, second),
                (_, BATCH_TOKENS) => batch::<BATCH_TOKENS>(g, n, acts, t0, first),
                (_, 4) => batch::<4>(g, n, acts, t0, first),
                (_, 2) => batch::<2>(g, n, acts, t0, first),
                _ => batch::<1>(g, n, acts, t0, first),
            }
        }
    }
}

/// Two adjacent lane groups (`groups`, 32 rows) against tokens `t0..t0 + T`: Σ code·q of their
/// rows into `first[0..T]` and `second[0..T]`.
///
/// # Safety
/// As [`batch`]; `groups` holds two groups of `lines` lines each.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn batch_pair<const T: usize>(
    groups: &[u8],
    lines: usize,
    acts: &QuantizedActivations,
    t0: usize,
    first: &mut [[i32; LANE_ROWS]; BATCH_TOKENS],
    second: &mut [[i32; LANE_ROWS]; BATCH_TOKENS],
) {
    let three = _mm512_set1_epi8(3);
    let toks: [*const i8; T] = std::array::from_fn(|j| acts.token(t0 + j).as_ptr());
    let second_group = lines * LANE_LINE_BYTES;
    let mut acc = [_mm512_setzero_si512(); T];
    let mut acc2 = [_mm512_setzero_si512(); T];
    // SAFETY: this function's contract bounds every line of both groups and every activation
    // quad.
    unsafe {
        let planes = |w: __m512i| {
            [
                _mm512_and_si512(_mm512_srli_epi16::<6>(w), three),
                _mm512_and_si512(_mm512_srli_epi16::<4>(w), three),
                _mm512_and_si512(_mm512_srli_epi16::<2>(w), three),
                _mm512_and_si512(w, three),
            ]
        };
        for c in 0..lines {
            let at = groups.as_ptr().add(c * LANE_LINE_BYTES);
            let a = planes(_mm512_loadu_si512(at as *const __m512i));
            let b = planes(_mm512_loadu_si512(at.add(second_group) as *const __m512i));
            let col = c * LANE_LINE_COLS;
            for j in 0..T {
                for p in 0..4 {
                    let q = quad(toks[j], col + 4 * p);
                    acc[j] = _mm512_dpbusd_epi32(acc[j], a[p], q);
                    acc2[j] = _mm512_dpbusd_epi32(acc2[j], b[p], q);
                }
            }
        }
        for j in 0..T {
            _mm512_storeu_si512(first[j].as_mut_ptr() as *mut __m512i, acc[j]);
            _mm512_storeu_si512(second[j].as_mut_ptr() as *mut __m512i, acc2[j]);
        }
    }
}

/// One lane group against one token: Σ code·q of its 16 rows into `sums`.
///
/// # Safety
/// AVX-512F/BW/VNNI are present; `group` holds `lines` 64-byte lines and `acts` at least
/// `16 · lines` values.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn decode<const S: i32, const N: bool>(
    group: &[u8],
    lines: usize,
    acts: &[i8],
    prefetch: usize,
    sums: &mut [i32; LANE_ROWS],
) {
    debug_assert!(group.len() >= lines * LANE_LINE_BYTES && acts.len() >= lines * LANE_LINE_COLS);
    let masks = [
        _mm512_set1_epi8(0xC0u8 as i8),
        _mm512_set1_epi8(0x30),
        _mm512_set1_epi8(0x0C),
        _mm512_set1_epi8(0x03),
    ];
    // Two accumulator sets (even and odd lines) halve the dependent `vpdpbusd` chains: with one,
    // a line waits for the previous line's four products.
    let mut even = [_mm512_setzero_si512(); 4];
    let mut odd = [_mm512_setzero_si512(); 4];
    let (wp, ap) = (group.as_ptr(), acts.as_ptr());
    let mut c = 0;
    // SAFETY: this function's contract bounds every line (`c < lines`) and every activation
    // quad (`16c + 4p + 4 ≤ 16 · lines`).
    unsafe {
        while c + 2 <= lines {
            let line = wp.add(c * LANE_LINE_BYTES);
            prefetch_ahead_with::<S, N>(line, prefetch);
            prefetch_ahead_with::<S, N>(line.add(LANE_LINE_BYTES), prefetch);
            let w0 = _mm512_loadu_si512(line as *const __m512i);
            let w1 = _mm512_loadu_si512(line.add(LANE_LINE_BYTES) as *const __m512i);
            for p in 0..4 {
                let a0 = quad(ap, c * LANE_LINE_COLS + 4 * p);
                let a1 = quad(ap, (c + 1) * LANE_LINE_COLS + 4 * p);
                even[p] = _mm512_dpbusd_epi32(even[p], _mm512_and_si512(w0, masks[p]), a0);
                odd[p] = _mm512_dpbusd_epi32(odd[p], _mm512_and_si512(w1, masks[p]), a1);
            }
            c += 2;
        }
        if c < lines {
            let w0 = _mm512_loadu_si512(wp.add(c * LANE_LINE_BYTES) as *const __m512i);
            for p in 0..4 {
                let a0 = quad(ap, c * LANE_LINE_COLS + 4 * p);
                even[p] = _mm512_dpbusd_epi32(even[p], _mm512_and_si512(w0, masks[p]), a0);
            }
        }
        let plane: [__m512i; 4] = std::array::from_fn(|p| _mm512_add_epi32(even[p], odd[p]));
        // Every lane of plane p is a multiple of 4^(3−p): the shifts divide exactly.
        let sum = _mm512_add_epi32(
            _mm512_add_epi32(
                _mm512_srai_epi32::<6>(plane[0]),
                _mm512_srai_epi32::<4>(plane[1]),
            ),
            _mm512_add_epi32(_mm512_srai_epi32::<2>(plane[2]), plane[3]),
        );
        _mm512_storeu_si512(sums.as_mut_ptr() as *mut __m512i, sum);
    }
}

/// One lane group against tokens `t0..t0 + T`: Σ code·q of its 16 rows into `sums[0..T]`.
///
/// # Safety
/// As [`decode`], for every token of the tile.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn batch<const T: usize>(
    group: &[u8],
    lines: usize,
    acts: &QuantizedActivations,
    t0: usize,
    sums: &mut [[i32; LANE_ROWS]; BATCH_TOKENS],
) {
    let three = _mm512_set1_epi8(3);
    let toks: [*const i8; T] = std::array::from_fn(|j| acts.token(t0 + j).as_ptr());
    let mut acc = [_mm512_setzero_si512(); T];
    let mut acc2 = [_mm512_setzero_si512(); T];
    // SAFETY: this function's contract bounds every line and activation quad.
    unsafe {
        for c in 0..lines {
            let w = _mm512_loadu_si512(group.as_ptr().add(c * LANE_LINE_BYTES) as *const __m512i);
            let planes = [
                _mm512_and_si512(_mm512_srli_epi16::<6>(w), three),
                _mm512_and_si512(_mm512_srli_epi16::<4>(w), three),
                _mm512_and_si512(_mm512_srli_epi16::<2>(w), three),
                _mm512_and_si512(w, three),
            ];
            let col = c * LANE_LINE_COLS;
            for j in 0..T {
                acc[j] = _mm512_dpbusd_epi32(acc[j], planes[0], quad(toks[j], col));
                acc2[j] = _mm512_dpbusd_epi32(acc2[j], planes[1], quad(toks[j], col + 4));
                acc[j] = _mm512_dpbusd_epi32(acc[j], planes[2], quad(toks[j], col + 8));
                acc2[j] = _mm512_dpbusd_epi32(acc2[j], planes[3], quad(toks[j], col + 12));
            }
        }
        for j in 0..T {
            _mm512_storeu_si512(
                sums[j].as_mut_ptr() as *mut __m512i,
                _mm512_add_epi32(acc[j], acc2[j]),
            );
        }
    }
}
