//! I2_S dot products with AVX-VNNI: the 256-bit `vpdpbusd` multiplies unsigned codes by signed
//! int8 activations and accumulates four products straight into each i32 lane, where AVX2 needs
//! `vpmaddubsw`, three i16 adds, `vpmaddwd` and an add. For CPUs with VNNI but not AVX-512
//! (Intel's client cores since Alder Lake, the E-core Xeons since Sierra Forest).
//!
//! The tile walk and block layout are `i2s_tiles256`'s. One token
//! takes the planes masked with fewer shifts: `wv & 3` and `wv & 12` are planes 3 and 4·plane 2,
//! `(wv >> 4) & 3` and `(wv >> 4) & 12` planes 1 and 4·plane 0; the planes scaled by 4 go to a
//! second accumulator, which is exactly divisible by 4 at the end. One shift instead of three
//! per block; codes ≤ 3 keep every u8 operand ≤ 12 and every sum far inside i32.

use std::arch::x86_64::*;
use std::ops::Range;

use super::i2s_avx2::{one_shift_planes, planes};
use super::i2s_tiles256::{self, BlockDot256};
use super::prefetch::prefetch_ahead_with;
use super::tile::TileParams;
use crate::activation::QuantizedActivations;
use crate::format::i2s::{I2sMatrixRef, BLOCK_BYTES, BLOCK_WEIGHTS};

/// Σ code·q for rows `rows` × every token into `out[(r − rows.start)·tokens + t]`.
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI (checked once by `I2sGemm::new`).
#[target_feature(enable = "avx2,avxvnni")]
pub unsafe fn dot_codes(
    w: &I2sMatrixRef<'_>,
    rows: Range<usize>,
    acts: &QuantizedActivations,
    tile: TileParams,
    out: &mut [i32],
) {
    // SAFETY: this function's contract: AVX2 and AVX-VNNI are present and the shapes agree.
    unsafe { i2s_tiles256::dot_codes::<AvxVnni>(w, rows, acts, tile, out) }
}

/// The AVX-VNNI step: `vpdpbusd` straight into the i32 accumulators.
struct AvxVnni;

impl BlockDot256 for AvxVnni {
    /// One prefetch a row.
    #[inline(always)]
    unsafe fn add_blocks<
        const S: i32,
        const N: bool,
        const R: usize,
        const T: usize,
        const B: usize,
    >(
        rows: &[&[u8]; R],
        toks: &[&[i8]; T],
        b: usize,
        ahead: usize,
        acc: &mut [[__m256i; T]; R],
    ) {
        // SAFETY: the trait's contract: B blocks of 32 bytes from wp lie inside row i, and each
        // token row holds padded_cols = 4·row_bytes activations.
        unsafe {
            for (row, acc_i) in rows.iter().zip(acc.iter_mut()) {
                let wp = row.as_ptr().add(b * BLOCK_BYTES);
                prefetch_ahead_with::<S, N>(wp, ahead);
                for k in 0..B {
                    let c = planes(wp.add(k * BLOCK_BYTES));
                    for (a, tok) in acc_i.iter_mut().zip(toks) {
                        *a = block_dot(*a, &c, tok.as_ptr().add((b + k) * BLOCK_WEIGHTS));
                    }
                }
            }
        }
    }

    /// The planes masked with one shift a block (see the module docs) into `acc[i][0]` (planes
    /// 3 and 1) and `acc[i][1]` (4 × planes 2 and 0).
    #[inline(always)]
    unsafe fn decode_blocks<const S: i32, const N: bool, const R: usize, const B: usize>(
        rows: &[&[u8]; R],
        tok: &[i8],
        b: usize,
        ahead: usize,
        acc: &mut [[__m256i; 2]; R],
    ) {
        // SAFETY: the trait's contract: B blocks of 32 bytes from wp lie inside row i; the
        // token row holds padded_cols = 4·row_bytes activations.
        unsafe {
            for (row, [ones, fours]) in rows.iter().zip(acc.iter_mut()) {
                let wp = row.as_ptr().add(b * BLOCK_BYTES);
                prefetch_ahead_with::<S, N>(wp, ahead);
                for k in 0..B {
                    let ap = tok.as_ptr().add((b + k) * BLOCK_WEIGHTS);
                    let ([p3, p1, f2, f0], [a3, a1, a2, a0]) =
                        one_shift_planes(wp.add(k * BLOCK_BYTES), ap);
                    *ones = _mm256_dpbusd_avx_epi32(*ones, p3, a3);
                    *ones = _mm256_dpbusd_avx_epi32(*ones, p1, a1);
                    *fours = _mm256_dpbusd_avx_epi32(*fours, f2, a2);
                    *fours = _mm256_dpbusd_avx_epi32(*fours, f0, a0);
                }
            }
        }
    }

    /// Every product in the second accumulator has a factor 4, so the shift divides exactly.
    #[inline(always)]
    unsafe fn decode_sum([ones, fours]: [__m256i; 2]) -> __m256i {
        // SAFETY: the trait's contract: AVX2 is present.
        unsafe { _mm256_add_epi32(ones, _mm256_srai_epi32::<2>(fours)) }
    }
}

/// `acc` + Σ code·q of one block's planes `c` against the 128 activations at `ap`.
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI; 128 activations at `ap` are readable.
#[inline(always)]
unsafe fn block_dot(acc: __m256i, c: &[__m256i; 4], ap: *const i8) -> __m256i {
    // SAFETY: this function's contract (inlined into the entry point).
    unsafe {
        let ap = ap as *const __m256i;
        let mut acc = acc;
        for (g, &cg) in c.iter().enumerate() {
            acc = _mm256_dpbusd_avx_epi32(acc, cg, _mm256_loadu_si256(ap.add(g)));
        }
        acc
    }
}
