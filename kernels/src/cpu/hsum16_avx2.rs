//! Sixteen horizontal sums at once with AVX, for the AVX2 attention kernel: the AVX-512 tree of
//! [`super::hsum16_avx512`] on 16-lane vectors held as two 8-lane halves, with the same order of
//! additions ([`super::attention::lane_sum`]'s), so the AVX2 kernel's scores have the bits of
//! the AVX-512 kernel's and of the scalar twin's.

use std::arch::x86_64::*;

/// A 16-lane f32 vector as two AVX registers: lanes 0–7, then lanes 8–15.
pub(crate) type Halves = [__m256; 2];

/// The horizontal sums of 16 vectors, as one (element t = Σ lanes of `p[t]`): per 128-bit lane k
/// of a vector (lanes 4k..4k+3) `S_k = (v[4k] + v[4k+2]) + (v[4k+1] + v[4k+3])`, then
/// `(S0 + S1) + (S2 + S3)`.
///
/// # Safety
/// The CPU must support AVX. Inlined into the caller's `#[target_feature]` body; its helpers are
/// functions, not closures: a closure is compiled without its caller's target features, and
/// every intrinsic in it became a call (`tests/simd_intrinsics_inlined.rs` catches that).
#[inline(always)]
pub(crate) unsafe fn hsum16(p: &[Halves; 16]) -> Halves {
    // SAFETY: this function's contract.
    unsafe { [totals(p, 0, 1), totals(p, 2, 3)] }
}

/// Sums of vectors 4·g0 .. 4·g0 + 3 in lanes 0–3, of 4·g1 .. 4·g1 + 3 in lanes 4–7.
///
/// # Safety
/// As [`hsum16`].
#[inline(always)]
unsafe fn totals(p: &[Halves; 16], g0: usize, g1: usize) -> __m256 {
    // SAFETY: this function's contract.
    unsafe {
        let s01 = across(quads(p, g0, 0), quads(p, g1, 0));
        let s23 = across(quads(p, g0, 1), quads(p, g1, 1));
        _mm256_add_ps(s01, s23)
    }
}

/// Per 128-bit lane of half `h` of vectors 4g..4g+3 = a, b, c, d: `[S_a, S_b, S_c, S_d]` of that
/// lane (k = 2h and 2h + 1 in the register's two lanes).
///
/// # Safety
/// As [`hsum16`].
#[inline(always)]
unsafe fn quads(p: &[Halves; 16], g: usize, h: usize) -> __m256 {
    // SAFETY: this function's contract.
    unsafe {
        let ab = pairs(p[4 * g][h], p[4 * g + 1][h]);
        let cd = pairs(p[4 * g + 2][h], p[4 * g + 3][h]);
        _mm256_add_ps(
            _mm256_shuffle_ps::<0x44>(ab, cd),
            _mm256_shuffle_ps::<0xEE>(ab, cd),
        )
    }
}

/// Per 128-bit lane `[a0+a2, b0+b2, a1+a3, b1+b3]`.
///
/// # Safety
/// As [`hsum16`].
#[inline(always)]
unsafe fn pairs(a: __m256, b: __m256) -> __m256 {
    // SAFETY: this function's contract.
    unsafe { _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b)) }
}

/// The low 128-bit lanes of `x` and `y` plus their high ones: `[x.L0 + x.L1 | y.L0 + y.L1]`.
///
/// # Safety
/// As [`hsum16`].
#[inline(always)]
unsafe fn across(x: __m256, y: __m256) -> __m256 {
    // SAFETY: this function's contract.
    unsafe {
        _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(x, y),
            _mm256_permute2f128_ps::<0x31>(x, y),
        )
    }
}
