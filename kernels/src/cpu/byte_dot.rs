//! u8 × s8 products summed into i32 lanes, four bytes to a lane: `vpdpbusd` with AVX-512 VNNI,
//! or `vpmaddubsw` + `vpmaddwd` with AVX-512BW alone. The inner step the I2_S and Q6_K kernels
//! share, each instantiated once per implementation.

use std::arch::x86_64::*;

/// One way to add Σ u8·s8 over each i32 lane's four bytes.
pub(crate) trait ByteDot {
    /// Whether u8 operands up to 128 stay exact: `vpdpbusd` widens every product, while
    /// `vpmaddubsw` first adds byte pairs into saturating i16, which 2·128·128 overflows (it is
    /// exact for u8 operands up to 127).
    const EXACT_TO_128: bool;

    /// `acc` + Σ over each lane's 4 bytes of `u` (u8) × `s` (s8).
    ///
    /// # Safety
    /// The CPU must support the implementation's instructions (AVX-512BW, and VNNI for
    /// [`Vnni`]), which the kernels' entry points were checked for.
    unsafe fn dot(acc: __m512i, u: __m512i, s: __m512i) -> __m512i;
}

/// `vpdpbusd` (AVX-512 VNNI).
pub(crate) struct Vnni;

impl ByteDot for Vnni {
    const EXACT_TO_128: bool = true;

    #[inline(always)]
    unsafe fn dot(acc: __m512i, u: __m512i, s: __m512i) -> __m512i {
        // SAFETY: this function's contract: the CPU has AVX-512 VNNI.
        unsafe { _mm512_dpbusd_epi32(acc, u, s) }
    }
}

/// `vpmaddubsw` + `vpmaddwd` (AVX-512BW without VNNI).
pub(crate) struct MaddBw;

impl ByteDot for MaddBw {
    const EXACT_TO_128: bool = false;

    #[inline(always)]
    unsafe fn dot(acc: __m512i, u: __m512i, s: __m512i) -> __m512i {
        // SAFETY: this function's contract: the CPU has AVX-512BW. The callers keep u8 ≤ 127
        // (I2_S codes ≤ 2, Q6_K values ≤ 63), so |pair sum| ≤ 2·127·128 < 2^15: no saturation.
        unsafe {
            let pairs = _mm512_maddubs_epi16(u, s);
            _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)))
        }
    }
}
