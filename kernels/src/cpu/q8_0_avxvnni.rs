//! Q8_0 lm_head row dot products with AVX-VNNI, in integers on x quantised to int8 parts
//! ([`QuantizedX`]): the AVX-512 VNNI kernel's recipe (`q8_0_avx512::dot_vnni`) one 32-value
//! block at a time in 256-bit vectors. Each block's values are read as u = q + 128 (`vpxor`), one
//! `vpdpbusd` with each int8 part of x gives 128·Σu·h + Σu·l per four values, the lane offset
//! −128·Σx̂ (quantised once per x) makes it Σq·x̂ exactly, and one conversion and FMA with the
//! block's scale add it; x's scale once per 256 values.
//!
//! Why: CPUs with AVX-VNNI but not AVX-512 ran the f32 AVX2 kernel, ~15 vector instructions a
//! block (four widenings, conversions and FMAs, and the scale) against ~9 here.

use std::arch::x86_64::*;

use super::hsum8_avx::hsum8;
use super::prefetch::{prefetch_ahead_with, with_prefetch_hint, Prefetch};
use super::quantized_x::{Q8_0Parts, QuantizedX};
use crate::format::ggml_blocks::{Q8_0_BLOCK_BYTES, QK8_0, QK_K};

/// Σ dequant(w)·x̂ over one row of Q8_0 blocks.
///
/// # Safety
/// The CPU must support AVX2, AVX-VNNI, FMA and F16C; `w` holds `x.len() / 32` blocks, `x.len()`
/// is a multiple of 256 and `x` is in natural order.
#[target_feature(enable = "avx2,avxvnni,fma,f16c")]
pub unsafe fn dot(w: &[u8], x: &QuantizedX, ahead: Prefetch) -> f32 {
    // SAFETY: this function's contract, passed on.
    with_prefetch_hint!(ahead.hint, S, N => unsafe { dot_with::<S, N>(w, x, ahead.bytes) })
}

/// [`dot`] prefetching `ahead` bytes with the hint's consts (see [`prefetch_ahead_with`]).
///
/// # Safety
/// As [`dot`]; inlined into it.
#[inline(always)]
unsafe fn dot_with<const S: i32, const N: bool>(w: &[u8], x: &QuantizedX, ahead: usize) -> f32 {
    let n = x.len();
    assert!(n.is_multiple_of(QK_K));
    assert!(w.len() >= n / QK8_0 * Q8_0_BLOCK_BYTES);
    // SAFETY: AVX2, AVX-VNNI, FMA and F16C by the caller; block b reads bytes b·34..b·34+34 of
    // `w`, values b·32..b·32+32 of x's parts and lane offsets b·8..b·8+8, in bounds by the
    // assertions above.
    unsafe {
        let parts = x.q8_0_parts();
        let mut total = _mm256_setzero_ps();
        for (g, &scale) in x.scales.iter().enumerate() {
            // Two chains (even and odd blocks), so that no FMA waits on the one before.
            let (mut even, mut odd) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            for p in 0..QK_K / (2 * QK8_0) {
                let b = g * (QK_K / QK8_0) + 2 * p;
                let (lanes, d) = block::<S, N>(w, parts, b, ahead);
                even = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), d, even);
                let (lanes, d) = block::<S, N>(w, parts, b + 1, ahead);
                odd = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), d, odd);
            }
            total = _mm256_fmadd_ps(_mm256_add_ps(even, odd), _mm256_set1_ps(scale), total);
        }
        hsum8(total)
    }
}

/// Block `b`: Σq·x̂ per four values (8 i32 lanes, exact as in the AVX-512 kernel: the result
/// |Σq·x̂| ≤ 4·128·16319 < 2^24 converts to f32 exactly) and its scale in every lane; the row
/// is prefetched ahead on even blocks (two blocks are 68 bytes: about one line).
///
/// # Safety
/// As [`dot`], inlined into it; block `b` lies inside `w` and x's parts.
#[inline(always)]
unsafe fn block<const S: i32, const N: bool>(
    w: &[u8],
    (high, low, lane_offsets): Q8_0Parts,
    b: usize,
    ahead: usize,
) -> (__m256i, __m256) {
    // SAFETY: this function's contract.
    unsafe {
        let blk = w.as_ptr().add(b * Q8_0_BLOCK_BYTES);
        if b.is_multiple_of(2) {
            prefetch_ahead_with::<S, N>(blk, ahead);
        }
        let q = _mm256_loadu_si256(blk.add(2) as *const __m256i);
        let u = _mm256_xor_si256(q, _mm256_set1_epi8(i8::MIN));
        let at = b * QK8_0;
        let h = _mm256_dpbusd_avx_epi32(
            _mm256_setzero_si256(),
            u,
            _mm256_loadu_si256(high.add(at) as *const __m256i),
        );
        let l = _mm256_dpbusd_avx_epi32(
            _mm256_loadu_si256(lane_offsets.add(at / 4) as *const __m256i),
            u,
            _mm256_loadu_si256(low.add(at) as *const __m256i),
        );
        let d = _mm256_cvtph_ps(_mm_set1_epi16(i16::from_le_bytes([*blk, *blk.add(1)])));
        (_mm256_add_epi32(_mm256_slli_epi32::<7>(h), l), d)
    }
}
