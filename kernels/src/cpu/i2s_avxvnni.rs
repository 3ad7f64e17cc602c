//! I2_S dot products with AVX-VNNI: the 256-bit `vpdpbusd` multiplies unsigned codes by signed
//! int8 activations and accumulates four products straight into each i32 lane, where AVX2 needs
//! `vpmaddubsw`, three i16 adds, `vpmaddwd` and an add. For CPUs with VNNI but not AVX-512
//! (Intel's client cores since Alder Lake, the E-core Xeons since Sierra Forest).
//!
//! Blocks as in [`super::i2s_avx2`]: 32 bytes hold 128 weights as four 2-bit planes, plane g
//! (shift 6 − 2g) weights 32g..32g + 32, lined up with 32 consecutive activations. One token
//! takes the planes masked with fewer shifts: `wv & 3` and `wv & 12` are planes 3 and 4·plane 2,
//! `(wv >> 4) & 3` and `(wv >> 4) & 12` planes 1 and 4·plane 0; the planes scaled by 4 go to a
//! second accumulator, which is exactly divisible by 4 at the end. One shift instead of three
//! per block; codes ≤ 3 keep every u8 operand ≤ 12 and every sum far inside i32.

use std::arch::x86_64::*;
use std::ops::Range;

use super::i2s_avx2::{hsum_epi32, planes};
use super::prefetch::{prefetch_ahead_with, with_prefetch_hint};
use super::tile::{drive, TileKernel, TileParams};
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
    with_prefetch_hint!(tile.prefetch_hint, S, N => {
        let k = AvxVnniTiles::<S, N> {
            w,
            row0: rows.start,
            acts,
            tokens: acts.tokens(),
            ahead: tile.prefetch_bytes,
        };
        // SAFETY: this function's contract: AVX2 and AVX-VNNI are present and the shapes agree.
        unsafe { drive(&k, rows.len(), acts.tokens(), tile, out) }
    })
}

/// The AVX-VNNI tile over natural-order activations, prefetching `ahead` bytes with the hint's
/// consts `S` and `N` (see `prefetch_ahead_with`).
struct AvxVnniTiles<'a, 'w, const S: i32, const N: bool> {
    w: &'a I2sMatrixRef<'w>,
    row0: usize,
    acts: &'a QuantizedActivations,
    tokens: usize,
    ahead: usize,
}

impl<const S: i32, const N: bool> TileKernel for AvxVnniTiles<'_, '_, S, N> {
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
        // SAFETY: this function's contract: AVX2 and AVX-VNNI are present (the caller is the
        // entry point, into which this is inlined) and the tile lies inside the operands.
        unsafe {
            let rows: [&[u8]; R] = std::array::from_fn(|i| self.w.row(self.row0 + r + i));
            let toks: [&[i8]; T] = std::array::from_fn(|j| self.acts.token(token + j));
            if T == 1 {
                self.one_token::<R>(&rows, toks[0], units, r, token, out);
                return;
            }
            let mut acc = [[_mm256_setzero_si256(); T]; R];
            // Two blocks (one 64-byte line of a row) a step, one prefetch a line; an odd last
            // block alone.
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

impl<const S: i32, const N: bool> AvxVnniTiles<'_, '_, S, N> {
    /// The decode tile: R rows × one token, the planes masked with one shift a block (see the
    /// module docs), two accumulators a row.
    ///
    /// # Safety
    /// As [`TileKernel::add_tile`], inlined into the entry point.
    #[inline(always)]
    unsafe fn one_token<const R: usize>(
        &self,
        rows: &[&[u8]; R],
        tok: &[i8],
        units: Range<usize>,
        r: usize,
        token: usize,
        out: &mut [i32],
    ) {
        // SAFETY: this function's contract.
        unsafe {
            let mut acc = ([_mm256_setzero_si256(); R], [_mm256_setzero_si256(); R]);
            let mut b = units.start;
            while b + 2 <= units.end {
                self.decode_blocks::<R, 2>(rows, tok, b, &mut acc);
                b += 2;
            }
            if b < units.end {
                self.decode_blocks::<R, 1>(rows, tok, b, &mut acc);
            }
            let (ones, fours) = acc;
            for i in 0..R {
                // Every product in `fours` has a factor 4, so the shift divides exactly.
                let sum = _mm256_add_epi32(ones[i], _mm256_srai_epi32::<2>(fours[i]));
                out[(r + i) * self.tokens + token] += hsum_epi32(sum);
            }
        }
    }

    /// Adds blocks `b..b + B` (B = 1 or 2: at most one 64-byte line) of the tile's rows, one
    /// prefetch a row.
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
                for k in 0..B {
                    let c = planes(wp.add(k * BLOCK_BYTES));
                    for (a, tok) in acc_i.iter_mut().zip(toks) {
                        *a = block_dot(*a, &c, tok.as_ptr().add((b + k) * BLOCK_WEIGHTS));
                    }
                }
            }
        }
    }

    /// The decode tile's blocks `b..b + B` (B = 1 or 2) of every row: the planes masked with one
    /// shift a block (see the module docs) into `acc.0` (planes 3 and 1) and `acc.1` (4 × planes
    /// 2 and 0).
    ///
    /// # Safety
    /// As [`TileKernel::add_tile`], inlined into it; blocks `b..b + B` lie in every row.
    #[inline(always)]
    unsafe fn decode_blocks<const R: usize, const B: usize>(
        &self,
        rows: &[&[u8]; R],
        tok: &[i8],
        b: usize,
        (ones, fours): &mut ([__m256i; R], [__m256i; R]),
    ) {
        // SAFETY: this function's contract: B blocks of 32 bytes from wp lie inside row i; the
        // token row holds padded_cols = 4·row_bytes activations.
        unsafe {
            let (m3, m12) = (_mm256_set1_epi8(3), _mm256_set1_epi8(12));
            for i in 0..R {
                let wp = rows[i].as_ptr().add(b * BLOCK_BYTES);
                prefetch_ahead_with::<S, N>(wp, self.ahead);
                for k in 0..B {
                    let wv = _mm256_loadu_si256(wp.add(k * BLOCK_BYTES) as *const __m256i);
                    let ap = tok.as_ptr().add((b + k) * BLOCK_WEIGHTS) as *const __m256i;
                    let hi = _mm256_srli_epi16::<4>(wv);
                    // Loads written out, not a closure: a closure would compile without the
                    // entry point's target features, each intrinsic in it a call.
                    let (a0, a1) = (_mm256_loadu_si256(ap), _mm256_loadu_si256(ap.add(1)));
                    let (a2, a3) = (_mm256_loadu_si256(ap.add(2)), _mm256_loadu_si256(ap.add(3)));
                    ones[i] = _mm256_dpbusd_avx_epi32(ones[i], _mm256_and_si256(wv, m3), a3);
                    ones[i] = _mm256_dpbusd_avx_epi32(ones[i], _mm256_and_si256(hi, m3), a1);
                    fours[i] = _mm256_dpbusd_avx_epi32(fours[i], _mm256_and_si256(wv, m12), a2);
                    fours[i] = _mm256_dpbusd_avx_epi32(fours[i], _mm256_and_si256(hi, m12), a0);
                }
            }
        }
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
