//! F16 × f32 dot product with AVX2, F16C and FMA: `vcvtph2ps` converts 8 halves at a time, four
//! FMA chains hide the FMA latency, and the row stream is prefetched ahead, one prefetch per
//! 64-byte line as the other lm_head kernels do. Why the prefetch: on the Emerald Rapids VM the
//! hardware prefetchers alone streamed 2B-4T's lm_head at 12.9–13.3 GB/s here (45 % of a read
//! pass); the GEMVs there stream at half their rate without software prefetch.

use super::hsum8_avx::hsum8;
use super::prefetch::{prefetch_ahead_with, with_prefetch_hint, Prefetch};

/// Σ f16(w)·x over one row, prefetching `ahead` of the row stream.
///
/// # Safety
/// The CPU must support AVX2, F16C and FMA (the caller resolved the path with
/// `is_x86_feature_detected!`); `w` holds two bytes per element of `x`.
#[target_feature(enable = "avx2,f16c,fma")]
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
    use std::arch::x86_64::*;
    assert!(w.len() >= 2 * x.len());
    // SAFETY: AVX2/F16C/FMA by the contract; every load stays inside `w` and `x` (o + 8 ≤ n and
    // `w` holds 2n bytes); prefetches never fault.
    unsafe {
        let n = x.len();
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut k = 0;
        while k + 32 <= n {
            // 32 halves are one 64-byte line (when the row starts on one).
            prefetch_ahead_with::<S, N>(w.as_ptr().add(2 * k), ahead);
            for (j, a) in acc.iter_mut().enumerate() {
                let o = k + 8 * j;
                let h = _mm_loadu_si128(w.as_ptr().add(2 * o) as *const __m128i);
                *a = _mm256_fmadd_ps(_mm256_cvtph_ps(h), _mm256_loadu_ps(x.as_ptr().add(o)), *a);
            }
            k += 32;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut total = hsum8(s);
        for i in k..n {
            total += half::f16::from_le_bytes([w[2 * i], w[2 * i + 1]]).to_f32() * x[i];
        }
        total
    }
}
