//! Scalar reference I2_S dot products: the oracle every fast path is checked against.
//!
//! Deliberately naive: one weight at a time through [`I2sMatrixRef::code`], natural activation
//! order, no tiling, no `unsafe`. It is never tuned.

use std::ops::Range;

use crate::activation::QuantizedActivations;
use crate::format::i2s::I2sMatrixRef;

/// Σ code·q for rows `rows` and every token, into `out[(r − rows.start)·tokens + t]`.
pub fn dot_codes(
    w: &I2sMatrixRef<'_>,
    rows: Range<usize>,
    acts: &QuantizedActivations,
    out: &mut [i32],
) {
    let tokens = acts.tokens();
    for (i, r) in rows.enumerate() {
        for t in 0..tokens {
            let q = acts.token(t);
            let mut sum = 0i32;
            for (j, &qj) in q.iter().enumerate().take(w.cols()) {
                sum += i32::from(w.code(r, j)) * i32::from(qj);
            }
            out[i * tokens + t] = sum;
        }
    }
}

/// Exact Σ t·q for every token and row, laid out `[token][row]`.
pub fn dot_i32(w: &I2sMatrixRef<'_>, acts: &QuantizedActivations) -> Vec<i32> {
    let (m, n) = (w.rows(), acts.tokens());
    let mut codes = vec![0i32; m * n];
    dot_codes(w, 0..m, acts, &mut codes);
    let mut out = vec![0i32; m * n];
    for r in 0..m {
        for t in 0..n {
            out[t * m + r] = codes[r * n + t] - acts.sums()[t];
        }
    }
    out
}

/// y = W·x in f32 for every token and row, laid out `[token][row]`.
pub fn gemm_f32(w: &I2sMatrixRef<'_>, acts: &QuantizedActivations) -> Vec<f32> {
    let m = w.rows();
    dot_i32(w, acts)
        .iter()
        .enumerate()
        .map(|(i, &d)| crate::activation::dequantize_dot(d, acts.scales()[i / m], w.scale()))
        .collect()
}
