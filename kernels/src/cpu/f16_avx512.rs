//! F16 × f32 dot product with AVX-512F: `vcvtph2ps` converts 16 halves at a time, four FMA
//! chains hide the FMA latency; the row stream is prefetched ahead.

use super::prefetch::{prefetch_ahead_with, with_prefetch_hint, Prefetch};

/// Σ f16(w)·x over one row.
///
/// # Safety
/// The CPU must support AVX-512F (the caller resolved the path with `is_x86_feature_detected!`);
/// `w` holds two bytes per element of `x`.
#[target_feature(enable = "avx512f")]
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
    assert!(w.len() >= 2 * x.len());
    // SAFETY: the caller checked AVX-512F; every load stays inside `w` and `x` (lengths checked by
    // the loop bounds and the assertion above).
    unsafe {
        use std::arch::x86_64::*;
        let n = x.len();
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut k = 0;
        while k + 64 <= n {
            // 128 bytes of weights per step: two lines.
            let cur = w.as_ptr().wrapping_add(2 * k);
            prefetch_ahead_with::<S, N>(cur, ahead);
            prefetch_ahead_with::<S, N>(cur.wrapping_add(64), ahead);
            for (j, a) in acc.iter_mut().enumerate() {
                let o = k + 16 * j;
                // SAFETY: o + 16 ≤ n, and w holds 2n bytes.
                let h = _mm256_loadu_si256(w.as_ptr().add(2 * o) as *const __m256i);
                *a = _mm512_fmadd_ps(_mm512_cvtph_ps(h), _mm512_loadu_ps(x.as_ptr().add(o)), *a);
            }
            k += 64;
        }
        while k + 16 <= n {
            // SAFETY: k + 16 ≤ n.
            let h = _mm256_loadu_si256(w.as_ptr().add(2 * k) as *const __m256i);
            acc[0] = _mm512_fmadd_ps(
                _mm512_cvtph_ps(h),
                _mm512_loadu_ps(x.as_ptr().add(k)),
                acc[0],
            );
            k += 16;
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        let mut total = _mm512_reduce_add_ps(sum);
        for i in k..n {
            total += half::f16::from_le_bytes([w[2 * i], w[2 * i + 1]]).to_f32() * x[i];
        }
        total
    }
}
