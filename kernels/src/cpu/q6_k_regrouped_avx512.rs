//! Q6_K lm_head row dot products with AVX-512 over regrouped blocks (`format::q6_k_regrouped`).
//!
//! The values unpack as in `q6_k_avx512.rs` (x split into two int8 parts, `vpdpbusd` on each),
//! but i32 lane j of each of a block's four 64-value groups holds four values of sub-block j.
//! So the four groups' sums add up in integers, lane by lane, and one conversion and one FMA
//! with the 16 sub-block scales in their stored order finish the block: no per-group
//! conversion, FMA and scale permute.
//!
//! Why: ~32 vector instructions a block instead of ~42. With 2 threads over the model's own
//! huge-page copy of 2b4t's Q6_K lm_head (Emerald Rapids VM, 15 alternations with a plain read
//! pass over the same bytes) the stored-order kernel ran at 0.84 of the read pass and this one
//! at 0.88 (1.04–1.05× per pair; in 4 KiB pages 1.20–1.22×, 0.82–0.88 → 0.98–1.06); in the model
//! the lm_head took 3–4 % less time. One thread with the rows in L1 runs both at ~24 GB/s: the
//! gain is in overlapping the compute with the memory stream.

use std::arch::x86_64::*;

use super::byte_dot::{ByteDot, MaddBw, Vnni};
use super::prefetch::{prefetch_ahead_with, with_prefetch_hint, Prefetch};
use super::q6_k_avx512::{QuantizedX, Unpack, GROUP, SUB_BLOCK};
use crate::format::ggml_blocks::{Q6_K_BLOCK_BYTES, QK_K};

/// Byte offset of the f16 block scale in a block.
const D_AT: usize = QK_K / 2 + QK_K / 4 + QK_K / 16;

/// Σ dequant(w)·x̂ over one row of regrouped Q6_K blocks, x quantised by
/// [`QuantizedX::new_regrouped`], with VNNI and GFNI.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW, AVX-512 VNNI, GFNI and F16C; `w` holds
/// `x.len() / 256` blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,gfni,f16c")]
pub unsafe fn dot_vnni_gfni(w: &[u8], x: &QuantizedX, ahead: Prefetch) -> f32 {
    // SAFETY: this function's contract.
    with_prefetch_hint!(ahead.hint, S, N => unsafe {
        dot::<Vnni, S, N, true>(w, x, ahead.bytes)
    })
}

/// Σ dequant(w)·x̂ over one row of regrouped Q6_K blocks, with VNNI (CPUs without GFNI).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW, AVX-512 VNNI and F16C; `w` holds `x.len() / 256`
/// blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
pub unsafe fn dot_vnni(w: &[u8], x: &QuantizedX, ahead: Prefetch) -> f32 {
    // SAFETY: this function's contract.
    with_prefetch_hint!(ahead.hint, S, N => unsafe {
        dot::<Vnni, S, N, false>(w, x, ahead.bytes)
    })
}

/// Σ dequant(w)·x̂ over one row of regrouped Q6_K blocks, without VNNI.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and F16C; `w` holds `x.len() / 256` blocks.
#[target_feature(enable = "avx512f,avx512bw,f16c")]
pub unsafe fn dot_bw(w: &[u8], x: &QuantizedX, ahead: Prefetch) -> f32 {
    // SAFETY: this function's contract.
    with_prefetch_hint!(ahead.hint, S, N => unsafe {
        dot::<MaddBw, S, N, false>(w, x, ahead.bytes)
    })
}

/// Σ dequant(w)·x̂ prefetching `ahead` bytes with the hint's consts (see
/// [`prefetch_ahead_with`]), moving the 2-bit parts with GFNI when `GFNI`.
///
/// # Safety
/// As [`dot_vnni_gfni`] / [`dot_vnni`] / [`dot_bw`] for `D` and `GFNI`; inlined into their
/// `#[target_feature]` bodies.
#[inline(always)]
unsafe fn dot<D: ByteDot, const S: i32, const N: bool, const GFNI: bool>(
    w: &[u8],
    x: &QuantizedX,
    ahead: usize,
) -> f32 {
    let blocks = x.len() / QK_K;
    assert!(x.len().is_multiple_of(QK_K) && w.len() >= blocks * Q6_K_BLOCK_BYTES);
    // SAFETY: the features by the caller; block b reads bytes b·210..b·210+210 of `w`, values
    // b·256..b·256+256 of `x.high`/`x.low`, scale b and offsets 16b..16b+16, in bounds by the
    // assertion above.
    unsafe {
        let unpack = Unpack::new();
        let mut acc = _mm512_setzero_ps();
        let mut offset_acc = _mm512_setzero_ps();
        for b in 0..blocks {
            let blk = w.as_ptr().add(b * Q6_K_BLOCK_BYTES);
            for line in 0..4 {
                prefetch_ahead_with::<S, N>(blk.wrapping_add(64 * line), ahead);
            }
            // F16C inline, as in the stored-order kernel. Converting a row's block scales
            // together before its blocks instead made the lm_head ~3 % slower in the model
            // (2b4t Q6_K, Emerald Rapids VM), though it saves instructions.
            let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(
                u16::from_le_bytes([*blk.add(D_AT), *blk.add(D_AT + 1)]),
            ))));
            // Sub-block scale × block scale × this block's x scale, in stored order.
            let scales = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
                    blk.add(QK_K / 2 + QK_K / 4) as *const __m128i,
                ))),
                _mm512_set1_ps(d * *x.scales.get_unchecked(b)),
            );
            offset_acc = _mm512_fmadd_ps(
                scales,
                _mm512_loadu_ps(x.offsets.as_ptr().add(b * QK_K / SUB_BLOCK)),
                offset_acc,
            );
            let xh = x.high.as_slice().as_ptr().add(b * QK_K);
            let xl = x.low.as_slice().as_ptr().add(b * QK_K);
            let values = unpack.block::<GFNI>(blk);
            // Two chains each for x's high and low parts, so that no chain waits on four
            // dot products in a row.
            let mut hi = [_mm512_setzero_si512(); 2];
            let mut lo = [_mm512_setzero_si512(); 2];
            for (group, &v) in values.iter().enumerate() {
                let at = GROUP * group;
                let c = group / 2;
                hi[c] = D::dot(hi[c], v, _mm512_loadu_si512(xh.add(at) as *const __m512i));
                lo[c] = D::dot(lo[c], v, _mm512_loadu_si512(xl.add(at) as *const __m512i));
            }
            // Per lane |Σ v·h| ≤ 16·63·127 over the block and |Σ v·l| ≤ 16·63·64, so
            // 128·Σ v·h + Σ v·l < 2^24: exact in i32 and in the conversion to f32.
            let sum = _mm512_add_epi32(
                _mm512_slli_epi32::<7>(_mm512_add_epi32(hi[0], hi[1])),
                _mm512_add_epi32(lo[0], lo[1]),
            );
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scales, acc);
        }
        _mm512_reduce_add_ps(_mm512_sub_ps(acc, offset_acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::embedding::EmbeddingFormat;
    use crate::synthetic::rng;
    use rand::Rng;

    /// A regrouped row with x permuted alike gives the stored row's sum through every
    /// regrouped kernel this CPU runs, within f32 rounding of the same exact integer sums (the
    /// bits differ: one conversion a block instead of four), for rows of 10 and of 70 blocks.
    #[test]
    fn regrouped_rows_give_the_stored_rows_sums() {
        use std::arch::is_x86_feature_detected as has;
        if !(has!("avx512f") && has!("avx512bw") && has!("f16c")) {
            eprintln!("no AVX-512BW: the regrouped Q6_K kernels are not run");
            return;
        }
        let vnni = has!("avx512vnni");
        let gfni = vnni && has!("gfni");
        let mut r = rng(62);
        for cols in [2560, 70 * QK_K] {
            for row in 0..32 {
                let values: Vec<f32> = (0..cols).map(|_| r.random_range(-2.0..2.0)).collect();
                let mut w = Vec::new();
                EmbeddingFormat::Q6K.quantize(&values, &mut w);
                let mut g = w.clone();
                crate::format::q6_k_regrouped::regroup(&mut g);
                let x: Vec<f32> = (0..cols).map(|_| r.random_range(-3.0..3.0)).collect();
                let (xq, xg) = (QuantizedX::new(&x), QuantizedX::new_regrouped(&x));
                let ahead = Prefetch {
                    bytes: 4096,
                    hint: crate::cpu::PrefetchHint::L2L1,
                };
                // SAFETY: AVX-512F/BW and F16C detected above; one row of cols/256 blocks.
                let stored = unsafe { super::super::q6_k_avx512::dot_bw(&w, &xq, ahead) };
                // SAFETY: as above.
                let mut sums = vec![("bw", unsafe { dot_bw(&g, &xg, ahead) })];
                if vnni {
                    // SAFETY: VNNI detected too.
                    sums.push(("vnni", unsafe { dot_vnni(&g, &xg, ahead) }));
                }
                if gfni {
                    // SAFETY: VNNI and GFNI detected too.
                    sums.push(("vnni_gfni", unsafe { dot_vnni_gfni(&g, &xg, ahead) }));
                }
                let abs: f32 = values.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
                for (kernel, s) in sums {
                    assert!(
                        (s - stored).abs() <= 1e-6 * abs,
                        "{kernel} cols {cols} row {row}: regrouped {s} vs stored {stored}"
                    );
                }
            }
        }
    }
}
