//! Q8_0 × f32 dot product with AVX-512F: each 34-byte block's 32 int8 values are widened to f32
//! (`vpmovsxbd`, `vcvtdq2ps`), multiplied with x, and the block sum scaled by its f16 scale into
//! one accumulator per block parity (two FMA chains); the row stream is prefetched ahead. With
//! VNNI, [`dot_vnni`] multiplies in integers on x quantised to int8 parts.

use std::arch::x86_64::*;

use super::prefetch::{prefetch_ahead_with, with_prefetch_hint, Prefetch};
use super::quantized_x::{Q8_0Parts, QuantizedX};
use crate::format::ggml_blocks::{Q8_0_BLOCK_BYTES, QK8_0, QK_K};

/// Σ dequant(w)·x over one row of Q8_0 blocks.
///
/// # Safety
/// The CPU must support AVX-512F and F16C; `w` holds `x.len() / 32` blocks and `x.len()` is a multiple
/// of 32.
#[target_feature(enable = "avx512f,f16c")]
pub unsafe fn dot(w: &[u8], x: &[f32], ahead: Prefetch) -> f32 {
    // SAFETY: this function's contract, passed on.
    with_prefetch_hint!(ahead.hint, S, N => unsafe { dot_with::<S, N>(w, x, ahead.bytes) })
}

/// [`dot`] prefetching `ahead` bytes with the hint's consts (see [`prefetch_ahead_with`]).
///
/// # Safety
/// As [`dot`]; inlined into it.
#[inline(always)]
unsafe fn dot_with<const S: i32, const N: bool>(w: &[u8], x: &[f32], ahead: usize) -> f32 {
    let blocks = x.len() / QK8_0;
    assert!(x.len().is_multiple_of(QK8_0) && w.len() >= blocks * Q8_0_BLOCK_BYTES);
    // SAFETY: AVX-512F and F16C by the caller; block b reads bytes b·34..b·34+34 of `w` and floats
    // b·32..b·32+32 of `x`, in bounds by the assertion above.
    unsafe {
        // One block's Σ q·x and its scale, into two named accumulators (even and odd blocks):
        // with an array indexed by `b % 2` the 128256×2560 GEMV took 26–27 ms here, 22–23 ms
        // this way (Intel Xeon VM, 2 threads).
        let (mut even, mut odd) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut b = 0;
        while b + 2 <= blocks {
            let (s, d) = block::<S, N>(w, x, b, ahead);
            even = _mm512_fmadd_ps(s, d, even);
            let (s, d) = block::<S, N>(w, x, b + 1, ahead);
            odd = _mm512_fmadd_ps(s, d, odd);
            b += 2;
        }
        if b < blocks {
            let (s, d) = block::<S, N>(w, x, b, ahead);
            even = _mm512_fmadd_ps(s, d, even);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(even, odd))
    }
}

/// Block `b`'s 32 products q·x (16 lanes) and its scale broadcast, prefetching ahead on even
/// blocks (two blocks are 68 bytes: about one line a step).
///
/// A function, not a closure: a closure is compiled without its caller's target features, so
/// every intrinsic in it became an out-of-line call with its vectors passed through memory (the
/// 128256×2560 GEMV took 106–124 ms on the Emerald Rapids VM instead of ~22).
///
/// # Safety
/// As [`dot`], inlined into it; block `b` lies inside `w` and `x`.
#[inline(always)]
unsafe fn block<const S: i32, const N: bool>(
    w: &[u8],
    x: &[f32],
    b: usize,
    ahead: usize,
) -> (__m512, __m512) {
    // SAFETY: this function's contract.
    unsafe {
        let blk = w.as_ptr().add(b * Q8_0_BLOCK_BYTES);
        if b.is_multiple_of(2) {
            prefetch_ahead_with::<S, N>(blk, ahead);
        }
        // F16C inline: `half`'s conversion is an out-of-line call (every vector register is
        // caller-saved across it); with it, this kernel took 42 ms instead of 22.
        let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(
            u16::from_le_bytes([*blk, *blk.add(1)]),
        ))));
        let q0 = _mm_loadu_si128(blk.add(2) as *const __m128i);
        let q1 = _mm_loadu_si128(blk.add(18) as *const __m128i);
        let xs = x.as_ptr().add(b * QK8_0);
        let s = _mm512_mul_ps(
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)),
            _mm512_loadu_ps(xs),
        );
        let s = _mm512_fmadd_ps(
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)),
            _mm512_loadu_ps(xs.add(16)),
            s,
        );
        (s, _mm512_set1_ps(d))
    }
}

/// Σ dequant(w)·x̂ over one row of Q8_0 blocks with AVX-512 VNNI, x quantised to 15-bit x̂ in
/// int8 parts ([`QuantizedX::new`]): two blocks a step as one vector of u = q + 128 (`vpxord`),
/// one `vpdpbusd` with each part, and Σq·x̂ = 128·Σu·h + Σu·l − 128·Σx̂ exact in each i32 lane
/// (lanes 0..8 the first block, 8..16 the second); one conversion and one FMA with the two
/// blocks' scales, and x's scale once per 256 values.
///
/// Why: the f32 kernel ([`dot`]) spends ~13 vector instructions on a 34-byte block (widening,
/// conversion, two multiplies, the scale) and streamed 2B-4T's Q8_0 lm_head at 58 % of the read
/// on the Emerald Rapids VM; this one ~12 on two blocks.
///
/// # Safety
/// The CPU must support AVX-512F/BW/VNNI and F16C; `w` holds `x.len() / 32` blocks, `x.len()`
/// is a multiple of 256 and `x` is in natural order.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
pub unsafe fn dot_vnni(w: &[u8], x: &QuantizedX, ahead: Prefetch) -> f32 {
    // SAFETY: this function's contract, passed on.
    with_prefetch_hint!(ahead.hint, S, N => unsafe { dot_vnni_with::<S, N>(w, x, ahead.bytes) })
}

/// [`dot_vnni`] prefetching `ahead` bytes with the hint's consts (see [`prefetch_ahead_with`]).
///
/// # Safety
/// As [`dot_vnni`]; inlined into it.
#[inline(always)]
unsafe fn dot_vnni_with<const S: i32, const N: bool>(
    w: &[u8],
    x: &QuantizedX,
    ahead: usize,
) -> f32 {
    let n = x.len();
    let blocks = n / QK8_0;
    assert!(n.is_multiple_of(QK_K));
    assert!(w.len() >= blocks * Q8_0_BLOCK_BYTES);
    // SAFETY: AVX-512F/BW/VNNI and F16C by the caller; pair b reads bytes b·34..b·34+68 of `w`,
    // values b·32..b·32+64 of x's parts and lane offsets b·8..b·8+16, in bounds by the
    // assertions above (blocks come in whole 256-value groups, so pairs never split).
    unsafe {
        let parts = x.q8_0_parts();
        let mut total = _mm512_setzero_ps();
        for (g, &scale) in x.scales.iter().enumerate() {
            let mut acc = _mm512_setzero_ps();
            for p in 0..QK_K / (2 * QK8_0) {
                let (lanes, d) = block_pair::<S, N>(w, parts, g * (QK_K / QK8_0) + 2 * p, ahead);
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lanes), d, acc);
            }
            total = _mm512_fmadd_ps(acc, _mm512_set1_ps(scale), total);
        }
        _mm512_reduce_add_ps(total)
    }
}

/// Blocks `b` and `b + 1`: Σq·x̂ per four values (16 i32 lanes, exact: per lane
/// |Σu·h| ≤ 4·255·127 and |Σu·l| ≤ 4·255·64, so 128·Σu·h + Σu·l and the lane offset stay
/// far inside i32, and the result |Σq·x̂| ≤ 4·128·16319 < 2^24 converts to f32 exactly) and
/// the two scales, eight lanes each; the row is prefetched ahead once a pair (68 bytes).
///
/// # Safety
/// As [`dot_vnni`], inlined into it; both blocks lie inside `w` and x's parts.
#[inline(always)]
unsafe fn block_pair<const S: i32, const N: bool>(
    w: &[u8],
    (high, low, lane_offsets): Q8_0Parts,
    b: usize,
    ahead: usize,
) -> (__m512i, __m512) {
    // SAFETY: this function's contract.
    unsafe {
        let first = w.as_ptr().add(b * Q8_0_BLOCK_BYTES);
        let second = first.add(Q8_0_BLOCK_BYTES);
        prefetch_ahead_with::<S, N>(first, ahead);
        let q = _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_loadu_si256(first.add(2) as *const __m256i)),
            _mm256_loadu_si256(second.add(2) as *const __m256i),
        );
        let u = _mm512_xor_si512(q, _mm512_set1_epi8(i8::MIN));
        let at = b * QK8_0;
        let h = _mm512_dpbusd_epi32(
            _mm512_setzero_si512(),
            u,
            _mm512_loadu_si512(high.add(at) as *const __m512i),
        );
        let l = _mm512_dpbusd_epi32(
            _mm512_loadu_si512(lane_offsets.add(at / 4) as *const __m512i),
            u,
            _mm512_loadu_si512(low.add(at) as *const __m512i),
        );
        let f16 = |p: *const u8| i16::from_le_bytes([*p, *p.add(1)]);
        let (d0, d1) = (f16(first), f16(second));
        let d = _mm512_cvtph_ps(_mm256_inserti128_si256::<1>(
            _mm256_castsi128_si256(_mm_set1_epi16(d0)),
            _mm_set1_epi16(d1),
        ));
        (_mm512_add_epi32(_mm512_slli_epi32::<7>(h), l), d)
    }
}
