//! RMSNorm: y = x / sqrt(mean(x²) + eps) · w.

use crate::cpu::worker_pool::WorkerPool;

/// Normalises `x` into `out` with weights `w` (all the same length).
pub(crate) fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F was detected just above; the body is safe Rust.
        return unsafe { rms_norm_avx512(x, w, eps, out) };
    }
    rms_norm_body(x, w, eps, out);
}

/// [`rms_norm_body`] compiled with AVX-512F (baseline x86-64 code is SSE2): the same IEEE
/// operations in the same order — eight f64 accumulator lanes are one register — so the same
/// values.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn rms_norm_avx512(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    rms_norm_body(x, w, eps, out);
}

#[inline(always)]
fn rms_norm_body(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    // Accumulate in f64 (the sum of squares of thousands of activations loses bits in f32), in
    // eight lanes so the loop vectorises instead of waiting on one add chain.
    let ms = sum_sq_f64(x) / x.len() as f64;
    let inv = (1.0 / (ms + f64::from(eps)).sqrt()) as f32;
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(w) {
        *o = v * inv * g;
    }
}

/// Σ v² in f64 with eight independent accumulators.
#[inline(always)]
pub(crate) fn sum_sq_f64(x: &[f32]) -> f64 {
    let mut acc = [0f64; 8];
    let chunks = x.chunks_exact(8);
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum();
    for c in chunks {
        for k in 0..8 {
            acc[k] += f64::from(c[k]) * f64::from(c[k]);
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Normalises every row of `x` (row length `w.len()`), the rows split over `pool` when there
/// are several (a prompt's).
pub(crate) fn rms_norm_rows(pool: &WorkerPool, x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let len = w.len();
    pool.for_each_chunk_maybe_inline(x.len() <= len, out, len, |i, or| {
        rms_norm(&x[i * len..(i + 1) * len], w, eps, or);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched (AVX-512 where present) norm, the portable body and the pooled rows give
    /// the same bits.
    #[test]
    fn every_build_and_split_normalises_identically() {
        let mut r = crate::synthetic::rng(9);
        use rand::Rng;
        for len in [1, 7, 8, 9, 2560, 6912] {
            let x: Vec<f32> = (0..3 * len).map(|_| r.random_range(-9.0..9.0)).collect();
            let w: Vec<f32> = (0..len).map(|_| r.random_range(0.5..1.5)).collect();
            let mut want = vec![0f32; 3 * len];
            for (xr, or) in x.chunks_exact(len).zip(want.chunks_exact_mut(len)) {
                rms_norm_body(xr, &w, 1e-5, or);
            }
            let mut got = vec![0f32; 3 * len];
            rms_norm_rows(&WorkerPool::new(2, false).unwrap(), &x, &w, 1e-5, &mut got);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want));
        }
    }

    #[test]
    fn unit_rms_after_norm() {
        let x = [3.0f32, -4.0, 0.0, 5.0];
        let mut y = [0.0; 4];
        rms_norm(&x, &[1.0; 4], 0.0, &mut y);
        let rms = (y.iter().map(|v| v * v).sum::<f32>() / 4.0).sqrt();
        assert!((rms - 1.0).abs() < 1e-6);
        rms_norm(&x, &[2.0; 4], 0.0, &mut y);
        assert!((y[1] / y[0] + 4.0 / 3.0).abs() < 1e-6);
    }
}
