//! Q6_K lm_head row dot products with AVX-512BW on int16 activations.
//!
//! x is quantised once per GEMV to int16 with one scale per 256-value block
//! ([`QuantizedX`]: 15 bits where ggml's Q8_K uses 7, so the result stays within a few 1e-6 of
//! the f32 dot product; the tests hold it to the f32 bound plus the provable rounding term).
//! The 6-bit values are then multiplied in integers: `vpmaddwd` takes 32 value·x products into 16
//! exact i32 pair sums, which become f32 once and meet their sub-block scale in one FMA. The
//! first version converted every value to f32 (byte shuffles on port 5 bounded it at ~11 cycles
//! per 16 values), the second took bytes out of 32-bit lanes with shifts (~6 uops per 16); this
//! one needs ~3.
//!
//! Layout per half block (128 values): one 64-byte load of the low nibbles and one 32-byte load
//! of the high bits give the values 0..63 in order (low nibbles of `ql[0..64]` are values 0..63,
//! high nibbles 64..127; the 2-bit parts are `qh` shifted by 0/2 and 4/6, one variable shift of
//! the 32 `qh` bytes broadcast to both 256-bit halves). Unpacking a 64-value group with zero
//! bytes gives, per 128-bit lane L, values 16L..16L+7 (low) and 16L+8..16L+15 (high) as i16: one
//! 16-value sub-block per lane, so a sub-block's scale covers four i32 lanes (one `vpermps`), and
//! x is stored in that order.

use super::prefetch::{prefetch as prefetch_line, Prefetch};
use crate::format::ggml_blocks::{Q6_K_BLOCK_BYTES, QK_K};

/// Values per 64-byte group of 6-bit values.
const GROUP: usize = 64;
/// Largest |x̂|: int16 without −32768, so negation stays in range.
const X_MAX: f32 = 32767.0;

/// x quantised to int16 per 256-value block, in the kernel's order: within each group of 64,
/// first the values each 128-bit lane's low unpack holds (16L..16L+8 for L = 0..4), then the
/// high unpack's (16L+8..16L+16).
#[derive(Debug, Clone)]
pub struct QuantizedX {
    q: Vec<i16>,
    /// x ≈ q · scale, per block.
    scales: Vec<f32>,
}

impl QuantizedX {
    /// Quantises `x` (a whole number of 256-value blocks).
    pub fn new(x: &[f32]) -> Self {
        let mut q = vec![0i16; x.len()];
        let mut scales = Vec::with_capacity(x.len() / QK_K);
        for (xb, qb) in x.chunks_exact(QK_K).zip(q.chunks_exact_mut(QK_K)) {
            let (scale, natural) = quantize_block(xb);
            scales.push(scale);
            for (src, dst) in natural.chunks_exact(GROUP).zip(qb.chunks_exact_mut(GROUP)) {
                for lane in 0..4 {
                    for j in 0..8 {
                        dst[8 * lane + j] = src[16 * lane + j];
                        dst[32 + 8 * lane + j] = src[16 * lane + 8 + j];
                    }
                }
            }
        }
        Self { q, scales }
    }

    /// Number of values.
    fn len(&self) -> usize {
        self.q.len()
    }
}

/// The step of one block's int16 grid: max|x| / 32767 (the rounding moves a value by at most
/// half of it).
pub(crate) fn block_step(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |m, v| m.max(v.abs())) / X_MAX
}

/// One block of x as int16 in natural order, and its scale (0 for an all-zero block).
fn quantize_block(x: &[f32]) -> (f32, Vec<i16>) {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        // Non-finite inputs: scale NaN makes every product NaN, as the f32 dot product would.
        let scale = if max == 0.0 { 0.0 } else { f32::NAN };
        return (scale, vec![0; x.len()]);
    }
    let inv = X_MAX / max;
    let q = x
        .iter()
        .map(|&v| (v * inv).round_ties_even().clamp(-X_MAX, X_MAX) as i16)
        .collect();
    (max / X_MAX, q)
}

/// Σ dequant(w)·x̂ over one row of Q6_K blocks.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and F16C; `w` holds `x.len() / 256` blocks.
#[target_feature(enable = "avx512f,avx512bw,f16c")]
pub unsafe fn dot(w: &[u8], x: &QuantizedX, ahead: Prefetch) -> f32 {
    let blocks = x.len() / QK_K;
    assert!(x.len().is_multiple_of(QK_K) && w.len() >= blocks * Q6_K_BLOCK_BYTES);
    // SAFETY: AVX-512F/BW and F16C by the caller; block b reads bytes b·210..b·210+210 of `w`,
    // values b·256..b·256+256 of `x.q` and scale b, in bounds by the assertion above.
    unsafe {
        use std::arch::x86_64::*;
        let nibble = _mm512_set1_epi8(0x0F);
        let two_bits = _mm512_set1_epi8(0x03);
        let zero = _mm512_setzero_si512();
        let bias = _mm512_set1_epi16(32);
        let shift_lo = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
        let shift_hi = _mm512_set_epi64(6, 6, 6, 6, 4, 4, 4, 4);
        // The four i32 lanes of 128-bit lane L of group G belong to sub-block 4G + L.
        let spread: [__m512i; 4] = [
            _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
            _mm512_set_epi32(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4),
            _mm512_set_epi32(11, 11, 11, 11, 10, 10, 10, 10, 9, 9, 9, 9, 8, 8, 8, 8),
            _mm512_set_epi32(
                15, 15, 15, 15, 14, 14, 14, 14, 13, 13, 13, 13, 12, 12, 12, 12,
            ),
        ];
        let mut acc = [_mm512_setzero_ps(); 2];
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
            // Sub-block scale × block scale × this block's x scale.
            let scales = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
                    blk.add(192) as *const __m128i
                ))),
                _mm512_set1_ps(d * *x.scales.get_unchecked(b)),
            );
            let xs = x.q.as_ptr().add(b * QK_K);
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
                    let xg = xs.add(GROUP * group) as *const __m512i;
                    // (value − 32) as i16; |(value − 32)·x̂| pair sums ≤ 2·32·32767 < 2^24, so
                    // they convert to f32 exactly.
                    let low = _mm512_sub_epi16(_mm512_unpacklo_epi8(*v, zero), bias);
                    let high = _mm512_sub_epi16(_mm512_unpackhi_epi8(*v, zero), bias);
                    let pl = _mm512_madd_epi16(low, _mm512_loadu_si512(xg));
                    let ph = _mm512_madd_epi16(high, _mm512_loadu_si512(xg.add(1)));
                    acc[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pl), s, acc[0]);
                    acc[1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ph), s, acc[1]);
                }
            }
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]))
    }
}
