//! One attention work item (see [`super::attention`]) with AVX2, FMA and F16C, for head widths
//! of `16·N` floats, giving the AVX-512 kernel's bits: each of that kernel's 16-lane vectors is
//! two 8-lane halves here, and every lane goes through the same FMAs, exponential and reduction
//! tree, so a host without AVX-512 runs the fast attention instead of the f64 one, and the scalar
//! twin still reproduces it. Why: with f64 attention an AVX2-only configuration spent 10.5 ms a
//! token on attention at 32–63 positions against 0.91 ms for the AVX-512 kernel (Emerald Rapids
//! VM, `isa=avx2`), and attention's share grows with the context.
//!
//! With 16 registers instead of 32, the register tiles are narrower than the AVX-512 kernel's:
//! the key pass keeps one position's `G` accumulators (`2·G` registers) at a time, and P·V makes
//! passes over column strips of `8 / G` registers for all `G` heads. Neither changes the order in
//! which an accumulator sums, so neither changes the bits.

use std::arch::x86_64::*;

use super::attention::{lane_sum, Block, EXP_COEFFS, EXP_MIN, LN2_HI, LN2_LO};
use super::hsum16_avx2::{hsum16, Halves};
use super::kv_element::KvElement;
use super::kv_row_prefetch::{prefetch_row, prefetch_rows};

/// Whether this CPU runs [`block`]: AVX2 with FMA (the kernel's products are fused, as the
/// scalar twin's `mul_add`) and F16C (an F16 cache's loads).
pub(crate) fn is_supported() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
}

/// e^x for 8 lanes, x ≤ 0: the AVX-512 kernel's `exp16` operation for operation, with
/// `vscalefps` (2^n·p, one rounding) as a multiplication by 2^n built in the exponent bits, exact
/// for the n ∈ [−126, 0] that reach it, so also one rounding.
///
/// # Safety
/// The CPU must support AVX2 and FMA (inlined into [`block`]'s `#[target_feature]` body).
#[inline(always)]
unsafe fn exp8(x: __m256) -> __m256 {
    // SAFETY: this function's contract (AVX2 and FMA, inlined into a kernel that enables them).
    unsafe {
        let normal = _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_set1_ps(EXP_MIN));
        let x = _mm256_max_ps(x, _mm256_set1_ps(EXP_MIN));
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
        let mut p = _mm256_set1_ps(EXP_COEFFS[0]);
        for &c in &EXP_COEFFS[1..] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        let biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
        let two_n = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(biased));
        _mm256_and_ps(normal, _mm256_mul_ps(p, two_n))
    }
}

/// Lane partials of q_h · k_{j0+t} into `p[t·G + h]` for the `count` positions from `j0`,
/// prefetching the rows [`prefetch_rows`] ahead (and the value rows where the block says so).
///
/// # Safety
/// As [`block`]; positions `j0..j0 + count` lie in the block. Inlined into `block`'s
/// `#[target_feature]` body.
#[inline(always)]
unsafe fn tile_partials<E: KvElement, const N: usize, const G: usize>(
    block: &Block<'_, E>,
    j0: usize,
    count: usize,
    p: &mut [Halves; 16],
) {
    let d = 16 * N;
    let ahead = prefetch_rows(E::BYTES) * block.stride;
    // SAFETY: this function's contract: the rows are in bounds and AVX2, FMA, F16C are present.
    unsafe {
        for t in 0..count {
            let at = (j0 + t) * block.stride + block.offset;
            let k = block.keys.as_ptr().add(at);
            prefetch_row(k.wrapping_add(ahead), d, block.prefetch_hint);
            if block.prefetch_values_with_keys {
                let v = block.values.as_ptr().add(at);
                prefetch_row(v.wrapping_add(ahead), d, block.prefetch_hint);
            }
            let mut acc = [[_mm256_setzero_ps(); 2]; G];
            for i in 0..N {
                for half in 0..2 {
                    let kv = E::load8(k.add(16 * i + 8 * half));
                    for (h, a) in acc.iter_mut().enumerate() {
                        let q = _mm256_loadu_ps(block.q.as_ptr().add(h * d + 16 * i + 8 * half));
                        a[half] = _mm256_fmadd_ps(kv, q, a[half]);
                    }
                }
            }
            p[t * G..(t + 1) * G].copy_from_slice(&acc);
        }
    }
}

/// Σ_j p_hj·v_j into the columns `8·c0 .. 8·(c0 + C)` of the accumulators of all `G` heads of
/// `part` (softmax numerators `scores[h·padded + j]`), one pass over the block's value rows;
/// `stream` prefetches whole rows ahead (the pass that brings the values from memory).
///
/// # Safety
/// As [`block`]; `c0 + C ≤ 2·N`. Inlined into `block`'s `#[target_feature]` body.
#[inline(always)]
unsafe fn pv_pass<E: KvElement, const N: usize, const G: usize, const C: usize>(
    block: &Block<'_, E>,
    scores: &[f32],
    padded: usize,
    c0: usize,
    stream: bool,
    part: &mut [f32],
) {
    let d = 16 * N;
    let ahead = prefetch_rows(E::BYTES) * block.stride;
    // SAFETY: this function's contract.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); C]; G];
        for j in 0..block.len {
            let v = block.values.as_ptr().add(j * block.stride + block.offset);
            if stream {
                prefetch_row(v.wrapping_add(ahead), d, block.prefetch_hint);
            }
            // A loop, not `array::from_fn`: an intrinsic in a closure is a call (see `hsum16`).
            let mut w = [_mm256_setzero_ps(); G];
            for (h, wh) in w.iter_mut().enumerate() {
                *wh = _mm256_set1_ps(scores[h * padded + j]);
            }
            for col in 0..C {
                let vv = E::load8(v.add(8 * (c0 + col)));
                for (ah, wh) in acc.iter_mut().zip(&w) {
                    ah[col] = _mm256_fmadd_ps(*wh, vv, ah[col]);
                }
            }
        }
        for (h, ah) in acc.iter().enumerate() {
            let ph = &mut part[h * (d + 2)..(h + 1) * (d + 2)];
            for (col, a) in ah.iter().enumerate() {
                _mm256_storeu_ps(ph.as_mut_ptr().add(2 + 8 * (c0 + col)), *a);
            }
        }
    }
}

/// P·V of all `G` heads in strips of `C` registers (`G·C` = 8 accumulators, with `G` weight
/// broadcasts and a value register within the 16); the first strip streams the values from
/// memory unless the key pass already prefetched them.
///
/// # Safety
/// As [`pv_pass`]; `C` divides `2·N`.
#[inline(always)]
unsafe fn pv<E: KvElement, const N: usize, const G: usize, const C: usize>(
    block: &Block<'_, E>,
    scores: &[f32],
    padded: usize,
    part: &mut [f32],
) {
    for c0 in (0..2 * N).step_by(C) {
        let stream = c0 == 0 && !block.prefetch_values_with_keys;
        // SAFETY: this function's contract; c0 + C ≤ 2·N as C divides 2·N.
        unsafe { pv_pass::<E, N, G, C>(block, scores, padded, c0, stream, part) };
    }
}

/// Softmax partials of the `G` query heads of `block` (sharing its KV head) into `part` (per
/// head: m, l, acc[16·N]), with the bits of the AVX-512 kernel's `block`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C ([`is_supported`]); `G` is 1, 2 or 4; `block.q` holds
/// `G` rows of `16·N` floats, `part` holds `G·(16·N + 2)` floats, and every position's row in
/// `block.keys` / `block.values` has `16·N` elements at `offset`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn block<E: KvElement, const N: usize, const G: usize>(
    block: &Block<'_, E>,
    part: &mut [f32],
) {
    let d = 16 * N;
    let len = block.len;
    assert!(matches!(G, 1 | 2 | 4) && block.q.len() >= G * d && part.len() >= G * (d + 2));
    assert!(block.keys.len() >= (len - 1) * block.stride + block.offset + d);
    assert!(block.values.len() >= (len - 1) * block.stride + block.offset + d);
    let padded = len.next_multiple_of(16);
    // scores[h·padded + j]: head h, position j.
    let mut scores = vec![f32::NEG_INFINITY; G * padded];
    let tile = 16 / G;
    // SAFETY: every row read is in bounds (asserted above), AVX2, FMA and F16C by the caller;
    // the stores stay within `scores` (h·padded + j0 + count ≤ G·padded) and `part`.
    unsafe {
        let scale = _mm256_set1_ps(block.scale);
        for j0 in (0..len).step_by(tile) {
            let count = tile.min(len - j0);
            let mut p = [[_mm256_setzero_ps(); 2]; 16];
            tile_partials::<E, N, G>(block, j0, count, &mut p);
            // In (head, position) order, so that sum h·tile + t is score (h, j0 + t).
            let by_head: [Halves; 16] = std::array::from_fn(|k| p[(k % tile) * G + k / tile]);
            let sums = hsum16(&by_head);
            let mut lanes = [0f32; 16];
            _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_mul_ps(sums[0], scale));
            _mm256_storeu_ps(lanes.as_mut_ptr().add(8), _mm256_mul_ps(sums[1], scale));
            for h in 0..G {
                scores[h * padded + j0..][..count]
                    .copy_from_slice(&lanes[h * tile..h * tile + count]);
            }
        }
        // Softmax numerators in place; padding stays −∞ → 0.
        let mut m = [0f32; G];
        let mut l = [0f32; G];
        for h in 0..G {
            let row = &mut scores[h * padded..(h + 1) * padded];
            m[h] = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mb = _mm256_set1_ps(m[h]);
            let mut lv = [_mm256_setzero_ps(); 2];
            for c in row.chunks_exact_mut(16) {
                for (half, lh) in lv.iter_mut().enumerate() {
                    let at = c.as_mut_ptr().add(8 * half);
                    let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(at), mb));
                    *lh = _mm256_add_ps(*lh, e);
                    _mm256_storeu_ps(at, e);
                }
            }
            let mut lanes = [0f32; 16];
            _mm256_storeu_ps(lanes.as_mut_ptr(), lv[0]);
            _mm256_storeu_ps(lanes.as_mut_ptr().add(8), lv[1]);
            l[h] = lane_sum(&lanes);
        }
        match G {
            1 => pv::<E, N, G, 8>(block, &scores, padded, part),
            2 => pv::<E, N, G, 4>(block, &scores, padded, part),
            _ => pv::<E, N, G, 2>(block, &scores, padded, part),
        }
        for h in 0..G {
            part[h * (d + 2)] = m[h];
            part[h * (d + 2) + 1] = l[h];
        }
    }
}
