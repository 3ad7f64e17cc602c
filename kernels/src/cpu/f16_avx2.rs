//! F16 × f32 dot product with AVX2, F16C and FMA: `vcvtph2ps` converts 8 halves at a time, four
//! FMA chains hide the FMA latency.

/// Σ f16(w)·x over one row.
///
/// # Safety
/// The CPU must support AVX2, F16C and FMA (the caller resolved the path with
/// `is_x86_feature_detected!`); `w` holds two bytes per element of `x`.
#[target_feature(enable = "avx2,f16c,fma")]
pub unsafe fn dot(w: &[u8], x: &[f32]) -> f32 {
    // SAFETY: the caller checked AVX2/F16C/FMA; every load stays inside `w` and `x` (lengths checked by the loop bounds).
    unsafe {
        use std::arch::x86_64::*;
        let n = x.len();
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut k = 0;
        while k + 32 <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                let o = k + 8 * j;
                // SAFETY: o + 8 ≤ n, and w holds 2n bytes.
                let h = _mm_loadu_si128(w.as_ptr().add(2 * o) as *const __m128i);
                *a = _mm256_fmadd_ps(_mm256_cvtph_ps(h), _mm256_loadu_ps(x.as_ptr().add(o)), *a);
            }
            k += 32;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
        let mut total = _mm_cvtss_f32(s);
        for i in k..n {
            total += half::f16::from_le_bytes([w[2 * i], w[2 * i + 1]]).to_f32() * x[i];
        }
        total
    }
}
