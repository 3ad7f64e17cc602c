//! Q6_K × f32 dot product with AVX-512F/BW.
//!
//! Per half block (128 values), one 64-byte load of the low nibbles and one 32-byte load of the
//! high bits give the 6-bit values in order: the low nibbles of `ql[0..64]` are values 0..63,
//! the high nibbles values 64..127; the matching 2-bit parts are `qh` shifted by 0/2 (values
//! 0..31/32..63) and 4/6 (64..95/96..127), one variable shift of the 32 `qh` bytes broadcast to
//! both 256-bit halves.
//!
//! The values then reach f32 without byte shuffles: byte k of every 32-bit lane is taken with a
//! shift and a mask (port 0/5 arithmetic) instead of extracting 16-byte quarters and
//! sign-extending them (port 5 shuffles, which bounded the first version at ~11 cycles per 16
//! values). Lane i of part k then holds value 4i + k of the 64, so x is permuted once per GEMV
//! into the same order ([`PermutedX`]); the 16 values of one part span four 16-value sub-blocks,
//! whose scales one `vpermps` spreads over the lanes. The bias of 32 is folded into the
//! multiply: (q − 32)·x = q·x − 32x, one `vfmsub` with 32x precomputed.

use super::prefetch::{prefetch as prefetch_line, Prefetch};
use crate::format::ggml_blocks::{Q6_K_BLOCK_BYTES, QK_K};

/// Values per 64-byte group of 6-bit values.
const GROUP: usize = 64;

/// x reordered for [`dot`]: within each group of 64, element 4i + k moves to 16k + i; and 32·x
/// in the same order.
#[derive(Debug, Clone)]
pub struct PermutedX {
    x: Vec<f32>,
    x32: Vec<f32>,
}

impl PermutedX {
    /// Reorders `x` (a whole number of 256-value blocks).
    pub fn new(x: &[f32]) -> Self {
        let mut p = vec![0f32; x.len()];
        for (src, dst) in x.chunks_exact(GROUP).zip(p.chunks_exact_mut(GROUP)) {
            for i in 0..16 {
                for k in 0..4 {
                    dst[16 * k + i] = src[4 * i + k];
                }
            }
        }
        let x32 = p.iter().map(|v| 32.0 * v).collect();
        Self { x: p, x32 }
    }

    /// Number of values.
    fn len(&self) -> usize {
        self.x.len()
    }
}

/// Σ dequant(w)·x over one row of Q6_K blocks.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and F16C; `w` holds `x.len() / 256` blocks and
/// `x.len()` is a multiple of 256.
#[target_feature(enable = "avx512f,avx512bw,f16c")]
pub unsafe fn dot(w: &[u8], x: &PermutedX, ahead: Prefetch) -> f32 {
    let blocks = x.len() / QK_K;
    assert!(x.len().is_multiple_of(QK_K) && w.len() >= blocks * Q6_K_BLOCK_BYTES);
    // SAFETY: AVX-512F/BW and F16C by the caller; block b reads bytes b·210..b·210+210 of `w` and
    // floats b·256..b·256+256 of both permuted vectors, in bounds by the assertion above.
    unsafe {
        use std::arch::x86_64::*;
        let nibble = _mm512_set1_epi8(0x0F);
        let two_bits = _mm512_set1_epi8(0x03);
        let byte = _mm512_set1_epi32(0xFF);
        let shift_lo = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
        let shift_hi = _mm512_set_epi64(6, 6, 6, 6, 4, 4, 4, 4);
        // Lane i of a part of group G belongs to sub-block 4G + i/4.
        let spread: [__m512i; 4] = [
            _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
            _mm512_set_epi32(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4),
            _mm512_set_epi32(11, 11, 11, 11, 10, 10, 10, 10, 9, 9, 9, 9, 8, 8, 8, 8),
            _mm512_set_epi32(
                15, 15, 15, 15, 14, 14, 14, 14, 13, 13, 13, 13, 12, 12, 12, 12,
            ),
        ];
        let mut acc = [_mm512_setzero_ps(); 4];
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
            let scales = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
                    blk.add(192) as *const __m128i
                ))),
                _mm512_set1_ps(d),
            );
            let xs = x.x.as_ptr().add(b * QK_K);
            let x32 = x.x32.as_ptr().add(b * QK_K);
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
                    _mm512_or_si512(lo, _mm512_slli_epi16::<4>(top_lo)),
                    _mm512_or_si512(hi, _mm512_slli_epi16::<4>(top_hi)),
                ];
                for (g, v) in values.iter().enumerate() {
                    let group = 2 * half + g;
                    let s = _mm512_permutexvar_ps(spread[group], scales);
                    let parts = [
                        _mm512_and_si512(*v, byte),
                        _mm512_and_si512(_mm512_srli_epi32::<8>(*v), byte),
                        _mm512_and_si512(_mm512_srli_epi32::<16>(*v), byte),
                        _mm512_srli_epi32::<24>(*v),
                    ];
                    for (k, part) in parts.iter().enumerate() {
                        let at = GROUP * group + 16 * k;
                        let q = _mm512_cvtepi32_ps(*part);
                        // (q − 32)·x as q·x − 32x.
                        let t = _mm512_fmsub_ps(
                            q,
                            _mm512_loadu_ps(xs.add(at)),
                            _mm512_loadu_ps(x32.add(at)),
                        );
                        acc[k] = _mm512_fmadd_ps(t, s, acc[k]);
                    }
                }
            }
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(sum)
    }
}
