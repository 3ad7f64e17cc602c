//! RMSNorm: y = x / sqrt(mean(x²) + eps) · w.

/// Normalises `x` into `out` with weights `w` (all the same length).
pub(crate) fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    // Accumulate in f64 (the sum of squares of thousands of activations loses bits in f32), in
    // eight lanes so the loop vectorises instead of waiting on one add chain.
    let ms = sum_sq_f64(x) / x.len() as f64;
    let inv = (1.0 / (ms + f64::from(eps)).sqrt()) as f32;
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(w) {
        *o = v * inv * g;
    }
}

/// Σ v² in f64 with eight independent accumulators.
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

/// Normalises every row of `x` (row length `w.len()`).
pub(crate) fn rms_norm_rows(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    for (xr, or) in x.chunks_exact(w.len()).zip(out.chunks_exact_mut(w.len())) {
        rms_norm(xr, w, eps, or);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
