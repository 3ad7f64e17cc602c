//! Q6_K lm_head row dot products with AVX-512 on x split into two int8 parts.
//!
//! x is quantised once per GEMV to a 15-bit integer x̂ per 256-value block ([`QuantizedX`]) and
//! split as x̂ = 128·h + l with h ∈ [−127, 127] and l ∈ [−64, 63], both int8. The 6-bit values v
//! (0..63) of a row are unpacked to bytes and multiplied with h and with l by `vpdpbusd` (u8 × s8,
//! four products into each i32 lane; two `vpmaddubsw` + `vpmaddwd` without VNNI), so
//! 128·Σv·h + Σv·l = Σv·x̂ exactly, with no widening of v to int16. ggml's offset of 32 is not
//! subtracted per value: Σ(v − 32)·x̂ = Σv·x̂ − 32·Σx̂, and Σx̂ per 16-value sub-block is computed
//! once per x, so the offset costs one FMA per block of a row.
//!
//! Why: the int16 version (one widening unpack, one offset subtraction and one `vpmaddwd` per 32
//! values) needed ~16 vector instructions per 64 values and streamed the 2b4t Q6_K lm_head at
//! ~16 GB/s on the Sapphire Rapids VM, bound by compute; this one needs ~9½.
//!
//! Layout per half block (128 values): one 64-byte load of the low nibbles and one 32-byte load
//! of the high bits give the values 0..63 in order (low nibbles of `ql[0..64]` are values 0..63,
//! high nibbles 64..127; the 2-bit parts are `qh` shifted to bits 4–5 by 4/2 and 0/−2 in the two
//! 256-bit halves of one broadcast, then merged with the nibble in one `vpternlogd`). An i32 lane
//! k of a 64-value group holds values 4k..4k+3, so the four lanes of 128-bit lane L belong to
//! sub-block 4G + L of group G, and x stays in its natural order.

use std::arch::x86_64::*;

use super::byte_dot::{ByteDot, MaddBw, Vnni};
use super::prefetch::{prefetch_ahead_with, with_prefetch_hint, Prefetch};
use super::quantized_x::QuantizedX;
use super::quantized_x::{D_AT, SCALES_AT, SUB_BLOCK};
use crate::format::ggml_blocks::{Q6_K_BLOCK_BYTES, QK_K};

/// Values per 64-byte group of 6-bit values.
pub(super) const GROUP: usize = 64;
/// The constants that unpack a block's 6-bit values to bytes.
#[derive(Clone, Copy)]
pub(super) struct Unpack {
    nibble: __m512i,
    top_bits: __m512i,
    left_lo: __m512i,
    right_hi: __m512i,
    affine_lo: __m512i,
    affine_hi: __m512i,
}

impl Unpack {
    /// # Safety
    /// The CPU must support AVX-512F (inlined into the kernels' `#[target_feature]` bodies).
    #[inline(always)]
    pub(super) unsafe fn new() -> Self {
        // SAFETY: AVX-512F by this function's contract.
        unsafe {
            // The 2-bit parts of values 0..31 / 32..63 sit at bits 0–1 / 2–3 of `qh`, those of
            // 64..95 / 96..127 at bits 4–5 / 6–7: moved to bits 4–5.
            let to_bits_4_5 = |a: i64| (1i64 << a) << 24 | (1i64 << (a + 1)) << 16;
            // The same moves as GF(2) bit matrices, one per 256-bit half: output bit i of a byte
            // is the parity of (matrix byte 7 − i) & input, so bits a, a+1 → 4, 5 is byte 3 =
            // 1 << a, byte 2 = 1 << (a + 1), every other output bit 0 (the mask comes free).
            let (from_0, from_2) = (to_bits_4_5(0), to_bits_4_5(2));
            let (from_4, from_6) = (to_bits_4_5(4), to_bits_4_5(6));
            Self {
                nibble: _mm512_set1_epi8(0x0F),
                top_bits: _mm512_set1_epi8(0x30),
                left_lo: _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4),
                right_hi: _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0),
                affine_lo: _mm512_set_epi64(
                    from_2, from_2, from_2, from_2, from_0, from_0, from_0, from_0,
                ),
                affine_hi: _mm512_set_epi64(
                    from_6, from_6, from_6, from_6, from_4, from_4, from_4, from_4,
                ),
            }
        }
    }

    /// The 256 values (0..63) of the block at `blk` as four vectors of 64 bytes, in the block's
    /// order: one 64-byte load of low nibbles and one 32-byte load of high bits per half, the
    /// 2-bit parts moved to bits 4–5 by GFNI affine transforms when `GFNI`, by shifts and a mask
    /// otherwise.
    ///
    /// # Safety
    /// AVX-512F/BW (and GFNI when `GFNI`); `blk` points at 192 readable bytes.
    #[inline(always)]
    pub(super) unsafe fn block<const GFNI: bool>(&self, blk: *const u8) -> [__m512i; 4] {
        // SAFETY: this function's contract.
        unsafe {
            let mut values = [_mm512_setzero_si512(); 4];
            for half in 0..2 {
                let ql = _mm512_loadu_si512(blk.add(64 * half) as *const __m512i);
                let qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(
                    blk.add(128 + 32 * half) as *const __m256i
                ));
                let (top_lo, top_hi) = if GFNI {
                    (
                        _mm512_gf2p8affine_epi64_epi8::<0>(qh, self.affine_lo),
                        _mm512_gf2p8affine_epi64_epi8::<0>(qh, self.affine_hi),
                    )
                } else {
                    (
                        _mm512_and_si512(_mm512_sllv_epi64(qh, self.left_lo), self.top_bits),
                        _mm512_and_si512(_mm512_srlv_epi64(qh, self.right_hi), self.top_bits),
                    )
                };
                // (nibble & 0x0F) | top: ternary-logic table 0xEC is (A & C) | B.
                values[2 * half] = _mm512_ternarylogic_epi32::<0xEC>(ql, top_lo, self.nibble);
                values[2 * half + 1] = _mm512_ternarylogic_epi32::<0xEC>(
                    _mm512_srli_epi16::<4>(ql),
                    top_hi,
                    self.nibble,
                );
            }
            values
        }
    }
}

/// An order of a block's values and how it sums them: [`StoredOrder`] here, the regrouped one
/// in `q6_k_regrouped_avx512.rs`. The row loop ([`dot`]) is shared.
pub(crate) trait BlockOrder {
    /// Whether the blocks are regrouped (`format::q6_k_regrouped`): x must be quantised alike.
    const REGROUPED: bool;
    /// A row's accumulators.
    type Acc: Copy;

    /// Accumulators at zero.
    ///
    /// # Safety
    /// AVX-512F (inlined into the kernels).
    unsafe fn zero() -> Self::Acc;

    /// Adds Σ v·x̂ × scale over one block: its values (`Unpack::block`), x's high and low parts
    /// of the block (256 bytes each at `xh`, `xl`) and its 16 sub-block scales in stored order.
    ///
    /// # Safety
    /// The features of the entry point `D` is used in (inlined into it); 256 bytes readable at
    /// `xh` and `xl`.
    unsafe fn add_block<D: ByteDot>(
        acc: &mut Self::Acc,
        values: &[__m512i; 4],
        xh: *const i8,
        xl: *const i8,
        scales: __m512,
    );

    /// The accumulators' 16 lanes, summed over accumulators.
    ///
    /// # Safety
    /// AVX-512F (inlined into the kernels).
    unsafe fn lanes(acc: Self::Acc) -> __m512;
}

/// Σ dequant(w)·x̂ over one row of Q6_K blocks in `R`'s order, with VNNI and GFNI (the 2-bit
/// parts moved into place by one affine bit transform each instead of a shift and a mask: 4 of
/// the ~46 vector instructions per block fewer; with the weights in L2, one thread, Emerald Rapids
/// VM, alternating processes: 18.9–19.7 → 20.6–21.4 GB/s).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW, AVX-512 VNNI, GFNI and F16C; `w` holds
/// `x.len() / 256` blocks, and `x` was quantised for `R`'s order.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,gfni,f16c")]
pub unsafe fn dot_vnni_gfni<R: BlockOrder>(w: &[u8], x: &QuantizedX, ahead: Prefetch) -> f32 {
    // SAFETY: this function's contract.
    with_prefetch_hint!(ahead.hint, S, N => unsafe {
        dot::<R, Vnni, S, N, true>(w, x, ahead.bytes)
    })
}

/// Σ dequant(w)·x̂ over one row of Q6_K blocks in `R`'s order, with VNNI (CPUs without GFNI:
/// Cascade Lake).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW, AVX-512 VNNI and F16C; `w` holds `x.len() / 256`
/// blocks, and `x` was quantised for `R`'s order.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
pub unsafe fn dot_vnni<R: BlockOrder>(w: &[u8], x: &QuantizedX, ahead: Prefetch) -> f32 {
    // SAFETY: this function's contract.
    with_prefetch_hint!(ahead.hint, S, N => unsafe {
        dot::<R, Vnni, S, N, false>(w, x, ahead.bytes)
    })
}

/// Σ dequant(w)·x̂ over one row of Q6_K blocks in `R`'s order, without VNNI.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and F16C; `w` holds `x.len() / 256` blocks, and `x`
/// was quantised for `R`'s order.
#[target_feature(enable = "avx512f,avx512bw,f16c")]
pub unsafe fn dot_bw<R: BlockOrder>(w: &[u8], x: &QuantizedX, ahead: Prefetch) -> f32 {
    // SAFETY: this function's contract.
    with_prefetch_hint!(ahead.hint, S, N => unsafe {
        dot::<R, MaddBw, S, N, false>(w, x, ahead.bytes)
    })
}

/// The 16 sub-block scales × the block scale × x's scale of block `b` (at `blk`), in stored
/// order; adds their offset term (32·Σx̂ per sub-block) to `offset_acc`.
///
/// # Safety
/// AVX-512F and F16C (inlined into the kernels); `blk` points at block `b` of a row `x` was
/// quantised for.
#[inline(always)]
pub(super) unsafe fn block_scales(
    blk: *const u8,
    x: &QuantizedX,
    b: usize,
    offset_acc: &mut __m512,
) -> __m512 {
    // SAFETY: this function's contract: bytes 192..210 of the block, scale b and offsets
    // 16b..16b+16 of x.
    unsafe {
        // The f16 scale broadcast to every lane and converted there (F16C inline; `half`'s
        // conversion is an out-of-line call). Converted as one value, the compiler inserted it
        // into whichever register was free, which in the regrouped kernel was the offset
        // accumulator: a false dependency chaining every block to the one before. Converting a
        // row's block scales together before its blocks made the regrouped lm_head ~3 % slower
        // in the model (2b4t, Emerald Rapids VM).
        let d = _mm512_cvtph_ps(_mm256_set1_epi16(i16::from_le_bytes([
            *blk.add(D_AT),
            *blk.add(D_AT + 1),
        ])));
        let scales = _mm512_mul_ps(
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
                blk.add(SCALES_AT) as *const __m128i
            ))),
            _mm512_mul_ps(d, _mm512_set1_ps(*x.scales.get_unchecked(b))),
        );
        *offset_acc = _mm512_fmadd_ps(
            scales,
            _mm512_loadu_ps(x.offsets.as_ptr().add(b * QK_K / SUB_BLOCK)),
            *offset_acc,
        );
        scales
    }
}

/// Σ dequant(w)·x̂ over one row of blocks in `O`'s order, prefetching `ahead` bytes with the
/// hint's consts (see [`prefetch_ahead_with`]), moving the 2-bit parts with GFNI when `GFNI`.
///
/// # Safety
/// As [`dot_vnni_gfni`] / [`dot_vnni`] / [`dot_bw`] for `D` and `GFNI`; inlined into their
/// `#[target_feature]` bodies.
#[inline(always)]
unsafe fn dot<O: BlockOrder, D: ByteDot, const S: i32, const N: bool, const GFNI: bool>(
    w: &[u8],
    x: &QuantizedX,
    ahead: usize,
) -> f32 {
    let blocks = x.len() / QK_K;
    assert!(x.len().is_multiple_of(QK_K) && w.len() >= blocks * Q6_K_BLOCK_BYTES);
    // Rows in one order against x in the other would give wrong sums, silently.
    assert_eq!(
        x.regrouped,
        O::REGROUPED,
        "x quantised for the other block order"
    );
    // SAFETY: the features by the caller; block b reads bytes b·210..b·210+210 of `w`, values
    // b·256..b·256+256 of `x.high`/`x.low`, scale b and offsets 16b..16b+16, in bounds by the
    // assertion above.
    unsafe {
        let unpack = Unpack::new();
        let mut acc = O::zero();
        let mut offset_acc = _mm512_setzero_ps();
        for b in 0..blocks {
            let blk = w.as_ptr().add(b * Q6_K_BLOCK_BYTES);
            for line in 0..4 {
                prefetch_ahead_with::<S, N>(blk.wrapping_add(64 * line), ahead);
            }
            let scales = block_scales(blk, x, b, &mut offset_acc);
            let values = unpack.block::<GFNI>(blk);
            O::add_block::<D>(
                &mut acc,
                &values,
                x.high.as_slice().as_ptr().add(b * QK_K),
                x.low.as_slice().as_ptr().add(b * QK_K),
                scales,
            );
        }
        _mm512_reduce_add_ps(_mm512_sub_ps(O::lanes(acc), offset_acc))
    }
}

/// Blocks in ggml's (the file's) order: an i32 lane k of a 64-value group holds values
/// 4k..4k+3, so the four lanes of 128-bit lane L belong to sub-block 4G + L of group G, and each
/// group's sums are converted and scaled on their own.
pub(crate) struct StoredOrder;

impl BlockOrder for StoredOrder {
    const REGROUPED: bool = false;
    /// Two, alternating between groups.
    type Acc = [__m512; 2];

    #[inline(always)]
    unsafe fn zero() -> Self::Acc {
        // SAFETY: AVX-512F by this function's contract.
        unsafe { [_mm512_setzero_ps(); 2] }
    }

    #[inline(always)]
    unsafe fn add_block<D: ByteDot>(
        acc: &mut Self::Acc,
        values: &[__m512i; 4],
        xh: *const i8,
        xl: *const i8,
        scales: __m512,
    ) {
        // SAFETY: this function's contract; group G reads bytes 64G..64G+64 of each part.
        unsafe {
            // The four i32 lanes of 128-bit lane L of group G belong to sub-block 4G + L
            // (constants the compiler keeps out of the row loop).
            let spread: [__m512i; 4] = [
                _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
                _mm512_set_epi32(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4),
                _mm512_set_epi32(11, 11, 11, 11, 10, 10, 10, 10, 9, 9, 9, 9, 8, 8, 8, 8),
                _mm512_set_epi32(
                    15, 15, 15, 15, 14, 14, 14, 14, 13, 13, 13, 13, 12, 12, 12, 12,
                ),
            ];
            for (group, &v) in values.iter().enumerate() {
                let at = GROUP * group;
                // |Σ v·h| per lane ≤ 4·63·127, so 128·that + Σ v·l is exact in i32 and f32.
                let hi = D::dot(
                    _mm512_setzero_si512(),
                    v,
                    _mm512_loadu_si512(xh.add(at) as *const __m512i),
                );
                let sum = D::dot(
                    _mm512_slli_epi32::<7>(hi),
                    v,
                    _mm512_loadu_si512(xl.add(at) as *const __m512i),
                );
                let s = _mm512_permutexvar_ps(spread[group], scales);
                acc[group % 2] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), s, acc[group % 2]);
            }
        }
    }

    #[inline(always)]
    unsafe fn lanes(acc: Self::Acc) -> __m512 {
        // SAFETY: AVX-512F by this function's contract.
        unsafe { _mm512_add_ps(acc[0], acc[1]) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::embedding::EmbeddingFormat;
    use crate::synthetic::rng;
    use rand::Rng;

    /// The GFNI kernel moves the same bits as the shift-and-mask one: identical sums, to the bit,
    /// on random rows (the embedding test checks whichever of them this CPU dispatches to
    /// against the dequantised reference).
    #[test]
    fn the_gfni_and_shift_kernels_give_the_same_bits() {
        use std::arch::is_x86_feature_detected as has;
        let detected = [
            has!("avx512f"),
            has!("avx512bw"),
            has!("avx512vnni"),
            has!("gfni"),
            has!("f16c"),
        ];
        if !detected.iter().all(|&d| d) {
            eprintln!("no AVX-512 VNNI with GFNI: only the dispatched Q6_K kernel is checked");
            return;
        }
        let mut r = rng(61);
        let cols = 2560;
        for row in 0..64 {
            let values: Vec<f32> = (0..cols).map(|_| r.random_range(-2.0..2.0)).collect();
            let mut w = Vec::new();
            EmbeddingFormat::Q6K.quantize(&values, &mut w);
            let x: Vec<f32> = (0..cols).map(|_| r.random_range(-3.0..3.0)).collect();
            let xq = QuantizedX::new(&x);
            let ahead = Prefetch {
                bytes: 4096,
                hint: crate::cpu::PrefetchHint::L2L1,
            };
            // SAFETY: AVX-512F/BW, VNNI, GFNI and F16C detected above; one row of cols/256 blocks.
            let (a, b) = unsafe {
                (
                    dot_vnni_gfni::<StoredOrder>(&w, &xq, ahead),
                    dot_vnni::<StoredOrder>(&w, &xq, ahead),
                )
            };
            assert_eq!(a.to_bits(), b.to_bits(), "row {row}: {a} vs {b}");
        }
    }
}
