//! Q6_K × f32 dot product with AVX-512F/BW. Per half block (128 values), one 64-byte load of the
//! low nibbles and one 32-byte load of the high bits give the values in order: the low nibbles of
//! `ql[0..64]` are values 0..63, the high nibbles values 64..127; the matching 2-bit parts are
//! `qh` shifted by 0/2 (values 0..31/32..63) and 4/6 (64..95/96..127), one variable shift of the
//! 32 `qh` bytes broadcast to both 256-bit halves. Each 16 values share one int8 sub-scale, so a
//! 16-lane f32 vector takes one broadcast scale. The row stream is prefetched ahead.

use super::prefetch::{prefetch as prefetch_line, Prefetch};
use crate::format::ggml_blocks::{Q6_K_BLOCK_BYTES, QK_K};

/// Σ dequant(w)·x over one row of Q6_K blocks.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and F16C; `w` holds `x.len() / 256` blocks and `x.len()` is
/// a multiple of 256.
#[target_feature(enable = "avx512f,avx512bw,f16c")]
pub unsafe fn dot(w: &[u8], x: &[f32], ahead: Prefetch) -> f32 {
    let blocks = x.len() / QK_K;
    assert!(x.len().is_multiple_of(QK_K) && w.len() >= blocks * Q6_K_BLOCK_BYTES);
    // SAFETY: AVX-512F/BW and F16C by the caller; block b reads bytes b·210..b·210+210 of `w` and floats
    // b·256..b·256+256 of `x`, in bounds by the assertion above.
    unsafe {
        use std::arch::x86_64::*;
        let nibble = _mm512_set1_epi8(0x0F);
        let two_bits = _mm512_set1_epi8(0x03);
        let bias = _mm512_set1_epi8(32);
        let shift_lo = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
        let shift_hi = _mm512_set_epi64(6, 6, 6, 6, 4, 4, 4, 4);
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut scales = [0f32; 16];
        for b in 0..blocks {
            let blk = w.as_ptr().add(b * Q6_K_BLOCK_BYTES);
            if ahead.bytes != 0 {
                let p = blk.wrapping_add(ahead.bytes);
                prefetch_line(p, ahead.hint);
                prefetch_line(p.wrapping_add(64), ahead.hint);
                prefetch_line(p.wrapping_add(128), ahead.hint);
                prefetch_line(p.wrapping_add(192), ahead.hint);
            }
            // F16C inline, as in the Q8_0 kernel (`half`'s conversion is an out-of-line call).
            let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(
                u16::from_le_bytes([*blk.add(208), *blk.add(209)]),
            ))));
            let sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
                blk.add(192) as *const __m128i
            )));
            _mm512_storeu_ps(scales.as_mut_ptr(), _mm512_mul_ps(sc, _mm512_set1_ps(d)));
            let xs = x.as_ptr().add(b * QK_K);
            for half in 0..2 {
                let ql = _mm512_loadu_si512(blk.add(64 * half) as *const __m512i);
                let qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(
                    blk.add(128 + 32 * half) as *const __m256i
                ));
                let lo = _mm512_and_si512(ql, nibble);
                let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(ql), nibble);
                let top_lo = _mm512_and_si512(_mm512_srlv_epi64(qh, shift_lo), two_bits);
                let top_hi = _mm512_and_si512(_mm512_srlv_epi64(qh, shift_hi), two_bits);
                let values = [
                    _mm512_sub_epi8(_mm512_or_si512(lo, _mm512_slli_epi16::<4>(top_lo)), bias),
                    _mm512_sub_epi8(_mm512_or_si512(hi, _mm512_slli_epi16::<4>(top_hi)), bias),
                ];
                for (g, v) in values.iter().enumerate() {
                    let parts = [
                        _mm512_castsi512_si128(*v),
                        _mm512_extracti32x4_epi32::<1>(*v),
                        _mm512_extracti32x4_epi32::<2>(*v),
                        _mm512_extracti32x4_epi32::<3>(*v),
                    ];
                    for (i, part) in parts.iter().enumerate() {
                        // Value index within the block, and its 16-value sub-block.
                        let at = 128 * half + 64 * g + 16 * i;
                        let q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(*part));
                        let t = _mm512_mul_ps(q, _mm512_loadu_ps(xs.add(at)));
                        acc[i] = _mm512_fmadd_ps(t, _mm512_set1_ps(scales[at / 16]), acc[i]);
                    }
                }
            }
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(sum)
    }
}
