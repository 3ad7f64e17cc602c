//! Q6_K lm_head row dot products with AVX2, on x split into two int8 parts ([`QuantizedX`], as
//! the AVX-512 kernels read it): the 6-bit values (0..63) of 32 positions are unpacked to bytes and
//! multiplied with h and with l by `vpmaddubsw` (|pair sum| ≤ 2·63·127, no saturation), and
//! `vpmaddwd` widens the pairs with weights 128 and 1, so every i32 lane holds the exact
//! Σv·x̂ of four values; one conversion and one FMA with its sub-block's scale follow.
//!
//! Why: without it an AVX2 host (or `isa=avx2`) ran the Q6_K lm_head in the scalar reference,
//! 466 ms a token for 2B-4T's on the Emerald Rapids VM, 0.6 GB/s.
//!
//! Layout per half block (128 values): `ql[0..32]`, `ql[32..64]` (low nibbles: values 0..63,
//! high nibbles: 64..127) and `qh[0..32]` (bits 0–1, 2–3, 4–5, 6–7: the top two bits of values
//! l, l + 32, l + 64, l + 96). Each 32-value vector spans two sub-blocks, one per 128-bit lane.

use std::arch::x86_64::*;

use super::hsum8_avx::hsum8;
use super::prefetch::{prefetch_ahead_with, with_prefetch_hint, Prefetch};
use super::quantized_x::{QuantizedX, D_AT, SCALES_AT, SUB_BLOCK};
use crate::format::ggml_blocks::{Q6_K_BLOCK_BYTES, QK_K};

/// Σ dequant(w)·x̂ over one row of Q6_K blocks in the file's order.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `w` holds `x.len() / 256` blocks, and `x` was
/// quantised for the file's order ([`QuantizedX::new`]).
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot(w: &[u8], x: &QuantizedX, ahead: Prefetch) -> f32 {
    // SAFETY: this function's contract, passed on.
    with_prefetch_hint!(ahead.hint, S, N => unsafe { dot_with::<S, N>(w, x, ahead.bytes) })
}

/// [`dot`] prefetching `ahead` bytes with the hint's consts (see [`prefetch_ahead_with`]).
///
/// # Safety
/// As [`dot`]; inlined into it.
#[inline(always)]
unsafe fn dot_with<const S: i32, const N: bool>(w: &[u8], x: &QuantizedX, ahead: usize) -> f32 {
    let blocks = x.len() / QK_K;
    assert!(x.len().is_multiple_of(QK_K) && w.len() >= blocks * Q6_K_BLOCK_BYTES);
    assert!(!x.regrouped, "x quantised for regrouped blocks");
    // SAFETY: the features by the caller; block b reads bytes b·210..b·210+210 of `w`, values
    // b·256..b·256+256 of `x.high`/`x.low`, scale b and offsets 16b..16b+16, in bounds by the
    // assertions above.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 2];
        let mut offset_acc = [_mm256_setzero_ps(); 2];
        for b in 0..blocks {
            let blk = w.as_ptr().add(b * Q6_K_BLOCK_BYTES);
            for line in 0..4 {
                prefetch_ahead_with::<S, N>(blk.wrapping_add(64 * line), ahead);
            }
            let scales = block_scales(blk, x, b, &mut offset_acc);
            for (half, &half_scales) in scales.iter().enumerate() {
                let values = half_values(blk, half);
                let at = b * QK_K + 128 * half;
                for (k, &v) in values.iter().enumerate() {
                    let sums = value_sums(
                        v,
                        x.high.as_slice().as_ptr().add(at + 32 * k),
                        x.low.as_slice().as_ptr().add(at + 32 * k),
                    );
                    let s = pair_scales(half_scales, k);
                    acc[k % 2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), s, acc[k % 2]);
                }
            }
        }
        let total = _mm256_sub_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(offset_acc[0], offset_acc[1]),
        );
        hsum8(total)
    }
}

/// Block `b`'s 16 sub-block scales × its f16 scale × x's scale of the block, as two vectors
/// (sub-blocks 0..8, 8..16); adds their offset term (32·Σx̂ per sub-block) to `offset_acc`.
///
/// # Safety
/// AVX2, FMA and F16C (inlined into [`dot`]); `blk` is block `b` of a row `x` was quantised for.
#[inline(always)]
unsafe fn block_scales(
    blk: *const u8,
    x: &QuantizedX,
    b: usize,
    offset_acc: &mut [__m256; 2],
) -> [__m256; 2] {
    // SAFETY: this function's contract: bytes 192..210 of the block, scale b and offsets
    // 16b..16b+16 of x.
    unsafe {
        // F16C inline, broadcast first (see the AVX-512 kernel's `block_scales` for why).
        let d = _mm256_cvtph_ps(_mm_set1_epi16(i16::from_le_bytes([
            *blk.add(D_AT),
            *blk.add(D_AT + 1),
        ])));
        let ds = _mm256_mul_ps(d, _mm256_set1_ps(*x.scales.get_unchecked(b)));
        let sc = _mm_loadu_si128(blk.add(SCALES_AT) as *const __m128i);
        let scales = [
            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)), ds),
            _mm256_mul_ps(
                _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128::<8>(sc))),
                ds,
            ),
        ];
        let offsets = x.offsets.as_ptr().add(b * QK_K / SUB_BLOCK);
        for (i, (o, s)) in offset_acc.iter_mut().zip(&scales).enumerate() {
            *o = _mm256_fmadd_ps(*s, _mm256_loadu_ps(offsets.add(8 * i)), *o);
        }
        scales
    }
}

/// The 128 values (0..63) of half `half` of the block at `blk`, as four vectors of 32 bytes in
/// order: `(nibble & 0x0F) | (top two bits at bits 4–5)`.
///
/// # Safety
/// AVX2 (inlined into [`dot`]); `blk` points at a whole block.
#[inline(always)]
unsafe fn half_values(blk: *const u8, half: usize) -> [__m256i; 4] {
    // SAFETY: this function's contract: bytes 64·half..64·half + 64 and 128 + 32·half.. + 32.
    unsafe {
        let nibble = _mm256_set1_epi8(0x0F);
        let top = _mm256_set1_epi8(0x30);
        let ql0 = _mm256_loadu_si256(blk.add(64 * half) as *const __m256i);
        let ql1 = _mm256_loadu_si256(blk.add(64 * half + 32) as *const __m256i);
        let qh = _mm256_loadu_si256(blk.add(128 + 32 * half) as *const __m256i);
        // 16-bit shifts move bits across the two bytes of a word; the masks keep each byte's own.
        [
            merge_values(ql0, _mm256_slli_epi16::<4>(qh), nibble, top),
            merge_values(ql1, _mm256_slli_epi16::<2>(qh), nibble, top),
            merge_values(_mm256_srli_epi16::<4>(ql0), qh, nibble, top),
            merge_values(
                _mm256_srli_epi16::<4>(ql1),
                _mm256_srli_epi16::<2>(qh),
                nibble,
                top,
            ),
        ]
    }
}

/// `(nib & nibble) | (hi & top)`.
///
/// # Safety
/// AVX2 (inlined into [`dot`]).
#[inline(always)]
unsafe fn merge_values(nib: __m256i, hi: __m256i, nibble: __m256i, top: __m256i) -> __m256i {
    // SAFETY: this function's contract.
    unsafe { _mm256_or_si256(_mm256_and_si256(nib, nibble), _mm256_and_si256(hi, top)) }
}

/// Σv·x̂ of 32 values `v` (bytes 0..63) against x's high and low parts at `xh`, `xl`: i32 lane i
/// holds values 4i..4i + 3, exactly (|·| ≤ 4·63·16319 < 2^24, so also exact in f32).
///
/// # Safety
/// AVX2 (inlined into [`dot`]); 32 bytes readable at `xh` and `xl`.
#[inline(always)]
unsafe fn value_sums(v: __m256i, xh: *const i8, xl: *const i8) -> __m256i {
    // SAFETY: this function's contract.
    unsafe {
        let ph = _mm256_maddubs_epi16(v, _mm256_loadu_si256(xh as *const __m256i));
        let pl = _mm256_maddubs_epi16(v, _mm256_loadu_si256(xl as *const __m256i));
        _mm256_add_epi32(
            _mm256_madd_epi16(ph, _mm256_set1_epi16(128)),
            _mm256_madd_epi16(pl, _mm256_set1_epi16(1)),
        )
    }
}

/// The scales of sub-blocks 2k (lanes 0–3) and 2k + 1 (lanes 4–7) of `scales` (8 sub-blocks).
///
/// # Safety
/// AVX2 (inlined into [`dot`]); k < 4.
#[inline(always)]
unsafe fn pair_scales(scales: __m256, k: usize) -> __m256 {
    // SAFETY: this function's contract.
    unsafe {
        let (lo, hi) = (2 * k as i32, 2 * k as i32 + 1);
        _mm256_permutevar8x32_ps(scales, _mm256_setr_epi32(lo, lo, lo, lo, hi, hi, hi, hi))
    }
}
