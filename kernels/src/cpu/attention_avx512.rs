//! One attention work item (see [`super::attention`]) with AVX-512F, for head widths of `16·N`
//! floats: the accumulator row of a head lives in `N` registers, scores and their exponentials
//! are computed 16 positions at a time.

use std::arch::x86_64::*;

use super::attention::Block;

/// e^x for 16 lanes, x ≤ 0 (scores minus their maximum): 2^n·p(r) with r = x − n·ln 2,
/// |r| ≤ ln2/2, p the degree-6 Taylor polynomial (relative error < 2e-7); below −87 (where e^x
/// leaves f32's normal range, and for the −∞ of padding lanes) the result is 0.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn exp16(x: __m512) -> __m512 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let normal = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_set1_ps(-87.0));
    let x = _mm512_max_ps(x, _mm512_set1_ps(-87.0));
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    let mut p = _mm512_set1_ps(1.0 / 720.0);
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    _mm512_maskz_mov_ps(normal, _mm512_scalef_ps(p, n))
}

/// q·k over `16·N` floats (one accumulator per position; positions are independent, so the
/// out-of-order core overlaps their FMA chains).
///
/// # Safety
/// AVX-512F; `q` and `k` point at `16·N` readable floats.
#[target_feature(enable = "avx512f")]
unsafe fn dot<const N: usize>(q: *const f32, k: *const f32) -> f32 {
    // SAFETY: the caller guarantees 16·N floats behind both pointers.
    unsafe {
        let mut acc = _mm512_mul_ps(_mm512_loadu_ps(q), _mm512_loadu_ps(k));
        for i in 1..N {
            acc = _mm512_fmadd_ps(
                _mm512_loadu_ps(q.add(16 * i)),
                _mm512_loadu_ps(k.add(16 * i)),
                acc,
            );
        }
        _mm512_reduce_add_ps(acc)
    }
}

/// Softmax partials of every query head of `block` into `part` (per head: m, l, acc[16·N]).
///
/// # Safety
/// The CPU must support AVX-512F; `block.q` holds `part.len() / (16·N + 2)` rows of `16·N`
/// floats, and every position's row in `block.keys` / `block.values` has `16·N` floats at
/// `offset`.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn block<const N: usize>(block: &Block<'_>, part: &mut [f32]) {
    let d = 16 * N;
    let len = block.len;
    assert!(block.keys.len() >= (len - 1) * block.stride + block.offset + d);
    assert!(block.values.len() >= (len - 1) * block.stride + block.offset + d);
    let mut scores = vec![0f32; len.next_multiple_of(16)];
    for (h, ph) in part.chunks_exact_mut(d + 2).enumerate() {
        let qh = &block.q[h * d..(h + 1) * d];
        // SAFETY: every row read is in bounds (asserted above), AVX-512F by the caller.
        unsafe {
            for (j, s) in scores[..len].iter_mut().enumerate() {
                let k = block.keys.as_ptr().add(j * block.stride + block.offset);
                *s = dot::<N>(qh.as_ptr(), k) * block.scale;
            }
            // Padding lanes: −∞ never raises the max, and exp(−∞ − m) = 0 adds nothing.
            scores[len..].fill(f32::NEG_INFINITY);
            let mut mv = _mm512_set1_ps(f32::NEG_INFINITY);
            for c in scores.chunks_exact(16) {
                mv = _mm512_max_ps(mv, _mm512_loadu_ps(c.as_ptr()));
            }
            let m = _mm512_reduce_max_ps(mv);
            let mb = _mm512_set1_ps(m);
            let mut lv = _mm512_setzero_ps();
            for c in scores.chunks_exact_mut(16) {
                let e = exp16(_mm512_sub_ps(_mm512_loadu_ps(c.as_ptr()), mb));
                lv = _mm512_add_ps(lv, e);
                _mm512_storeu_ps(c.as_mut_ptr(), e);
            }
            let mut acc = [_mm512_setzero_ps(); N];
            for (j, &e) in scores[..len].iter().enumerate() {
                let v = block.values.as_ptr().add(j * block.stride + block.offset);
                let w = _mm512_set1_ps(e);
                for (i, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(w, _mm512_loadu_ps(v.add(16 * i)), *a);
                }
            }
            ph[0] = m;
            ph[1] = _mm512_reduce_add_ps(lv);
            for (i, a) in acc.iter().enumerate() {
                _mm512_storeu_ps(ph.as_mut_ptr().add(2 + 16 * i), *a);
            }
        }
    }
}
