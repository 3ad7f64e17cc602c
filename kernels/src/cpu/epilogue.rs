//! The batched GEMM epilogue: the kernels' exact `[row][token]` sums into the `[token][row]`
//! f32 result, through the one shared [`dequantize_dot`].
//!
//! Baseline x86-64 code is SSE2, and this loop divides once per value: on a 128-token prefill it
//! took 8 % of the samples next to the AMX kernel's 21 %. Blocks of 16 rows × 16 tokens read
//! each row's tokens contiguously (one vector of sums, scales and codes), so the same Rust,
//! compiled again with AVX-512F enabled, divides 16 values per instruction; IEEE operations in
//! the same order give the reference's bits on every path (the kernel tests compare them
//! exactly). The block is then written out token by token, 16 rows per cache line.

use crate::activation::dequantize_dot;

/// Rows and tokens per block.
const BLOCK: usize = 16;

/// `out[j·m + r] = dequantize_dot(codes[r·n + t0 + j] − sums[t0 + j], scales[t0 + j], ws)` for
/// every row r < m and the `out.len() / m` tokens from `t0`.
pub fn dequantize_transposed(
    codes: &[i32],
    m: usize,
    n: usize,
    t0: usize,
    sums: &[i32],
    scales: &[f32],
    ws: f32,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F was detected just above; the body is safe Rust.
        return unsafe { dequantize_transposed_avx512(codes, m, n, t0, sums, scales, ws, out) };
    }
    body(codes, m, n, t0, sums, scales, ws, out);
}

/// [`body`] compiled with AVX-512F.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn dequantize_transposed_avx512(
    codes: &[i32],
    m: usize,
    n: usize,
    t0: usize,
    sums: &[i32],
    scales: &[f32],
    ws: f32,
    out: &mut [f32],
) {
    body(codes, m, n, t0, sums, scales, ws, out);
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn body(
    codes: &[i32],
    m: usize,
    n: usize,
    t0: usize,
    sums: &[i32],
    scales: &[f32],
    ws: f32,
    out: &mut [f32],
) {
    let tokens = out.len() / m;
    let mut block = [[0f32; BLOCK]; BLOCK];
    for r0 in (0..m).step_by(BLOCK) {
        let rows = BLOCK.min(m - r0);
        for j0 in (0..tokens).step_by(BLOCK) {
            let toks = BLOCK.min(tokens - j0);
            let (t, sums, scales) = (
                t0 + j0,
                &sums[t0 + j0..t0 + j0 + toks],
                &scales[t0 + j0..t0 + j0 + toks],
            );
            for (i, values) in block.iter_mut().enumerate().take(rows) {
                let row = &codes[(r0 + i) * n + t..(r0 + i) * n + t + toks];
                for (((v, &c), &s), &sc) in values.iter_mut().zip(row).zip(sums).zip(scales) {
                    *v = dequantize_dot(c - s, sc, ws);
                }
            }
            for j in 0..toks {
                let dst = &mut out[(j0 + j) * m + r0..(j0 + j) * m + r0 + rows];
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = block[i][j];
                }
            }
        }
    }
}
