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
            let mask = _mm256_set1_epi8(3);
            let ones = _mm256_set1_epi16(1);
            let mut acc = [[_mm256_setzero_si256(); T]; R];
            for b in units {
                for i in 0..R {
                    let wp = rows[i].as_ptr().add(b * BLOCK_BYTES);
                    prefetch_ahead_with::<S, N>(wp, self.ahead);
                    // SAFETY: block b < blocks, so 32 bytes from wp lie inside row i.
                    let wv = _mm256_loadu_si256(wp as *const __m256i);
                    let c0 = _mm256_and_si256(_mm256_srli_epi16::<6>(wv), mask);
                    let c1 = _mm256_and_si256(_mm256_srli_epi16::<4>(wv), mask);
                    let c2 = _mm256_and_si256(_mm256_srli_epi16::<2>(wv), mask);
                    let c3 = _mm256_and_si256(wv, mask);
                    for j in 0..T {
                        // SAFETY: each token row holds padded_cols = 4·row_bytes activations.
                        let ap = toks[j].as_ptr().add(b * BLOCK_WEIGHTS) as *const __m256i;
                        let s0 = _mm256_maddubs_epi16(c0, _mm256_loadu_si256(ap));
                        let s1 = _mm256_maddubs_epi16(c1, _mm256_loadu_si256(ap.add(1)));
                        let s2 = _mm256_maddubs_epi16(c2, _mm256_loadu_si256(ap.add(2)));
                        let s3 = _mm256_maddubs_epi16(c3, _mm256_loadu_si256(ap.add(3)));
                        let s =
                            _mm256_add_epi16(_mm256_add_epi16(s0, s1), _mm256_add_epi16(s2, s3));
                        acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(s, ones));
                    }
                }
            }
            for i in 0..R {
                for j in 0..T {
                    out[(r + i) * self.tokens + token + j] += hsum_epi32(acc[i][j]);
                }
            }
        }
    }
}

/// Sum of the eight i32 lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn hsum_epi32(v: __m256i) -> i32 {
    // SAFETY: this function's contract: AVX2 is present (inlined into the `avx2` entry point).
    unsafe {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }
}
