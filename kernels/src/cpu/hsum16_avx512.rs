//! Sixteen horizontal sums at once, for kernels that finish 16 dot products together (attention's
//! scores, the F16 lm_head's rows): one transposing tree and one vector store instead of 16
//! reductions and 16 scalar stores.

use std::arch::x86_64::*;

/// The horizontal sums of 16 vectors, as one vector (element t = Σ lanes of `p[t]`): a
/// transpose-and-add tree of 45 shuffles and adds, against 16 full reductions of ~8 each. Its
/// order of additions is [`super::attention::lane_sum`]'s, which attention's scalar emulation
/// uses.
///
/// # Safety
/// The CPU must support AVX-512F. Inlined into its callers' `#[target_feature]` bodies (a
/// `#[target_feature]` function of its own showed up in profiles as a call, its 16 operands
/// passed through the stack once per 16 scores).
#[inline(always)]
pub(crate) unsafe fn hsum16(p: &[__m512; 16]) -> __m512 {
    // SAFETY: this function's contract (AVX-512F, inlined into a kernel that enables it).
    unsafe {
        // Pairs: per 128-bit lane [a0+a2, b0+b2, a1+a3, b1+b3].
        let mut t = [_mm512_setzero_ps(); 8];
        for (i, ti) in t.iter_mut().enumerate() {
            let (a, b) = (p[2 * i], p[2 * i + 1]);
            *ti = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
        }
        // Quads: per 128-bit lane the partial sums of positions 4k..4k+3, in order.
        let mut u = [_mm512_setzero_ps(); 4];
        for (k, uk) in u.iter_mut().enumerate() {
            let (a, b) = (t[2 * k], t[2 * k + 1]);
            *uk = _mm512_add_ps(
                _mm512_shuffle_ps::<0x44>(a, b),
                _mm512_shuffle_ps::<0xEE>(a, b),
            );
        }
        // Across 128-bit lanes, twice: [L0+L1 of u0, L2+L3 of u0, L0+L1 of u1, L2+L3 of u1] ...
        let half = |a: __m512, b: __m512| {
            _mm512_add_ps(
                _mm512_shuffle_f32x4::<0x88>(a, b),
                _mm512_shuffle_f32x4::<0xDD>(a, b),
            )
        };
        half(half(u[0], u[1]), half(u[2], u[3]))
    }
}
