//! F16 × f32 GEMV for the tied token embedding used as lm_head (vocab rows × hidden columns).
//!
//! The matrix stays in the file's F16 bytes (memory-mapped, little-endian); the SIMD paths (one
//! file per ISA: `f16_avx2.rs`, `f16_avx512.rs`, dispatched here once per call) convert with F16C /
//! AVX-512 and accumulate with FMA. Summation order differs from the reference, so
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
        Path::Avx512 => unsafe { super::f16_avx512::dot(w, x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::for_isa` chose Avx2 only with AVX2, F16C and FMA detected.
        Path::Avx2 => unsafe { super::f16_avx2::dot(w, x) },
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
