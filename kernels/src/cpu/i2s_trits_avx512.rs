//! I2_S dot products over the trits16 layout with AVX-512 VNNI: 16 rows per 64-byte line of 20
//! columns, five codes per byte (see `format::trits16`).
//!
//! One token (decode) reads no digit: per digit k, `vpdpbusd` of the bytes `y_k` and of
//! `y_{k+1} = 3·y_k mod 256` against the same four activations, and `(3·Σ y_k·a − Σ y_{k+1}·a) / 256`
//! is Σ code·a exactly. That is 10 `vpdpbusd` and 10 byte adds per 320 weights where lanes16
//! spends 4 AND and 4 `vpdpbusd` per 256: trits16 trades instructions for bytes. One token's
//! ternary weights of 2B-4T (2.08 G weights), 2 threads on the Zen 5 VM: 1.18–1.35× the lanes16
//! decode from DRAM at 43–48 GB/s, but 2× its time from cache (both measured while LLVM still
//! turned the byte adds into multiplications, see `times3`; since then one thread decodes
//! 2B-4T's shapes from cache at 40–42 GB/s, 1.39–1.41× the 29–30 it had, ~5.7 cycles a line).
//! Digits by compare (two `vpcmpub`, two masked moves each, one `vpdpbusd`) ran at 0.7× of this
//! from cache; the last digit alone by compare at 1.05×, not kept.
//!
//! Prompt batches extract each digit plane once per line (two compares) and share it among a tile
//! of up to 8 tokens, two groups at a time (`lane_group_driver` walks the task).

use std::arch::x86_64::*;
use std::ops::Range;

use super::lane_group_driver::{self, quad, BatchTile, GroupSums, LaneGroups, BATCH_TOKENS};
use super::prefetch::prefetch_ahead_with;
use super::tile::TileParams;
use crate::activation::QuantizedActivations;
use crate::format::i2s::I2sMatrixRef;
use crate::format::ternary_layout::{LANE_LINE_BYTES, LANE_ROWS};
use crate::format::trits16::{self, DIGITS, TRIT_LINE_COLS};

/// Lines the decode accumulates before folding its sums, so that a fold's `Σ_k 3·a_k − b_k`
/// (= 256·Σ code·a ≤ 256 · 2·128·20 per line: 1.34·10⁹ over 1024 lines) fits an i32; the
/// accumulators themselves stay below 3·255·128·4·1024 = 4·10⁸.
const FOLD_LINES: usize = 1024;

/// Σ code·q for rows `rows` × every token into `out[(r − rows.start)·tokens + t]`, `w` in trits16.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and AVX-512VNNI (checked once by `I2sGemm::new`); `w`
/// is in the trits16 layout and its columns match the activations' (checked by `I2sGemm`).
pub unsafe fn dot_codes_trits(
    w: &I2sMatrixRef<'_>,
    rows: Range<usize>,
    acts: &QuantizedActivations,
    tile: TileParams,
    out: &mut [i32],
) {
    let padded = w.padded_cols();
    let kernel = Trits {
        shape: Shape {
            full: padded / TRIT_LINE_COLS,
            tail: trits16::tail_digits(padded),
        },
        group_bytes: trits16::lines(padded) * LANE_LINE_BYTES,
    };
    // SAFETY: this function's contract: AVX-512F/BW/VNNI, whole groups of `padded_cols` columns,
    // which every token row holds.
    unsafe { lane_group_driver::dot_codes(&kernel, w.data(), rows, acts, tile, out) }
}

/// The trits16 kernels of one matrix shape.
struct Trits {
    shape: Shape,
    group_bytes: usize,
}

impl LaneGroups for Trits {
    fn group_bytes(&self) -> usize {
        self.group_bytes
    }

    unsafe fn decode_with<const S: i32, const N: bool>(
        &self,
        group: &[u8],
        acts: &[i8],
        prefetch: usize,
        sums: &mut [i32; LANE_ROWS],
    ) {
        // SAFETY: the trait's contract (AVX-512F/BW/VNNI, one group, a token's row).
        unsafe { decode::<S, N>(group, self.shape, acts, prefetch, sums) }
    }

    unsafe fn batch(&self, tile: BatchTile<'_>, sums: &mut GroupSums) {
        let (g, b, s, acts) = (tile.groups, self.group_bytes, self.shape, tile.acts);
        let t0 = tile.tokens.start;
        // SAFETY: the trait's contract: `span` groups, every token row of the tile.
        unsafe {
            match (tile.span, tile.tokens.len()) {
                (2, BATCH_TOKENS) => batch::<BATCH_TOKENS, 2>(g, b, s, acts, t0, sums),
                (2, 4) => batch::<4, 2>(g, b, s, acts, t0, sums),
                (2, 2) => batch::<2, 2>(g, b, s, acts, t0, sums),
                (2, _) => batch::<1, 2>(g, b, s, acts, t0, sums),
                (_, BATCH_TOKENS) => batch::<BATCH_TOKENS, 1>(g, b, s, acts, t0, sums),
                (_, 4) => batch::<4, 1>(g, b, s, acts, t0, sums),
                (_, 2) => batch::<2, 1>(g, b, s, acts, t0, sums),
                _ => self.decode(g, acts.token(t0), tile.params, &mut sums[0][0]),
            }
        }
    }
}

/// Lines of a group: `full` of 20 columns, then one of `tail` digits (0: none).
#[derive(Clone, Copy)]
struct Shape {
    full: usize,
    tail: usize,
}

/// One group against one token: Σ code·q of its 16 rows into `sums`.
///
/// # Safety
/// AVX-512F/BW/VNNI are present; `group` holds `full` lines (plus one if `tail > 0`) and `acts`
/// at least `20·full + 4·tail` values.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn decode<const S: i32, const N: bool>(
    group: &[u8],
    shape: Shape,
    acts: &[i8],
    prefetch: usize,
    sums: &mut [i32; LANE_ROWS],
) {
    let (wp, ap) = (group.as_ptr(), acts.as_ptr());
    let mut total = _mm512_setzero_si512();
    // One accumulator pair per digit: the 10 `vpdpbusd` of a line are independent, so a line
    // does not wait on the previous line's products (one pair for all digits ran at 0.8× of
    // this from L2).
    let mut a = [_mm512_setzero_si512(); DIGITS];
    let mut b = [_mm512_setzero_si512(); DIGITS];
    let fold = |a: &mut [__m512i; DIGITS], b: &mut [__m512i; DIGITS], total: &mut __m512i| {
        let mut three_a_minus_b = _mm512_setzero_si512();
        for k in 0..DIGITS {
            let a3 = _mm512_add_epi32(a[k], _mm512_add_epi32(a[k], a[k]));
            three_a_minus_b = _mm512_add_epi32(three_a_minus_b, _mm512_sub_epi32(a3, b[k]));
            a[k] = _mm512_setzero_si512();
            b[k] = _mm512_setzero_si512();
        }
        // Each digit's 3·y_k·a − y_{k+1}·a is 256·code·a: the shift divides exactly.
        *total = _mm512_add_epi32(*total, _mm512_srai_epi32::<8>(three_a_minus_b));
    };
    // Line `c`'s first `digits` digits into the pairs (inlined: a constant 5 unrolls the full
    // lines' loop).
    let line = |c: usize, digits: usize, a: &mut [__m512i; DIGITS], b: &mut [__m512i; DIGITS]| {
        // SAFETY: the caller's bounds (below): line `c` and its activation quads are readable.
        unsafe {
            let at = wp.add(c * LANE_LINE_BYTES);
            prefetch_ahead_with::<S, N>(at, prefetch);
            let mut y = _mm512_loadu_si512(at as *const __m512i);
            for k in 0..digits {
                let q = quad(ap, c * TRIT_LINE_COLS + 4 * k);
                a[k] = _mm512_dpbusd_epi32(a[k], y, q);
                y = times3(y);
                b[k] = _mm512_dpbusd_epi32(b[k], y, q);
            }
        }
    };
    // This function's contract bounds every line read (`c < full`, or the tail line) and every
    // activation quad (`20c + 4k + 4 ≤ 20·full + 4·tail`).
    let mut c = 0;
    while c < shape.full {
        let stop = shape.full.min(c + FOLD_LINES);
        while c < stop {
            line(c, DIGITS, &mut a, &mut b);
            c += 1;
        }
        fold(&mut a, &mut b, &mut total);
    }
    if shape.tail > 0 {
        line(c, shape.tail, &mut a, &mut b);
        fold(&mut a, &mut b, &mut total);
    }
    // SAFETY: `sums` is 16 i32.
    unsafe {
        _mm512_storeu_si512(sums.as_mut_ptr() as *mut __m512i, total);
    }
}

/// `G` adjacent groups (`groups`, G·16 rows) against tokens `t0..t0 + T`: Σ code·q of group `i`'s
/// rows into `sums[i][0..T]`. Two groups share each broadcast activation quad.
///
/// # Safety
/// As [`decode`], for every token of the tile; `groups` holds `G` groups of `group_bytes`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn batch<const T: usize, const G: usize>(
    groups: &[u8],
    group_bytes: usize,
    shape: Shape,
    acts: &QuantizedActivations,
    t0: usize,
    sums: &mut GroupSums,
) {
    let toks: [*const i8; T] = std::array::from_fn(|j| acts.token(t0 + j).as_ptr());
    let mut acc = [[_mm512_setzero_si512(); T]; G];
    let lines = shape.full + usize::from(shape.tail > 0);
    // SAFETY: this function's contract bounds every line and activation quad.
    unsafe {
        for c in 0..lines {
            let digits = if c < shape.full { DIGITS } else { shape.tail };
            let at = groups.as_ptr().add(c * LANE_LINE_BYTES);
            let mut y: [__m512i; G] = std::array::from_fn(|i| {
                _mm512_loadu_si512(at.add(i * group_bytes) as *const __m512i)
            });
            for k in 0..digits {
                let plane: [__m512i; G] = std::array::from_fn(|i| digit_plane(y[i]));
                let col = c * TRIT_LINE_COLS + 4 * k;
                for j in 0..T {
                    let q = quad(toks[j], col);
                    for i in 0..G {
                        acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], plane[i], q);
                    }
                }
                y = std::array::from_fn(|i| times3(y[i]));
            }
        }
        for i in 0..G {
            for j in 0..T {
                _mm512_storeu_si512(sums[i][j].as_mut_ptr() as *mut __m512i, acc[i][j]);
            }
        }
    }
}

/// The leading code of every byte `y` of a line: ⌊3y / 256⌋, 1 from y ≥ 86 and 2 from y ≥ 171.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn digit_plane(y: __m512i) -> __m512i {
    let d = _mm512_maskz_mov_epi8(
        _mm512_cmpge_epu8_mask(y, _mm512_set1_epi8(86)),
        _mm512_set1_epi8(1),
    );
    _mm512_mask_mov_epi8(
        d,
        _mm512_cmpge_epu8_mask(y, _mm512_set1_epi8(171u8 as i8)),
        _mm512_set1_epi8(2),
    )
}

/// 3·y mod 256 in every byte: two byte adds, whose result LLVM must not see through. Left
/// visible, it folds a line's chain y → 3y → 9y → 27y → … into multiplications by 3^k, which
/// AVX-512 has no byte form of: it emulated 27y, 81y and 243y with `vpmullw` + `vpmaddubsw` +
/// shift + `vpternlogq` each, six multiplies a line on the pipes the ten `vpdpbusd` need.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn times3(y: __m512i) -> __m512i {
    let mut t = _mm512_add_epi8(y, _mm512_add_epi8(y, y));
    // SAFETY: an empty template that takes and returns one vector register: it reads or writes
    // no memory, stack or flags, and only hides the value from the optimiser.
    unsafe {
        std::arch::asm!(
            "/* {t} */",
            t = inout(zmm_reg) t,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    t
}
