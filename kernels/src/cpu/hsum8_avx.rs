//! The horizontal sum of one 8-lane f32 vector, for the 256-bit lm_head kernels (F16, Q8_0,
//! Q6_K), which each finish a row with it.

use std::arch::x86_64::*;

/// Σ of the eight lanes: the two 128-bit halves added, then pairs, then the last two.
///
/// # Safety
/// The CPU must support AVX (inlined into the kernels' `#[target_feature]` bodies).
#[inline(always)]
pub(crate) unsafe fn hsum8(v: __m256) -> f32 {
    // SAFETY: this function's contract.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
    }
}
