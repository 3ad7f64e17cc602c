//! I2_S dot products with AVX2: `vpmaddubsw` multiplies unsigned codes by signed int8 activations.
//!
//! The tile walk and block layout are `i2s_tiles256`'s. Each `vpmaddubsw` pair sum is at
//! most 2·2·128 = 512 in magnitude; four planes add to ≤ 2048, far below i16 saturation, before
//! `vpmaddwd` widens to i32.

use std::arch::x86_64::*;
use std::ops::Range;

use super::i2s_tiles256::{self, BlockDot256};
use super::prefetch::prefetch_ahead_with;
use super::tile::TileParams;
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
    // SAFETY: this function's contract: AVX2 is present and the shapes agree.
    unsafe { i2s_tiles256::dot_codes::<Avx2>(w, rows, acts, tile, out) }
}

/// The AVX2 step: the blocks' i16 sums of a row and token added before one widening to i32.
struct Avx2;

impl BlockDot256 for Avx2 {
    /// One prefetch a row, and the blocks' i16 sums added before one widening to i32 (|sum| ≤
    /// 2 blocks · 4 planes · 2 · 3 · 128 = 6144, far from i16's limit, for any code).
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
        for (row, acc_i) in rows.iter().zip(acc.iter_mut()) {
            // SAFETY: the trait's contract (inlined into the `avx2` entry point).
            unsafe { row_blocks::<S, N, T, B>(row, toks, b, ahead, acc_i) }
        }
    }

    /// The planes masked with one shift a block, as the AVX-VNNI decode does: `wv & 3` and
    /// `(wv >> 4) & 3` are planes 3 and 1, `wv & 12` and `(wv >> 4) & 12` are 4 × planes 2 and
    /// 0. Their i16 pair sums go to two sums (≤ 4 · 2 · 3 · 128 = 3072 and ≤ 4 · 2 · 12 · 128 =
    /// 12288 over two blocks, for any code); the second is a multiple of 4, so one shift
    /// divides it exactly before the one widening to i32 into `acc[i][0]` (`acc[i][1]` stays
    /// zero). Three vector instructions fewer a line than `row_blocks`' planes.
    #[inline(always)]
    unsafe fn decode_blocks<const S: i32, const N: bool, const R: usize, const B: usize>(
        rows: &[&[u8]; R],
        tok: &[i8],
        b: usize,
        ahead: usize,
        acc: &mut [[__m256i; 2]; R],
    ) {
        // SAFETY: the trait's contract: B blocks of 32 bytes from wp lie inside each row; the
        // token row holds padded_cols = 4·row_bytes activations.
        unsafe {
            for (row, [acc_i, _]) in rows.iter().zip(acc.iter_mut()) {
                let wp = row.as_ptr().add(b * BLOCK_BYTES);
                prefetch_ahead_with::<S, N>(wp, ahead);
                let (mut plain, mut fours) = (_mm256_setzero_si256(), _mm256_setzero_si256());
                for k in 0..B {
                    let ap = tok.as_ptr().add((b + k) * BLOCK_WEIGHTS);
                    let ([p3, p1, f2, f0], [a3, a1, a2, a0]) =
                        one_shift_planes(wp.add(k * BLOCK_BYTES), ap);
                    let o = _mm256_add_epi16(
                        _mm256_maddubs_epi16(p3, a3),
                        _mm256_maddubs_epi16(p1, a1),
                    );
                    let f = _mm256_add_epi16(
                        _mm256_maddubs_epi16(f2, a2),
                        _mm256_maddubs_epi16(f0, a0),
                    );
                    plain = _mm256_add_epi16(plain, o);
                    fours = _mm256_add_epi16(fours, f);
                }
                let s = _mm256_add_epi16(plain, _mm256_srai_epi16::<2>(fours));
                *acc_i = _mm256_add_epi32(*acc_i, _mm256_madd_epi16(s, ones()));
            }
        }
    }

    #[inline(always)]
    unsafe fn decode_sum(acc: [__m256i; 2]) -> __m256i {
        acc[0]
    }
}

/// Adds blocks `b..b + B` of one row × `toks` to `acc`, prefetching the row `ahead` bytes on.
///
/// # Safety
/// The CPU must support AVX2; B blocks of 32 bytes from block `b` lie inside `row`, and each
/// token row holds padded_cols = 4·row_bytes activations.
#[inline(always)]
unsafe fn row_blocks<const S: i32, const N: bool, const T: usize, const B: usize>(
    row: &[u8],
    toks: &[&[i8]; T],
    b: usize,
    ahead: usize,
    acc: &mut [__m256i; T],
) {
    // SAFETY: this function's contract.
    unsafe {
        let wp = row.as_ptr().add(b * BLOCK_BYTES);
        prefetch_ahead_with::<S, N>(wp, ahead);
        let mut c = [[_mm256_setzero_si256(); 4]; B];
        for (k, ck) in c.iter_mut().enumerate() {
            *ck = planes(wp.add(k * BLOCK_BYTES));
        }
        for (a, tok) in acc.iter_mut().zip(toks) {
            let ap = tok.as_ptr().add(b * BLOCK_WEIGHTS);
            let mut s = block_sum(&c[0], ap);
            for (k, ck) in c.iter().enumerate().skip(1) {
                s = _mm256_add_epi16(s, block_sum(ck, ap.add(k * BLOCK_WEIGHTS)));
            }
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(s, ones()));
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

/// The decode tiles' planes of the 32-byte block at `wp`, masked with one shift: `wv & 3`,
/// `(wv >> 4) & 3` (planes 3 and 1), `wv & 12` and `(wv >> 4) & 12` (4 × planes 2 and 0), with
/// the 32-activation chunks at `ap` each multiplies, in the same order. Shared by the AVX2 and
/// AVX-VNNI decode steps.
///
/// # Safety
/// The CPU must support AVX2; 32 bytes at `wp` and 128 activations at `ap` are readable.
#[inline(always)]
pub(super) unsafe fn one_shift_planes(
    wp: *const u8,
    ap: *const i8,
) -> ([__m256i; 4], [__m256i; 4]) {
    // SAFETY: this function's contract (inlined into the AVX2 and AVX-VNNI entry points).
    unsafe {
        let (m3, m12) = (_mm256_set1_epi8(3), _mm256_set1_epi8(12));
        let wv = _mm256_loadu_si256(wp as *const __m256i);
        let hi = _mm256_srli_epi16::<4>(wv);
        let ap = ap as *const __m256i;
        (
            [
                _mm256_and_si256(wv, m3),
                _mm256_and_si256(hi, m3),
                _mm256_and_si256(wv, m12),
                _mm256_and_si256(hi, m12),
            ],
            [
                _mm256_loadu_si256(ap.add(3)),
                _mm256_loadu_si256(ap.add(1)),
                _mm256_loadu_si256(ap.add(2)),
                _mm256_loadu_si256(ap),
            ],
        )
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
