//! Per-token int8 activation quantisation (absmax), exactly as bitnet.cpp's I2_S path expects.
//!
//! For each token row x: s = 127 / max(|x|, 1e-5); q = round_half_even(x·s) clamped to
//! [−128, 127]; Σq is kept so kernels can use unsigned codes: Σ t·q = Σ code·q − Σq.

use crate::cpu::worker_pool::WorkerPool;
use crate::error::KernelError;
use crate::format::i2s::padded_cols;

/// 1.5·2^23: adding and subtracting it rounds any |v| ≤ 2^22 to an integer, ties to even
/// (IEEE default rounding), in plain SSE2 arithmetic that vectorises — `round_ties_even` is a libm
/// call per element on baseline x86-64. |x·s| ≤ 127.5 here, far inside the exact range.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Round half to even for |v| ≤ 2^22 (NaN and infinities pass through unchanged).
#[inline(always)]
fn round_half_even(v: f32) -> f32 {
    (v + ROUND_MAGIC) - ROUND_MAGIC
}

/// Floor of max|x| so that an all-zero row gets a finite scale.
pub const ABSMAX_FLOOR: f32 = 1e-5;

/// Quantised activations for `tokens` rows, each zero-padded to whole I2_S blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedActivations {
    tokens: usize,
    cols: usize,
    q: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<i32>,
}

impl QuantizedActivations {
    /// Quantises `tokens × cols` row-major f32 activations.
    pub fn quantize(x: &[f32], tokens: usize, cols: usize) -> Result<Self, KernelError> {
        let mut out = Self {
            tokens: 0,
            cols,
            q: Vec::new(),
            scales: Vec::new(),
            sums: Vec::new(),
        };
        out.requantize(x, tokens, cols)?;
        Ok(out)
    }

    /// Re-quantises into the existing buffers (no allocation once they are large enough).
    pub fn requantize(&mut self, x: &[f32], tokens: usize, cols: usize) -> Result<(), KernelError> {
        self.requantize_on(None, x, tokens, cols)
    }

    /// [`Self::requantize`] with the token rows split over `pool` (a prompt's 128 rows are
    /// independent). The same values as on one thread.
    pub fn requantize_on(
        &mut self,
        pool: Option<&WorkerPool>,
        x: &[f32],
        tokens: usize,
        cols: usize,
    ) -> Result<(), KernelError> {
        if tokens == 0 || cols == 0 || x.len() != tokens * cols {
            return Err(KernelError::Shape(format!(
                "{} activations for {tokens} tokens x {cols} columns",
                x.len()
            )));
        }
        let pc = padded_cols(cols);
        self.tokens = tokens;
        self.cols = cols;
        self.q.clear();
        self.q.resize(tokens * pc, 0);
        self.scales.clear();
        self.scales.resize(tokens, 0.0);
        self.sums.clear();
        self.sums.resize(tokens, 0);
        let rows = x
            .chunks_exact(cols)
            .zip(self.q.chunks_exact_mut(pc))
            .zip(self.scales.iter_mut().zip(self.sums.iter_mut()));
        match pool {
            Some(pool) if tokens > 1 => {
                pool.for_each_task(rows.collect(), |((row, dst), (s, sum))| {
                    (*s, *sum) = quantize_row(row, &mut dst[..cols]);
                })
            }
            _ => rows.for_each(|((row, dst), (s, sum))| {
                (*s, *sum) = quantize_row(row, &mut dst[..cols]);
            }),
        }
        Ok(())
    }

    /// Token rows (N).
    pub fn tokens(&self) -> usize {
        self.tokens
    }
    /// Logical columns (K).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Columns per token row including zero padding.
    pub fn padded_cols(&self) -> usize {
        padded_cols(self.cols)
    }
    /// All quantised values, `tokens · padded_cols`, padding zero.
    pub fn q(&self) -> &[i8] {
        &self.q
    }
    /// Quantised values of one token (padded).
    pub fn token(&self, t: usize) -> &[i8] {
        let pc = self.padded_cols();
        &self.q[t * pc..(t + 1) * pc]
    }
    /// Per-token quantisation scale s (q ≈ x·s).
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }
    /// Per-token Σq.
    pub fn sums(&self) -> &[i32] {
        &self.sums
    }
}

/// One token row into `dst` (its first `row.len()` values): the scale s and Σq.
fn quantize_row(row: &[f32], dst: &mut [i8]) -> (f32, i32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F was detected just above; the body is safe Rust.
        return unsafe { quantize_row_avx512(row, dst) };
    }
    quantize_row_body(row, dst)
}

/// [`quantize_row_body`] in AVX-512F intrinsics, 16 values per step: the same values (tested bit
/// for bit). The compiler's build of the body spent ~2.5 ns per value on the saturating
/// float-to-i8 casts (7 µs for a 2560-wide row, ~1.2 ms of every 2b4t decode token on the
/// Sapphire Rapids VM); here the rounding is `vcvtps2dq`'s round-to-nearest-even, which equals
/// [`round_half_even`] for the |v·s| ≤ 127 a row's own absmax allows, and a NaN product becomes
/// 0 as the body's cast makes it.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn quantize_row_avx512(row: &[f32], dst: &mut [i8]) -> (f32, i32) {
    use std::arch::x86_64::*;
    let n = row.len().min(dst.len());
    let tail = |i: usize| -> __mmask16 {
        let left = n - i;
        if left >= 16 {
            0xFFFF
        } else {
            (1u16 << left) - 1
        }
    };
    // SAFETY: every load and store is masked to the lanes below `n`, inside `row` and `dst`.
    unsafe {
        let magnitude = _mm512_set1_epi32(0x7FFF_FFFF);
        let mut max = _mm512_setzero_ps();
        for i in (0..n).step_by(16) {
            let v = _mm512_maskz_loadu_ps(tail(i), row.as_ptr().add(i));
            let abs = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), magnitude));
            // With a NaN in the first operand `vmaxps` returns the second: NaNs are skipped, as
            // `f32::max` skips them.
            max = _mm512_max_ps(abs, max);
        }
        let s = 127.0 / _mm512_reduce_max_ps(max).max(ABSMAX_FLOOR);
        let scale = _mm512_set1_ps(s);
        let (lo, hi) = (_mm512_set1_epi32(-128), _mm512_set1_epi32(127));
        let mut sum = _mm512_setzero_si512();
        for i in (0..n).step_by(16) {
            let m = tail(i);
            let p = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row.as_ptr().add(i)), scale);
            let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(p, p);
            let q = _mm512_maskz_mov_epi32(ordered, _mm512_cvtps_epi32(p));
            let q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
            sum = _mm512_add_epi32(sum, q);
            _mm512_mask_cvtepi32_storeu_epi8(dst.as_mut_ptr().add(i).cast(), m, q);
        }
        (s, _mm512_reduce_add_epi32(sum))
    }
}

#[inline(always)]
fn quantize_row_body(row: &[f32], dst: &mut [i8]) -> (f32, i32) {
    let absmax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let s = 127.0 / absmax.max(ABSMAX_FLOOR);
    for (d, &v) in dst.iter_mut().zip(row) {
        *d = round_half_even(v * s).clamp(-128.0, 127.0) as i8;
    }
    (s, dst.iter().map(|&q| i32::from(q)).sum())
}

/// The f32 output of one dot product: (Σ code·q − Σq) / s · w_scale.
///
/// Every kernel uses this one epilogue, so f32 outputs match the reference bit for bit.
#[inline]
pub fn dequantize_dot(dot: i32, act_scale: f32, weight_scale: f32) -> f32 {
    dot as f32 / act_scale * weight_scale
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512 build of a row, the portable one and the pooled rows give the same bits.
    #[test]
    fn every_build_and_split_quantises_identically() {
        let mut r = crate::synthetic::rng(5);
        use rand::Rng;
        for cols in [1, 15, 16, 17, 2560, 6912] {
            let mut x: Vec<f32> = (0..3 * cols).map(|_| r.random_range(-40.0..40.0)).collect();
            // A NaN, an infinity (its row's scale becomes 0) and values at the rounding ties.
            x[cols / 2] = f32::NAN;
            x[cols + cols / 3] = f32::INFINITY;
            if cols > 4 {
                x[2 * cols] = 40.0;
                for (k, v) in x[2 * cols + 1..2 * cols + 4].iter_mut().enumerate() {
                    *v = (k as f32 + 0.5) * 40.0 / 127.0;
                }
            }
            let one = QuantizedActivations::quantize(&x, 3, cols).unwrap();
            let mut pooled = one.clone();
            let pool = WorkerPool::new(2, false).unwrap();
            pooled.requantize_on(Some(&pool), &x, 3, cols).unwrap();
            assert_eq!(one, pooled);
            for t in 0..3 {
                let row = &x[t * cols..(t + 1) * cols];
                let mut dst = vec![0i8; cols];
                let (s, sum) = quantize_row_body(row, &mut dst);
                assert_eq!(
                    (s.to_bits(), sum),
                    (one.scales()[t].to_bits(), one.sums()[t])
                );
                assert_eq!(&dst[..], &one.token(t)[..cols]);
            }
        }
    }

    #[test]
    fn magic_rounding_equals_round_ties_even() {
        // Every multiple of 1/64 in ±200 (all ties included) plus values near the tie points.
        for i in -12_800..=12_800 {
            let v = i as f32 / 64.0;
            assert_eq!(round_half_even(v), v.round_ties_even(), "{v}");
            for d in [v.next_up(), v.next_down()] {
                assert_eq!(round_half_even(d), d.round_ties_even(), "{d}");
            }
        }
        assert!(round_half_even(f32::NAN).is_nan());
    }
}
