//! F16 × f32 GEMV rows with AVX-512F: `vcvtph2ps` converts 16 halves at a time, four FMA chains
//! hide the FMA latency; the row stream is prefetched ahead. A task's rows are computed 16 at a
//! time and their sums reduced together ([`hsum16`]) and stored with one vector store.
//!
//! Why whole tasks and tiles: per row, a call, the hint's dispatch, a full horizontal reduction
//! and a scalar store cost about as much as a few lines of the row. In one process on the Zen 5
//! VM, 2 threads, an 80 MB F16 matrix alternating with a read pass over 14 k rounds binned by the
//! read pass's rate, the tiles streamed 1.1–1.2 % faster at 50–70 GB/s and 1.1–2.2 % at
//! 70–110 GB/s than a call per row; from L2 (one task of 128 rows) 111 against 100 GB/s. Two rows
//! per step sharing the x loads streamed 0.66–0.76× as fast from DRAM: two row streams per core
//! defeat this host's prefetching.

use super::hsum16_avx512::hsum16;
use super::prefetch::{prefetch_ahead_with, with_prefetch_hint, Prefetch};

/// `out[r]` = Σ f16(w_r)·x for the `out.len()` consecutive rows of `w` (`2·x.len()` bytes each).
///
/// # Safety
/// The CPU must support AVX-512F (the caller resolved the path with `is_x86_feature_detected!`).
///
/// # Panics
/// If `w` holds fewer than `out.len()` rows.
#[target_feature(enable = "avx512f")]
pub unsafe fn gemv_rows(w: &[u8], x: &[f32], out: &mut [f32], ahead: Prefetch) {
    // SAFETY: this function's contract, passed on.
    with_prefetch_hint!(ahead.hint, S, N => unsafe { rows_with::<S, N>(w, x, out, ahead.bytes) })
}

/// [`gemv_rows`] prefetching `ahead` bytes with the hint's consts (see [`prefetch_ahead_with`]).
///
/// # Safety
/// As [`gemv_rows`]; inlined into it.
#[inline(always)]
unsafe fn rows_with<const S: i32, const N: bool>(
    w: &[u8],
    x: &[f32],
    out: &mut [f32],
    ahead: usize,
) {
    use std::arch::x86_64::*;
    let row_bytes = 2 * x.len();
    assert!(w.len() >= out.len() * row_bytes);
    for (tile, ys) in out.chunks_mut(16).enumerate() {
        let r0 = 16 * tile;
        // SAFETY: AVX-512F by the caller; every row read lies in `w` (asserted above).
        unsafe {
            let mut p = [_mm512_setzero_ps(); 16];
            let mut tails = [0f32; 16];
            for (t, (pt, tail)) in p.iter_mut().zip(&mut tails).take(ys.len()).enumerate() {
                let row = &w[(r0 + t) * row_bytes..(r0 + t + 1) * row_bytes];
                (*pt, *tail) = row_lanes::<S, N>(row, x, ahead);
            }
            let sums = hsum16(&p);
            if ys.len() == 16 {
                let sums = _mm512_add_ps(sums, _mm512_loadu_ps(tails.as_ptr()));
                _mm512_storeu_ps(ys.as_mut_ptr(), sums);
            } else {
                let mut lanes = [0f32; 16];
                _mm512_storeu_ps(lanes.as_mut_ptr(), sums);
                for ((y, s), tail) in ys.iter_mut().zip(lanes).zip(tails) {
                    *y = s + tail;
                }
            }
        }
    }
}

/// One row's products as 16 lane sums, and the scalar sum of the last `x.len() % 16` columns.
///
/// # Safety
/// AVX-512F (inlined into [`gemv_rows`]); `w` holds two bytes per element of `x`.
#[inline(always)]
unsafe fn row_lanes<const S: i32, const N: bool>(
    w: &[u8],
    x: &[f32],
    ahead: usize,
) -> (std::arch::x86_64::__m512, f32) {
    use std::arch::x86_64::*;
    assert!(w.len() >= 2 * x.len());
    // SAFETY: the caller's AVX-512F; every load stays inside `w` and `x` (the loop bounds and the
    // assertion above).
    unsafe {
        let n = x.len();
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut k = 0;
        while k + 64 <= n {
            // 128 bytes of weights per step: two lines.
            let cur = w.as_ptr().wrapping_add(2 * k);
            prefetch_ahead_with::<S, N>(cur, ahead);
            prefetch_ahead_with::<S, N>(cur.wrapping_add(64), ahead);
            for (j, a) in acc.iter_mut().enumerate() {
                let o = k + 16 * j;
                let h = _mm256_loadu_si256(w.as_ptr().add(2 * o) as *const __m256i);
                *a = _mm512_fmadd_ps(_mm512_cvtph_ps(h), _mm512_loadu_ps(x.as_ptr().add(o)), *a);
            }
            k += 64;
        }
        while k + 16 <= n {
            let h = _mm256_loadu_si256(w.as_ptr().add(2 * k) as *const __m256i);
            acc[0] = _mm512_fmadd_ps(
                _mm512_cvtph_ps(h),
                _mm512_loadu_ps(x.as_ptr().add(k)),
                acc[0],
            );
            k += 16;
        }
        let mut tail = 0f32;
        for i in k..n {
            tail += half::f16::from_le_bytes([w[2 * i], w[2 * i + 1]]).to_f32() * x[i];
        }
        let lanes = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        (lanes, tail)
    }
}
