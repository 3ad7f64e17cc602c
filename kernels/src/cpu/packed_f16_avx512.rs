//! The lm_head GEMV over packed F16 rows (`format::packed_f16`) with AVX-512 VBMI: per 64-weight
//! block, one `vpermb` spreads the K-bit codes to one 64-bit word per eight, one
//! `vpmultishiftqb` moves each code to its own byte, a `vpermb` (K = 6) or `vpermi2b` (K = 7)
//! looks up the high bytes, and `vpunpcklbw`/`vpunpckhbw` interleave them with the low bytes into
//! the exact F16 values of columns 0..32 and 32..64 (the layout's slot order is made for these
//! two in-lane unpacks). Why unpacks: they were two `vpermt2b`, which on Intel cores take two
//! port-5 micro-ops each, and port 5 also widens every F16. Emerald Rapids VM: a C copy of the
//! loop took 6.4–6.7 instead of 8.2–8.7 TSC cycles a block in L1, and streamed 2B-4T's lm_head
//! from DRAM at 0.929 instead of 0.903 of a read pass (2 threads, 15 alternating rounds); in the
//! model the lm_head's rate over the gate/up projection's in the same run went 0.996 → 1.026
//! (medians of 12 alternating process pairs, higher in all 12). From there it is
//! [`super::f16_avx512`]'s loop: the same four FMA chains over the same columns, the same 16-row
//! tiles and reduction, so a row without exceptions gets the very bits the F16 kernel gives. A
//! tile's exceptions are added to its 16 sums afterwards (`format::packed_f16_exceptions`).

use super::hsum16_avx512::hsum16;
use super::prefetch::{prefetch_ahead_with, with_prefetch_hint, Prefetch};
use crate::format::packed_f16::{PackedF16, BLOCK};

/// `out[i]` = Σ W[r0 + i]·x for the `out.len()` rows of `p` from `r0` (`data`: the packed rows).
///
/// # Safety
/// The CPU must support AVX-512F, BW, VL and VBMI (the caller detected them).
///
/// # Panics
/// If `x` is not `p.cols()` long or the rows lie outside `data`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
pub unsafe fn gemv_rows(
    p: &PackedF16,
    data: &[u8],
    r0: usize,
    x: &[f32],
    out: &mut [f32],
    ahead: Prefetch,
) {
    assert_eq!(x.len(), p.cols());
    assert!(r0.is_multiple_of(16), "tiles start on exception tiles");
    assert!(r0 + out.len() <= p.rows());
    assert!(data.len() >= (r0 + out.len()) * p.row_bytes());
    // SAFETY: this function's contract, passed on.
    with_prefetch_hint!(ahead.hint, S, N => unsafe {
        match p.table().code_bits() {
            6 => rows_with::<6, S, N>(p, data, r0, x, out, ahead.bytes),
            _ => rows_with::<7, S, N>(p, data, r0, x, out, ahead.bytes),
        }
    })
}

/// [`gemv_rows`] for K-bit codes, prefetching `ahead` bytes with the hint's consts.
///
/// # Safety
/// As [`gemv_rows`] (which checked the bounds); inlined into it.
#[inline(always)]
unsafe fn rows_with<const K: usize, const S: i32, const N: bool>(
    p: &PackedF16,
    data: &[u8],
    r0: usize,
    x: &[f32],
    out: &mut [f32],
    ahead: usize,
) {
    use std::arch::x86_64::*;
    let row_bytes = p.row_bytes();
    // SAFETY: AVX-512F/BW/VL/VBMI by the caller; every row read lies in `data` (asserted by the
    // caller), every table load reads the 128-byte table.
    unsafe {
        let consts = Consts::<K>::new(p.table().highs());
        for (tile, ys) in out.chunks_mut(16).enumerate() {
            let first = r0 + 16 * tile;
            let mut lanes = [_mm512_setzero_ps(); 16];
            for (t, l) in lanes.iter_mut().take(ys.len()).enumerate() {
                let row = data.as_ptr().add((first + t) * row_bytes);
                *l = row_lanes::<K, S, N>(&consts, row, x, ahead);
            }
            // The F16 kernel adds its scalar tail, +0.0 for whole blocks; the exception sums of
            // rows without one are +0.0 too, so such rows get its bits.
            let sums = _mm512_add_ps(hsum16(&lanes), exception_sums(p, first / 16, x));
            if ys.len() == 16 {
                _mm512_storeu_ps(ys.as_mut_ptr(), sums);
            } else {
                let mut s = [0f32; 16];
                _mm512_storeu_ps(s.as_mut_ptr(), sums);
                ys.copy_from_slice(&s[..ys.len()]);
            }
        }
    }
}

/// Tile `g`'s exception sums, lane t for row 16g + t: per slot a gather of x, a conversion of
/// the 16 values and an FMA, each masked to the rows that have that many exceptions (padding
/// adds nothing, not even a NaN from 0·∞), so rows without one keep a +0.0 sum.
///
/// # Safety
/// AVX-512F/BW/VL (inlined into [`gemv_rows`]); `x` has `p.cols()` values (exception columns are
/// below it by construction).
#[inline(always)]
unsafe fn exception_sums(p: &PackedF16, g: usize, x: &[f32]) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let (cols, bits, counts) = p.exceptions().tile(g);
    // SAFETY: the caller's ISA; the count load reads the tile's `counts.len()` ≤ 16 values, each
    // slot's loads its 16 columns and 16 values, and the gather only columns below `p.cols()` =
    // `x.len()`.
    unsafe {
        let mut acc = _mm512_setzero_ps();
        if cols.is_empty() {
            return acc;
        }
        let rows = ((1u32 << counts.len()) - 1) as __mmask16;
        let counts = _mm512_maskz_loadu_epi32(rows, counts.as_ptr().cast());
        for (s, (c, b)) in cols.chunks_exact(16).zip(bits.chunks_exact(16)).enumerate() {
            let m = _mm512_cmpgt_epu32_mask(counts, _mm512_set1_epi32(s as i32));
            let idx = _mm512_cvtepu16_epi32(_mm256_loadu_si256(c.as_ptr().cast()));
            let xs = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), m, idx, x.as_ptr().cast());
            let w = _mm512_cvtph_ps(_mm256_loadu_si256(b.as_ptr().cast()));
            acc = _mm512_mask3_fmadd_ps(w, xs, acc, m);
        }
        acc
    }
}

/// The permute controls of one code width and the table's high bytes.
struct Consts<const K: usize> {
    spread: std::arch::x86_64::__m512i,
    shifts: std::arch::x86_64::__m512i,
    table_a: std::arch::x86_64::__m512i,
    table_b: std::arch::x86_64::__m512i,
}

impl<const K: usize> Consts<K> {
    /// # Safety
    /// AVX-512F (inlined into [`gemv_rows`]).
    #[inline(always)]
    unsafe fn new(highs: &[u8; 128]) -> Self {
        use std::arch::x86_64::*;
        let (mut spread, mut shifts) = ([0u8; 64], [0u8; 64]);
        for word in 0..8 {
            for b in 0..8 {
                // Word `word` takes its K code bytes. The last code's 8-bit window reaches past
                // them into a repeated byte, but only above its low K bits, and the table
                // permutes read only those.
                spread[8 * word + b] = (K * word + b.min(K - 1)) as u8;
                shifts[8 * word + b] = (K * b) as u8;
            }
        }
        // SAFETY: AVX-512F (caller); every load reads a 64-byte array or half of `highs`.
        unsafe {
            Consts {
                spread: _mm512_loadu_si512(spread.as_ptr().cast()),
                shifts: _mm512_loadu_si512(shifts.as_ptr().cast()),
                table_a: _mm512_loadu_si512(highs.as_ptr().cast()),
                table_b: _mm512_loadu_si512(highs.as_ptr().add(64).cast()),
            }
        }
    }
}

/// One packed row's products as 16 lane sums, exceptions left out.
///
/// # Safety
/// AVX-512F/BW/VBMI (inlined into [`gemv_rows`]); `row` points at `x.len() / 64` blocks.
#[inline(always)]
unsafe fn row_lanes<const K: usize, const S: i32, const N: bool>(
    c: &Consts<K>,
    row: *const u8,
    x: &[f32],
    ahead: usize,
) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let block_bytes = 8 * K + BLOCK;
    // SAFETY: the caller's ISA; each block's loads (64 bytes from its start, within its
    // 8·K + 64 ≥ 112 bytes, and its 64 low bytes) stay inside the row, each x load inside `x`.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); 4];
        for b in 0..x.len() / BLOCK {
            let cur = row.add(b * block_bytes);
            prefetch_ahead_with::<S, N>(cur, ahead);
            prefetch_ahead_with::<S, N>(cur.wrapping_add(64), ahead);
            // 64 bytes from the block's start: the 8·K code bytes and the first low bytes, which
            // `spread` does not pick (an unmasked load: no mask register to set per block).
            let codes = _mm512_loadu_si512(cur.cast());
            let codes = _mm512_permutexvar_epi8(c.spread, codes);
            let codes = _mm512_multishift_epi64_epi8(c.shifts, codes);
            let highs = if K == 6 {
                _mm512_permutexvar_epi8(codes, c.table_a)
            } else {
                _mm512_permutex2var_epi8(c.table_a, codes, c.table_b)
            };
            let lows = _mm512_loadu_si512(cur.add(8 * K).cast());
            let h0 = _mm512_unpacklo_epi8(lows, highs);
            let h1 = _mm512_unpackhi_epi8(lows, highs);
            let halves = [
                _mm512_castsi512_si256(h0),
                _mm512_extracti64x4_epi64::<1>(h0),
                _mm512_castsi512_si256(h1),
                _mm512_extracti64x4_epi64::<1>(h1),
            ];
            let xs = x.as_ptr().add(b * BLOCK);
            for (j, (a, h)) in acc.iter_mut().zip(halves).enumerate() {
                *a = _mm512_fmadd_ps(_mm512_cvtph_ps(h), _mm512_loadu_ps(xs.add(16 * j)), *a);
            }
        }
        _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]))
    }
}
