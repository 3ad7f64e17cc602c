//! F16 × f32 GEMV for the tied token embedding used as lm_head (vocab rows × hidden columns).
//!
//! The matrix stays in the file's F16 bytes (memory-mapped, little-endian); the SIMD paths convert
//! with F16C / AVX-512 and accumulate with FMA. Summation order differs from the reference, so
//! results are compared with a bound relative to Σ|w·x| ([`F16_DOT_REL_TOL`]).

use crate::cpu::worker_pool::WorkerPool;
use crate::cpu::Isa;

/// Largest |y − y_ref| allowed, relative to Σ|w_i·x_i| of the row.
pub const F16_DOT_REL_TOL: f64 = 1e-5;
/// Rows per parallel task.
const ROWS_PER_TASK: usize = 512;

/// Kernel id of the F16 GEMV run for an ISA.
pub fn kernel_id(isa: Isa) -> &'static str {
    match isa {
        Isa::Scalar => "f16_gemv_scalar",
        Isa::Avx2 => "f16_gemv_avx2",
        Isa::Avx512Bw | Isa::Avx512Vnni => "f16_gemv_avx512",
    }
}

/// One f16 (little-endian bytes) × f32 dot product, scalar, accumulated in f64.
pub fn dot_reference(w: &[u8], x: &[f32]) -> f32 {
    w.chunks_exact(2)
        .zip(x)
        .map(|(b, &xi)| f64::from(half::f16::from_le_bytes([b[0], b[1]]).to_f32()) * f64::from(xi))
        .sum::<f64>() as f32
}

/// Σ|w_i·x_i| of one row: the scale against which F16 GEMV errors are judged.
pub fn abs_dot(w: &[u8], x: &[f32]) -> f64 {
    w.chunks_exact(2)
        .zip(x)
        .map(|(b, &xi)| {
            (f64::from(half::f16::from_le_bytes([b[0], b[1]]).to_f32()) * f64::from(xi)).abs()
        })
        .sum()
}

/// The F16 dot product a call uses, resolved once per GEMV (not per row).
#[derive(Clone, Copy)]
enum Path {
    Avx512,
    Avx2,
    Scalar,
}

impl Path {
    fn for_isa(isa: Isa) -> Self {
        if !isa.is_supported() {
            return Path::Scalar;
        }
        match isa {
            Isa::Avx512Bw | Isa::Avx512Vnni => Path::Avx512,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 if has_f16c_fma() => Path::Avx2,
            _ => Path::Scalar,
        }
    }
}

fn dot(path: Path, w: &[u8], x: &[f32]) -> f32 {
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::for_isa` chose Avx512 only for a supported AVX-512 ISA (AVX-512F
        // includes the F16 conversion).
        Path::Avx512 => unsafe { f16_dot_avx512(w, x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::for_isa` chose Avx2 only with AVX2, F16C and FMA detected.
        Path::Avx2 => unsafe { f16_dot_avx2(w, x) },
        _ => dot_reference(w, x),
    }
}

#[cfg(target_arch = "x86_64")]
fn has_f16c_fma() -> bool {
    std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("fma")
}

/// y[r] = Σ_k W[r,k]·x[k] over `rows` rows of `x.len()` f16 columns in `w`, on `pool`.
///
/// An `isa` this CPU lacks falls back to the scalar reference (the SIMD paths need the feature).
pub fn gemv(isa: Isa, pool: &WorkerPool, w: &[u8], x: &[f32], out: &mut [f32]) {
    let path = Path::for_isa(isa);
    let cols = x.len();
    let row_bytes = 2 * cols;
    pool.for_each_chunk(out, ROWS_PER_TASK, |chunk, ys| {
        let r0 = chunk * ROWS_PER_TASK;
        for (i, y) in ys.iter_mut().enumerate() {
            let row = &w[(r0 + i) * row_bytes..(r0 + i + 1) * row_bytes];
            *y = dot(path, row, x);
        }
    });
}

/// Σ f16(w)·x over one row.
///
/// # Safety
/// The CPU must support AVX-512F (the caller resolved the path with `is_x86_feature_detected!`);
/// `w` holds two bytes per element of `x`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn f16_dot_avx512(w: &[u8], x: &[f32]) -> f32 {
    // SAFETY: the caller checked AVX-512F; every load stays inside `w` and `x` (lengths checked by the loop bounds).
    unsafe {
        use std::arch::x86_64::*;
        let n = x.len();
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut k = 0;
        while k + 64 <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                let o = k + 16 * j;
                // SAFETY: o + 16 ≤ n, and w holds 2n bytes.
                let h = _mm256_loadu_si256(w.as_ptr().add(2 * o) as *const __m256i);
                *a = _mm512_fmadd_ps(_mm512_cvtph_ps(h), _mm512_loadu_ps(x.as_ptr().add(o)), *a);
            }
            k += 64;
        }
        while k + 16 <= n {
            // SAFETY: k + 16 ≤ n.
            let h = _mm256_loadu_si256(w.as_ptr().add(2 * k) as *const __m256i);
            acc[0] = _mm512_fmadd_ps(
                _mm512_cvtph_ps(h),
                _mm512_loadu_ps(x.as_ptr().add(k)),
                acc[0],
            );
            k += 16;
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        let mut total = _mm512_reduce_add_ps(sum);
        for i in k..n {
            total += half::f16::from_le_bytes([w[2 * i], w[2 * i + 1]]).to_f32() * x[i];
        }
        total
    }
}

/// Σ f16(w)·x over one row.
///
/// # Safety
/// The CPU must support AVX2, F16C and FMA (the caller resolved the path with
/// `is_x86_feature_detected!`); `w` holds two bytes per element of `x`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c,fma")]
unsafe fn f16_dot_avx2(w: &[u8], x: &[f32]) -> f32 {
    // SAFETY: the caller checked AVX2/F16C/FMA; every load stays inside `w` and `x` (lengths checked by the loop bounds).
    unsafe {
        use std::arch::x86_64::*;
        let n = x.len();
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut k = 0;
        while k + 32 <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                let o = k + 8 * j;
                // SAFETY: o + 8 ≤ n, and w holds 2n bytes.
                let h = _mm_loadu_si128(w.as_ptr().add(2 * o) as *const __m128i);
                *a = _mm256_fmadd_ps(_mm256_cvtph_ps(h), _mm256_loadu_ps(x.as_ptr().add(o)), *a);
            }
            k += 32;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
        let mut total = _mm_cvtss_f32(s);
        for i in k..n {
            total += half::f16::from_le_bytes([w[2 * i], w[2 * i + 1]]).to_f32() * x[i];
        }
        total
    }
}
