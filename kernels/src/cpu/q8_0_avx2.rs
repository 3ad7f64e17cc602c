//! Q8_0 × f32 dot product with AVX2, FMA and F16C: each 34-byte block's 32 int8 values are
//! widened to f32 eight at a time (`vpmovsxbd`, `vcvtdq2ps`), multiplied with x, and the block
//! sum scaled by its f16 scale into one accumulator per block parity; the row stream is
//! prefetched ahead. The AVX-512 kernel's loop in 8-lane vectors.
//!
//! Why: without it an AVX2 host (or `isa=avx2`) ran the Q8_0 lm_head in the scalar reference,
//! 350 ms a token for 2B-4T's on the Emerald Rapids VM, 1.0 GB/s.

use std::arch::x86_64::*;

use super::hsum8_avx::hsum8;
use super::prefetch::{prefetch_ahead_with, with_prefetch_hint, Prefetch};
use crate::format::ggml_blocks::{Q8_0_BLOCK_BYTES, QK8_0};

/// Σ dequant(w)·x over one row of Q8_0 blocks.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `w` holds `x.len() / 32` blocks and `x.len()` is a
/// multiple of 32.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot(w: &[u8], x: &[f32], ahead: Prefetch) -> f32 {
    // SAFETY: this function's contract, passed on.
    with_prefetch_hint!(ahead.hint, S, N => unsafe { dot_with::<S, N>(w, x, ahead.bytes) })
}

/// [`dot`] prefetching `ahead` bytes with the hint's consts (see [`prefetch_ahead_with`]).
///
/// # Safety
/// As [`dot`]; inlined into it.
#[inline(always)]
unsafe fn dot_with<const S: i32, const N: bool>(w: &[u8], x: &[f32], ahead: usize) -> f32 {
    let blocks = x.len() / QK8_0;
    assert!(x.len().is_multiple_of(QK8_0) && w.len() >= blocks * Q8_0_BLOCK_BYTES);
    // SAFETY: AVX2, FMA and F16C by the caller; block b reads bytes b·34..b·34+34 of `w` and
    // floats b·32..b·32+32 of `x`, in bounds by the assertion above.
    unsafe {
        let (mut even, mut odd) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut b = 0;
        while b + 2 <= blocks {
            let (s, d) = block::<S, N>(w, x, b, ahead);
            even = _mm256_fmadd_ps(s, d, even);
            let (s, d) = block::<S, N>(w, x, b + 1, ahead);
            odd = _mm256_fmadd_ps(s, d, odd);
            b += 2;
        }
        if b < blocks {
            let (s, d) = block::<S, N>(w, x, b, ahead);
            even = _mm256_fmadd_ps(s, d, even);
        }
        hsum8(_mm256_add_ps(even, odd))
    }
}

/// Block `b`'s 32 products q·x (8 lanes) and its scale broadcast, prefetching ahead on even
/// blocks (two blocks are 68 bytes: about one line a step). A function, not a closure, so that
/// its intrinsics compile with the caller's target features.
///
/// # Safety
/// As [`dot`], inlined into it; block `b` lies inside `w` and `x`.
#[inline(always)]
unsafe fn block<const S: i32, const N: bool>(
    w: &[u8],
    x: &[f32],
    b: usize,
    ahead: usize,
) -> (__m256, __m256) {
    // SAFETY: this function's contract.
    unsafe {
        let blk = w.as_ptr().add(b * Q8_0_BLOCK_BYTES);
        if b.is_multiple_of(2) {
            prefetch_ahead_with::<S, N>(blk, ahead);
        }
        let d = _mm256_cvtph_ps(_mm_set1_epi16(i16::from_le_bytes([*blk, *blk.add(1)])));
        let xs = x.as_ptr().add(b * QK8_0);
        let mut s = _mm256_setzero_ps();
        for i in 0..4 {
            let q = _mm_loadl_epi64(blk.add(2 + 8 * i) as *const __m128i);
            let qf = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
            s = _mm256_fmadd_ps(qf, _mm256_loadu_ps(xs.add(8 * i)), s);
        }
        (s, d)
    }
}
