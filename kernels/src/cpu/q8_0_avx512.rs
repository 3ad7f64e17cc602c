//! Q8_0 × f32 dot product with AVX-512F: each 34-byte block's 32 int8 values are widened to f32
//! (`vpmovsxbd`, `vcvtdq2ps`), multiplied with x, and the block sum scaled by its f16 scale into
//! one accumulator per block parity (two FMA chains); the row stream is prefetched ahead.

use std::arch::x86_64::*;

use super::prefetch::{prefetch_ahead_with, with_prefetch_hint, Prefetch};
use crate::format::ggml_blocks::{Q8_0_BLOCK_BYTES, QK8_0};

/// Σ dequant(w)·x over one row of Q8_0 blocks.
///
/// # Safety
/// The CPU must support AVX-512F and F16C; `w` holds `x.len() / 32` blocks and `x.len()` is a multiple
/// of 32.
#[target_feature(enable = "avx512f,f16c")]
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
    // SAFETY: AVX-512F and F16C by the caller; block b reads bytes b·34..b·34+34 of `w` and floats
    // b·32..b·32+32 of `x`, in bounds by the assertion above.
    unsafe {
        // One block's Σ q·x and its scale, into two named accumulators (even and odd blocks):
        // with an array indexed by `b % 2` the 128256×2560 GEMV took 26–27 ms here, 22–23 ms
        // this way (Intel Xeon VM, 2 threads).
        let (mut even, mut odd) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut b = 0;
        while b + 2 <= blocks {
            let (s, d) = block::<S, N>(w, x, b, ahead);
            even = _mm512_fmadd_ps(s, d, even);
            let (s, d) = block::<S, N>(w, x, b + 1, ahead);
            odd = _mm512_fmadd_ps(s, d, odd);
            b += 2;
        }
        if b < blocks {
            let (s, d) = block::<S, N>(w, x, b, ahead);
            even = _mm512_fmadd_ps(s, d, even);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(even, odd))
    }
}

/// Block `b`'s 32 products q·x (16 lanes) and its scale broadcast, prefetching ahead on even
/// blocks (two blocks are 68 bytes: about one line a step).
///
/// A function, not a closure: a closure is compiled without its caller's target features, so
/// every intrinsic in it became an out-of-line call with its vectors passed through memory (the
/// 128256×2560 GEMV took 106–124 ms on the Emerald Rapids VM instead of ~22).
///
/// # Safety
/// As [`dot`], inlined into it; block `b` lies inside `w` and `x`.
#[inline(always)]
unsafe fn block<const S: i32, const N: bool>(
    w: &[u8],
    x: &[f32],
    b: usize,
    ahead: usize,
) -> (__m512, __m512) {
    // SAFETY: this function's contract.
    unsafe {
        let blk = w.as_ptr().add(b * Q8_0_BLOCK_BYTES);
        if b.is_multiple_of(2) {
            prefetch_ahead_with::<S, N>(blk, ahead);
        }
        // F16C inline: `half`'s conversion is an out-of-line call (every vector register is
        // caller-saved across it); with it, this kernel took 42 ms instead of 22.
        let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(
            u16::from_le_bytes([*blk, *blk.add(1)]),
        ))));
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
        (s, _mm512_set1_ps(d))
    }
}
