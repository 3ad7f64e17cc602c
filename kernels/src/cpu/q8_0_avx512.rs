//! Q8_0 × f32 dot product with AVX-512F: each 34-byte block's 32 int8 values are widened to f32
//! (`vpmovsxbd`, `vcvtdq2ps`), multiplied with x, and the block sum scaled by its f16 scale into
//! one accumulator per block parity (two FMA chains); the row stream is prefetched ahead.

use super::prefetch::{prefetch as prefetch_line, Prefetch};
use crate::format::ggml_blocks::{Q8_0_BLOCK_BYTES, QK8_0};

/// Σ dequant(w)·x over one row of Q8_0 blocks.
///
/// # Safety
/// The CPU must support AVX-512F; `w` holds `x.len() / 32` blocks and `x.len()` is a multiple
/// of 32.
#[target_feature(enable = "avx512f")]
pub unsafe fn dot(w: &[u8], x: &[f32], ahead: Prefetch) -> f32 {
    let blocks = x.len() / QK8_0;
    assert!(x.len().is_multiple_of(QK8_0) && w.len() >= blocks * Q8_0_BLOCK_BYTES);
    // SAFETY: AVX-512F by the caller; block b reads bytes b·34..b·34+34 of `w` and floats
    // b·32..b·32+32 of `x`, in bounds by the assertion above.
    unsafe {
        use std::arch::x86_64::*;
        let mut acc = [_mm512_setzero_ps(); 2];
        for b in 0..blocks {
            let blk = w.as_ptr().add(b * Q8_0_BLOCK_BYTES);
            if ahead.bytes != 0 && b % 2 == 0 {
                // Two blocks are 68 bytes: about one line per step.
                prefetch_line(blk.wrapping_add(ahead.bytes), ahead.hint);
            }
            let d = half::f16::from_le_bytes([*blk, *blk.add(1)]).to_f32();
            let q0 = _mm_loadu_si128(blk.add(2) as *const __m128i);
            let q1 = _mm_loadu_si128(blk.add(18) as *const __m128i);
            let xs = x.as_ptr().add(b * QK8_0);
            let s = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)),
                _mm512_loadu_ps(xs),
            );
            let s = _mm512_fmadd_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)),
                _mm512_loadu_ps(xs.add(16)),
                s,
            );
            acc[b % 2] = _mm512_fmadd_ps(s, _mm512_set1_ps(d), acc[b % 2]);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]))
    }
}
