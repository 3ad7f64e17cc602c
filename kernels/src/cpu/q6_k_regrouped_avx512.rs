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

use super::byte_dot::ByteDot;
use super::q6_k_avx512::{BlockOrder, GROUP};
#[cfg(doc)]
use super::quantized_x::QuantizedX;

/// Blocks regrouped by `format::q6_k_regrouped`, x quantised by
/// [`QuantizedX::new_regrouped`]: for the entry points of `q6_k_avx512.rs`.
pub(crate) struct RegroupedOrder;

impl BlockOrder for RegroupedOrder {
    const REGROUPED: bool = true;
    type Acc = __m512;

    #[inline(always)]
    unsafe fn zero() -> Self::Acc {
        // SAFETY: AVX-512F by this function's contract.
        unsafe { _mm512_setzero_ps() }
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
            // Two chains each for x's high and low parts, so that no chain waits on four dot
            // products in a row.
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
            *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scales, *acc);
        }
    }

    #[inline(always)]
    unsafe fn lanes(acc: Self::Acc) -> __m512 {
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::super::q6_k_avx512::{dot_bw, dot_vnni, dot_vnni_gfni, StoredOrder};
    use super::super::quantized_x::QuantizedX;
    use super::*;
    use crate::cpu::Prefetch;
    use crate::format::embedding::EmbeddingFormat;
    use crate::format::ggml_blocks::QK_K;
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
                let stored = unsafe { dot_bw::<StoredOrder>(&w, &xq, ahead) };
                // SAFETY: as above.
                let mut sums = vec![("bw", unsafe { dot_bw::<RegroupedOrder>(&g, &xg, ahead) })];
                if vnni {
                    // SAFETY: VNNI detected too.
                    sums.push(("vnni", unsafe {
                        dot_vnni::<RegroupedOrder>(&g, &xg, ahead)
                    }));
                }
                if gfni {
                    // SAFETY: VNNI and GFNI detected too.
                    sums.push(("vnni_gfni", unsafe {
                        dot_vnni_gfni::<RegroupedOrder>(&g, &xg, ahead)
                    }));
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

    /// x quantised for the file's order against regrouped rows is refused, not summed wrong.
    #[test]
    fn x_for_the_other_order_is_refused() {
        use std::arch::is_x86_feature_detected as has;
        if !(has!("avx512f") && has!("avx512bw") && has!("f16c")) {
            eprintln!("no AVX-512BW: the regrouped Q6_K kernels are not run");
            return;
        }
        let w = vec![0u8; 10 * crate::format::ggml_blocks::Q6_K_BLOCK_BYTES];
        let x = QuantizedX::new(&[0.5; 2560]);
        let ahead = Prefetch {
            bytes: 0,
            hint: crate::cpu::PrefetchHint::L2,
        };
        // SAFETY: AVX-512F/BW and F16C detected above; one row of 10 blocks.
        let refused =
            std::panic::catch_unwind(|| unsafe { dot_bw::<RegroupedOrder>(&w, &x, ahead) });
        let message = refused.expect_err("summed x of the other order");
        let message = message.downcast_ref::<String>().map_or("", |m| m.as_str());
        assert!(
            message.contains("x quantised for the other block order"),
            "{message}"
        );
    }
}
