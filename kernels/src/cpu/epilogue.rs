//! The batched GEMM epilogue: the kernels' exact `[row][token]` sums into the `[token][row]`
//! result, exact i32 or f32 through the one shared [`dequantize_dot`].
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

/// A batched GEMM's exact sums and what turns them into outputs.
pub struct BatchSums<'a> {
    /// Σ code·q, `[row][token]`.
    pub codes: &'a [i32],
    /// Output rows (M).
    pub rows: usize,
    /// Tokens (N).
    pub tokens: usize,
    /// Per-token Σq.
    pub sums: &'a [i32],
    /// Per-token activation scales.
    pub scales: &'a [f32],
    /// The weights' scale.
    pub weight_scale: f32,
}

/// What a finished sum becomes.
pub trait Finish {
    /// The output type.
    type Out: Copy + Default;
    /// Σ code·q (`code`), the token's Σq, its activation scale and the weights' scale → output.
    fn finish(code: i32, sum: i32, scale: f32, weight_scale: f32) -> Self::Out;
}

/// Exact Σ t·q = Σ code·q − Σq (`I2sGemm::dot_i32_into`).
pub struct Exact;
impl Finish for Exact {
    type Out = i32;
    #[inline(always)]
    fn finish(code: i32, sum: i32, _: f32, _: f32) -> i32 {
        code - sum
    }
}

/// The f32 result through [`dequantize_dot`] (`I2sGemm::gemm_into`).
pub struct Dequantized;
impl Finish for Dequantized {
    type Out = f32;
    #[inline(always)]
    fn finish(code: i32, sum: i32, scale: f32, weight_scale: f32) -> f32 {
        dequantize_dot(code - sum, scale, weight_scale)
    }
}

/// `out[j·M + r] = F::finish(codes[r·N + t0 + j], sums[t0 + j], scales[t0 + j], ws)` for every
/// row r and the `out.len() / M` tokens from `t0`.
pub fn transposed<F: Finish>(src: &BatchSums<'_>, t0: usize, out: &mut [F::Out]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F was detected just above; the body is safe Rust.
        return unsafe { transposed_avx512::<F>(src, t0, out) };
    }
    body::<F>(src, t0, out);
}

/// [`body`] compiled with AVX-512F.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transposed_avx512<F: Finish>(src: &BatchSums<'_>, t0: usize, out: &mut [F::Out]) {
    body::<F>(src, t0, out);
}

#[inline(always)]
fn body<F: Finish>(src: &BatchSums<'_>, t0: usize, out: &mut [F::Out]) {
    let (m, n, ws) = (src.rows, src.tokens, src.weight_scale);
    let tokens = out.len() / m;
    let mut block = [[F::Out::default(); BLOCK]; BLOCK];
    for r0 in (0..m).step_by(BLOCK) {
        let rows = BLOCK.min(m - r0);
        for j0 in (0..tokens).step_by(BLOCK) {
            let toks = BLOCK.min(tokens - j0);
            let t = t0 + j0;
            let (sums, scales) = (&src.sums[t..t + toks], &src.scales[t..t + toks]);
            for (i, values) in block.iter_mut().enumerate().take(rows) {
                let row = &src.codes[(r0 + i) * n + t..(r0 + i) * n + t + toks];
                for (((v, &c), &s), &sc) in values.iter_mut().zip(row).zip(sums).zip(scales) {
                    *v = F::finish(c, s, sc, ws);
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
