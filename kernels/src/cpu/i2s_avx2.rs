//! I2_S dot products with AVX2: `vpmaddubsw` multiplies unsigned codes by signed int8 activations.
//!
//! One 32-byte block holds 128 weights as four 2-bit planes; plane g (shift 6−2g) holds weights
//! 32g..32g+32, which line up with 32 consecutive activations, so activations stay in natural order.
//! Each `vpmaddubsw` pair sum is at most 2·2·128 = 512 in magnitude; four planes add to ≤ 2048,
//! far below i16 saturation, before `vpmaddwd` widens to i32.

use std::arch::x86_64::*;
use std::ops::Range;

use super::prefetch::{prefetch_ahead_with, with_prefetch_hint};
use super::tile::{drive, TileKernel, TileParams};
use crate::activation::QuantizedActivations;
use crate::format::i2s::{I2sMatrixRef, BLOCK_BYTES, BLOCK_WEIGHTS};

/// Σ code·q for rows `rows` × every token into `out[(r − rows.start)·tokens + t]`.
///
/// # Safety
/// The CPU must support AVX2 (checked once by `I2sGemm::new`).
#[target_feature(enable = "avx2")]
pub unsafe fn dot_codes(
    w: &I2sMatrixRef<'_>,
    rows: Range<usize>,
    acts: &QuantizedActivations,
    tile: TileParams,
    out: &mut [i32],
) {
    with_prefetch_hint!(tile.prefetch_hint, S, N => {
        let k = Avx2Tiles::<S, N> {
            w,
            row0: rows.start,
            acts,
            tokens: acts.tokens(),
            ahead: tile.prefetch_bytes,
        };
        // SAFETY: this function's contract: AVX2 is present and the shapes agree.
        unsafe { drive(&k, rows.len(), acts.tokens(), tile, out) }
    })
}

/// The AVX2 tile over natural-order activations, prefetching `ahead` bytes with the hint's
/// consts `S` and `N` (see `prefetch_ahead_with`).
struct Avx2Tiles<'a, 'w, const S: i32, const N: bool> {
    w: &'a I2sMatrixRef<'w>,
    row0: usize,
    acts: &'a QuantizedActivations,
    tokens: usize,
    ahead: usize,
}

impl<const S: i32, const N: bool> TileKernel for Avx2Tiles<'_, '_, S, N> {
    fn units(&self) -> usize {
        self.w.row_bytes() / BLOCK_BYTES
    }

    fn unit_weights(&self) -> usize {
        BLOCK_WEIGHTS
    }

    #[inline(always)]
    unsafe fn add_tile<const R: usize, const T: usize>(
        &self,
        r: usize,
        token: usize,
        units: Range<usize>,
        out: &mut [i32],
    ) {
        // SAFETY: this function's contract: AVX2 is present (the caller is the `avx2` entry
        // point, into which this is inlined) and the tile lies inside the operands.
        unsafe {
            let rows: [&[u8]; R] = std::array::from_fn(|i| self.w.row(self.row0 + r + i));
            let toks: [&[i8]; T] = std::array::from_fn(|j| self.acts.token(token + j));
            let mut acc = [[_mm256_setzero_si256(); T]; R];
            // Two blocks (one 64-byte line of a row) a step; an odd last block alone.
            let mut b = units.start;
            while b + 2 <= units.end {
                self.add_blocks::<R, T, 2>(&rows, &toks, b, &mut acc);
                b += 2;
            }
            if b < units.end {
                self.add_blocks::<R, T, 1>(&rows, &toks, b, &mut acc);
            }
            for i in 0..R {
                for j in 0..T {
                    out[(r + i) * self.tokens + token + j] += hsum_epi32(acc[i][j]);
                }
            }
        }
    }
}

impl<const S: i32, const N: bool> Avx2Tiles<'_, '_, S, N> {
    /// Adds blocks `b..b + B` (B = 1 or 2: at most one 64-byte line) of the tile's rows: one
    /// prefetch a row, and the blocks' i16 sums added before one widening to i32 (|sum| ≤
    /// 2 blocks · 4 planes · 2 · 3 · 128 = 6144, far from i16's limit, for any code).
    ///
    /// # Safety
    /// As [`TileKernel::add_tile`], inlined into it; blocks `b..b + B` lie in every row.
    #[inline(always)]
    unsafe fn add_blocks<const R: usize, const T: usize, const B: usize>(
        &self,
        rows: &[&[u8]; R],
        toks: &[&[i8]; T],
        b: usize,
        acc: &mut [[__m256i; T]; R],
    ) {
        // SAFETY: this function's contract: B blocks of 32 bytes from wp lie inside row i, and
        // each token row holds padded_cols = 4·row_bytes activations.
        unsafe {
            for (row, acc_i) in rows.iter().zip(acc.iter_mut()) {
                let wp = row.as_ptr().add(b * BLOCK_BYTES);
                prefetch_ahead_with::<S, N>(wp, self.ahead);
                let mut c = [[_mm256_setzero_si256(); 4]; B];
                for (k, ck) in c.iter_mut().enumerate() {
                    *ck = planes(wp.add(k * BLOCK_BYTES));
                }
                for (a, tok) in acc_i.iter_mut().zip(toks) {
                    let ap = tok.as_ptr().add(b * BLOCK_WEIGHTS);
                    let mut s = block_sum(&c[0], ap);
                    for (k, ck) in c.iter().enumerate().skip(1) {
                        s = _mm256_add_epi16(s, block_sum(ck, ap.add(k * BLOCK_WEIGHTS)));
                    }
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(s, ones()));
                }
            }
        }
    }
}

/// The four 2-bit planes of the 32-byte block at `wp`, one code per byte: plane g (shift 6 − 2g)
/// holds weights 32g..32g + 32.
///
/// # Safety
/// The CPU must support AVX2; 32 bytes at `wp` are readable.
#[inline(always)]
pub(super) unsafe fn planes(wp: *const u8) -> [__m256i; 4] {
    // SAFETY: this function's contract (inlined into the AVX2 and AVX-VNNI entry points).
    unsafe {
        let mask = _mm256_set1_epi8(3);
        let wv = _mm256_loadu_si256(wp as *const __m256i);
        [
            _mm256_and_si256(_mm256_srli_epi16::<6>(wv), mask),
            _mm256_and_si256(_mm256_srli_epi16::<4>(wv), mask),
            _mm256_and_si256(_mm256_srli_epi16::<2>(wv), mask),
            _mm256_and_si256(wv, mask),
        ]
    }
}

/// Σ code·q of one block's planes `c` against the 128 activations at `ap`, as 16 i16 pair sums
/// (each |·| ≤ 4 planes · 2 · 3 · 128 = 3072).
///
/// # Safety
/// The CPU must support AVX2; 128 activations at `ap` are readable.
#[inline(always)]
unsafe fn block_sum(c: &[__m256i; 4], ap: *const i8) -> __m256i {
    // SAFETY: this function's contract (inlined into the `avx2` entry point).
    unsafe {
        let ap = ap as *const __m256i;
        let s0 = _mm256_maddubs_epi16(c[0], _mm256_loadu_si256(ap));
        let s1 = _mm256_maddubs_epi16(c[1], _mm256_loadu_si256(ap.add(1)));
        let s2 = _mm256_maddubs_epi16(c[2], _mm256_loadu_si256(ap.add(2)));
        let s3 = _mm256_maddubs_epi16(c[3], _mm256_loadu_si256(ap.add(3)));
        _mm256_add_epi16(_mm256_add_epi16(s0, s1), _mm256_add_epi16(s2, s3))
    }
}

/// Sixteen i16 ones, for `vpmaddwd` to widen pair sums to i32.
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn ones() -> __m256i {
    // SAFETY: this function's contract.
    unsafe { _mm256_set1_epi16(1) }
}

/// Sum of the eight i32 lanes (also the AVX-VNNI kernel's).
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
pub(super) unsafe fn hsum_epi32(v: __m256i) -> i32 {
    // SAFETY: this function's contract: AVX2 is present (inlined into the entry points).
    unsafe {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }
}
