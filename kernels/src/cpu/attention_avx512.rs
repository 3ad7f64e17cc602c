//! One attention work item (see [`super::attention`]) with AVX-512F, for head widths of `16·N`
//! floats: the accumulator row of a head lives in `N` registers, scores and their exponentials
//! are computed 16 positions at a time.

use std::arch::x86_64::*;

use super::attention::{lane_sum, Block, EXP_COEFFS, EXP_MIN, LN2_HI, LN2_LO};
use super::hsum16_avx512::hsum16;
use super::kv_element::KvElement;
use super::kv_row_prefetch::{prefetch_row, prefetch_rows};
use super::prefetch::PrefetchHint;

/// e^x for 16 lanes, x ≤ 0 (scores minus their maximum): 2^n·p(r) with r = x − n·ln 2,
/// |r| ≤ ln2/2, p the degree-6 Taylor polynomial (relative error < 2e-7); below −87 (where e^x
/// leaves f32's normal range, and for the −∞ of padding lanes) the result is 0.
///
/// # Safety
/// The CPU must support AVX-512F (inlined into [`block`]'s `#[target_feature]` body).
#[inline(always)]
unsafe fn exp16(x: __m512) -> __m512 {
    // SAFETY: this function's contract (AVX-512F, inlined into a kernel that enables it).
    unsafe {
        let normal = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_set1_ps(EXP_MIN));
        let x = _mm512_max_ps(x, _mm512_set1_ps(EXP_MIN));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut p = _mm512_set1_ps(EXP_COEFFS[0]);
        for &c in &EXP_COEFFS[1..] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        _mm512_maskz_mov_ps(normal, _mm512_scalef_ps(p, n))
    }
}

/// Lane partials of q_h · k_{j0+t} into `p[t·G + h]` for the `count` positions from `j0`,
/// prefetching the rows [`prefetch_rows`] ahead.
///
/// # Safety
/// As [`block`]; positions `j0..j0 + count` lie in the block. Inlined into `block`'s
/// `#[target_feature]` body.
#[inline(always)]
unsafe fn tile_partials<E: KvElement, const N: usize, const G: usize>(
    block: &Block<'_, E>,
    j0: usize,
    count: usize,
    p: &mut [__m512; 16],
) {
    let d = 16 * N;
    // SAFETY: this function's contract: the rows are in bounds and AVX-512F is present.
    unsafe {
        let q = |h: usize, i: usize| _mm512_loadu_ps(block.q.as_ptr().add(h * d + 16 * i));
        if count == 16 / G {
            // A whole tile: all 16 accumulators in registers, and each query vector loaded once
            // per column step for every position of the tile. Per position one at a time, the
            // G·N query vectors (32 for 2B-4T) do not fit the registers with the accumulators,
            // so every product reloaded its query operand and the loads, not the FMAs, set the
            // pace. Each accumulator still sums over i in order: the same bits. In L3 (one layer
            // of 2B-4T at 2048 positions, 1500 calls, alternating processes, Zen 5 VM): median
            // 84.7–86.6 → 84.5–98.6 GB/s; from DRAM unchanged (~31 GB/s, 65–90 % of a read pass
            // over the same cache in the same process). Rows past the tile repeat its rows,
            // unused.
            let rows: [*const E; 16] = std::array::from_fn(|t| {
                block
                    .keys
                    .as_ptr()
                    .add((j0 + (t % count)) * block.stride + block.offset)
            });
            for t in 0..count {
                let at = (j0 + t) * block.stride + block.offset;
                prefetch_row(
                    block
                        .keys
                        .as_ptr()
                        .add(at)
                        .wrapping_add(prefetch_rows(E::BYTES) * block.stride),
                    d,
                    block.prefetch_hint,
                );
                if block.prefetch_values_with_keys {
                    prefetch_row(
                        block
                            .values
                            .as_ptr()
                            .add(at)
                            .wrapping_add(prefetch_rows(E::BYTES) * block.stride),
                        d,
                        block.prefetch_hint,
                    );
                }
            }
            let mut acc = [_mm512_setzero_ps(); 16];
            for i in 0..N {
                let qs: [__m512; G] = std::array::from_fn(|h| q(h, i));
                for t in 0..16 / G {
                    let kv = E::load16(rows[t].add(16 * i));
                    for (h, qh) in qs.iter().enumerate() {
                        acc[t * G + h] = _mm512_fmadd_ps(kv, *qh, acc[t * G + h]);
                    }
                }
            }
            *p = acc;
            return;
        }
        for t in 0..count {
            let at = (j0 + t) * block.stride + block.offset;
            let k = block.keys.as_ptr().add(at);
            prefetch_row(
                k.wrapping_add(prefetch_rows(E::BYTES) * block.stride),
                d,
                block.prefetch_hint,
            );
            // The value rows too where that was measured to help (`prefetch_values_with_keys`),
            // so the P·V pass starts on lines already on their way.
            if block.prefetch_values_with_keys {
                let v = block.values.as_ptr().add(at);
                prefetch_row(
                    v.wrapping_add(prefetch_rows(E::BYTES) * block.stride),
                    d,
                    block.prefetch_hint,
                );
            }
            // Register accumulators, stored once per position: `p[t·G + h]` with a run-time `t`
            // lives on the stack, and accumulating in it put a store and a reload on every
            // product's dependency chain. Same operations in the same order, so the same bits.
            let mut acc = [_mm512_setzero_ps(); G];
            for i in 0..N {
                let kv = E::load16(k.add(16 * i));
                for (h, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(kv, q(h, i), *a);
                }
            }
            p[t * G..(t + 1) * G].copy_from_slice(&acc);
        }
    }
}

/// What a P·V pass prefetches ahead of the value rows it reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PvPrefetch {
    /// Nothing: an earlier pass over the same rows brought them into L2.
    None,
    /// Whole rows [`prefetch_rows`] ahead into the block's level: the pass that streams the
    /// values from memory.
    Stream,
    /// The pass's columns of the row [`prefetch_rows`] ahead into L1: values the key pass
    /// prefetched into L2. Without it the column-half passes on the Emerald Rapids VM waited on
    /// L2 (or on lines still on their way): P·V took 30.5–37.6 TSC cycles a position after the
    /// key pass from DRAM against 20.5 with the block long in L2; with it 24.3–28.1 (2B-4T,
    /// 3968 positions, one and two threads; 4 and 8 rows ahead 28–30 and 27–28).
    ColumnsToL1,
}

/// Σ_j p_hj·v_j into columns `16·c0 .. 16·(c0 + C)` of the accumulators of query heads
/// `h0..h0 + H` of `part` (softmax numerators `scores[h·padded + j]`), one pass over the block's
/// value rows, prefetching as `prefetch` says. Each accumulator sums over the positions in
/// order, so how heads and columns are split into passes does not change the bits.
///
/// # Safety
/// As [`block`]: AVX-512F, rows in bounds, `16·N` elements per row, `h0 + H` heads in `part`,
/// `c0 + C ≤ N`. Inlined into `block`'s `#[target_feature]` body.
#[inline(always)]
unsafe fn pv_pass<E: KvElement, const N: usize, const H: usize, const C: usize>(
    block: &Block<'_, E>,
    scores: &[f32],
    padded: usize,
    (h0, c0): (usize, usize),
    prefetch: PvPrefetch,
    part: &mut [f32],
) {
    let d = 16 * N;
    // SAFETY: this function's contract.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); C]; H];
        for j in 0..block.len {
            let v = block.values.as_ptr().add(j * block.stride + block.offset);
            let ahead = v.wrapping_add(prefetch_rows(E::BYTES) * block.stride);
            match prefetch {
                PvPrefetch::None => {}
                PvPrefetch::Stream => prefetch_row(ahead, d, block.prefetch_hint),
                PvPrefetch::ColumnsToL1 => {
                    prefetch_row(ahead.wrapping_add(16 * c0), 16 * C, PrefetchHint::L1)
                }
            }
            let w: [__m512; H] =
                std::array::from_fn(|hh| _mm512_set1_ps(scores[(h0 + hh) * padded + j]));
            for col in 0..C {
                let vv = E::load16(v.add(16 * (c0 + col)));
                for (ah, wh) in acc.iter_mut().zip(&w) {
                    ah[col] = _mm512_fmadd_ps(*wh, vv, ah[col]);
                }
            }
        }
        for (hh, ah) in acc.iter().enumerate() {
            let ph = &mut part[(h0 + hh) * (d + 2)..(h0 + hh + 1) * (d + 2)];
            for (col, a) in ah.iter().enumerate() {
                _mm512_storeu_ps(ph.as_mut_ptr().add(2 + 16 * (c0 + col)), *a);
            }
        }
    }
}

/// Softmax partials of the `G` query heads of `block` (sharing its KV head) into `part` (per
/// head: m, l, acc[16·N]). Each key and value row is read once for all `G` heads (from L2, where
/// the block stays): reading it per head made the kernel L2-bound.
///
/// # Safety
/// The CPU must support AVX-512F; `G` divides 16; `block.q` holds `G` rows of `16·N` floats,
/// `part` holds `G·(16·N + 2)` floats, and every position's row in `block.keys` /
/// `block.values` has `16·N` elements at `offset`.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn block<E: KvElement, const N: usize, const G: usize>(
    block: &Block<'_, E>,
    part: &mut [f32],
) {
    let d = 16 * N;
    let len = block.len;
    assert!(16 % G == 0 && block.q.len() >= G * d && part.len() >= G * (d + 2));
    assert!(block.keys.len() >= (len - 1) * block.stride + block.offset + d);
    assert!(block.values.len() >= (len - 1) * block.stride + block.offset + d);
    let padded = len.next_multiple_of(16);
    // scores[h·padded + j]: head h, position j.
    let mut scores = vec![f32::NEG_INFINITY; G * padded];
    // Positions per reduction tile: 16 lane-partial vectors, one per (position, head).
    let tile = 16 / G;
    // SAFETY: every row read is in bounds (asserted above), AVX-512F by the caller; a masked
    // store writes only lanes h·tile + t, t < count, at h·padded + j0 + t < G·padded.
    unsafe {
        let scale = _mm512_set1_ps(block.scale);
        for j0 in (0..len).step_by(tile) {
            // p[t·G + h] = lane partials of q_h · k_{j0+t} (zero past the block's end).
            let count = tile.min(len - j0);
            let mut p = [_mm512_setzero_ps(); 16];
            tile_partials::<E, N, G>(block, j0, count, &mut p);
            // The partials in (head, position) order, so that sum h·tile + t is score
            // (h, j0 + t) and each head's scores of the tile leave in one masked store. Through
            // a stack array and 2·16 scalar moves instead, the key pass took 35–38 rather than
            // 31–35 TSC cycles a position with the cache in L2 (2B-4T, one thread, Emerald
            // Rapids VM). Which vector is summed into which lane does not change its bits.
            let by_head: [__m512; 16] = std::array::from_fn(|k| p[(k % tile) * G + k / tile]);
            let sums = _mm512_mul_ps(hsum16(&by_head), scale);
            for h in 0..G {
                // Lanes h·tile .. h·tile + count go to h·padded + j0 ..: the positions past
                // the block's end keep their −∞.
                let lanes = (((1u32 << count) - 1) << (h * tile)) as u16;
                let at = scores.as_mut_ptr().add(h * padded + j0 - h * tile);
                _mm512_mask_storeu_ps(at, lanes, sums);
            }
        }
        // Softmax numerators in place; padding stays −∞ → 0.
        let mut m = [0f32; G];
        let mut l = [0f32; G];
        for h in 0..G {
            let row = &mut scores[h * padded..(h + 1) * padded];
            let mut mv = _mm512_set1_ps(f32::NEG_INFINITY);
            for c in row.chunks_exact(16) {
                mv = _mm512_max_ps(mv, _mm512_loadu_ps(c.as_ptr()));
            }
            m[h] = _mm512_reduce_max_ps(mv);
            let mb = _mm512_set1_ps(m[h]);
            let mut lv = _mm512_setzero_ps();
            for c in row.chunks_exact_mut(16) {
                let e = exp16(_mm512_sub_ps(_mm512_loadu_ps(c.as_ptr()), mb));
                lv = _mm512_add_ps(lv, e);
                _mm512_storeu_ps(c.as_mut_ptr(), e);
            }
            let mut lanes = [0f32; 16];
            _mm512_storeu_ps(lanes.as_mut_ptr(), lv);
            l[h] = lane_sum(&lanes);
        }
        // P·V over whole rows, H query heads per pass so that H·N accumulators fit the register
        // file: each pass reads the values front to back (the first from memory, prefetching;
        // the rest from L2). Chunks of columns instead read every row in halves, two strided
        // passes that the hardware prefetchers follow worse: P·V from DRAM took 5.4–5.9 µs per
        // 256-position block instead of 4.6–5.0 (2B-4T, one thread, Zen 5 VM). Each accumulator
        // still sums over the positions in order: the same bits.
        let stream = PvPrefetch::Stream;
        match (N, G) {
            // Values prefetched with the keys are in L2 by now, so two passes over column
            // halves with all four heads cost no extra DRAM stream and widen each value once
            // instead of once per two-head pass: on Intel cores an F16 conversion is two
            // micro-ops, a quarter of the pass's arithmetic. Emerald Rapids VM, 2B-4T from 3968
            // positions, alternating processes, attention's time over the lm_head's in the same
            // run: 0.822–0.842 → 0.786–0.817 (five pairs); prefetching the next block's keys
            // during these passes as well did not move it further (0.776–0.815).
            (8, 4) if block.prefetch_values_with_keys => {
                let l1 = PvPrefetch::ColumnsToL1;
                pv_pass::<E, 8, 4, 4>(block, &scores, padded, (0, 0), l1, part);
                pv_pass::<E, 8, 4, 4>(block, &scores, padded, (0, 4), l1, part);
            }
            (8, 1) => pv_pass::<E, 8, 1, 8>(block, &scores, padded, (0, 0), stream, part),
            (8, _) => {
                for h0 in (0..G).step_by(2) {
                    let prefetch = if h0 == 0 { stream } else { PvPrefetch::None };
                    pv_pass::<E, 8, 2, 8>(block, &scores, padded, (h0, 0), prefetch, part);
                }
            }
            (_, 1) => pv_pass::<E, N, 1, N>(block, &scores, padded, (0, 0), stream, part),
            (_, 2) => pv_pass::<E, N, 2, N>(block, &scores, padded, (0, 0), stream, part),
            _ => pv_pass::<E, N, 4, N>(block, &scores, padded, (0, 0), stream, part),
        }
        for h in 0..G {
            part[h * (d + 2)] = m[h];
            part[h * (d + 2) + 1] = l[h];
        }
    }
}
