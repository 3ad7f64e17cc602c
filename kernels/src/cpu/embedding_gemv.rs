//! The lm_head GEMV: the token embedding (vocab rows × hidden columns, F16, Q8_0 or Q6_K as in the
//! file) times the final hidden state in f32.
//!
//! The rows stay in the file's bytes (memory-mapped); the SIMD paths (one file per format and ISA:
//! `f16_avx2.rs`, `f16_avx512.rs`, `q8_0_avx512.rs`, `q6_k_avx512.rs`, dispatched here once per
//! call) dequantise in registers and accumulate with FMA, prefetching the row stream ahead as the
//! I2_S kernels do. Summation order differs from the reference (ggml's dequantisation, then an f64
//! sum), so results are compared with a bound relative to Σ|w·x| ([`LM_HEAD_REL_TOL`]). The Q6_K
//! kernels multiply in integers on x rounded to 15 bits per 256-value block; their bound adds the
//! largest effect of that rounding ([`activation_rounding_bound`]).

use crate::cpu::line_aligned::LineAligned;
pub use crate::cpu::prefetch::Prefetch;
use crate::cpu::worker_pool::WorkerPool;
use crate::cpu::Isa;
use crate::format::embedding::EmbeddingFormat;

/// Largest |y − y_ref| allowed, relative to Σ|w_i·x_i| of the row.
pub const LM_HEAD_REL_TOL: f64 = 1e-5;
/// Rows per parallel task.
const ROWS_PER_TASK: usize = 512;

/// The dot product a call uses, resolved once per GEMV (not per row).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    F16Avx512,
    F16Avx2,
    Q8_0Avx512,
    Q6KAvx512VnniGfni,
    Q6KAvx512Vnni,
    Q6KAvx512,
    Reference,
}

impl Path {
    fn for_call(isa: Isa, format: EmbeddingFormat) -> Self {
        if !isa.is_supported() {
            return Path::Reference;
        }
        // The Q8_0/Q6_K kernels convert their scales with F16C (every AVX-512 CPU has it).
        let avx512 = matches!(isa, Isa::Avx512Bw | Isa::Avx512Vnni) && has_f16c();
        match format {
            EmbeddingFormat::F16 if avx512 => Path::F16Avx512,
            #[cfg(target_arch = "x86_64")]
            EmbeddingFormat::F16 if isa == Isa::Avx2 && has_f16c_fma() => Path::F16Avx2,
            EmbeddingFormat::Q8_0 if avx512 => Path::Q8_0Avx512,
            EmbeddingFormat::Q6K if avx512 && isa == Isa::Avx512Vnni && has_gfni() => {
                Path::Q6KAvx512VnniGfni
            }
            EmbeddingFormat::Q6K if avx512 && isa == Isa::Avx512Vnni => Path::Q6KAvx512Vnni,
            EmbeddingFormat::Q6K if avx512 => Path::Q6KAvx512,
            _ => Path::Reference,
        }
    }

    fn id(self, format: EmbeddingFormat) -> &'static str {
        match (self, format) {
            (Path::F16Avx512, _) => "f16_gemv_avx512",
            (Path::F16Avx2, _) => "f16_gemv_avx2",
            (Path::Q8_0Avx512, _) => "q8_0_gemv_avx512",
            (Path::Q6KAvx512VnniGfni, _) => "q6_k_gemv_avx512vnni_gfni",
            (Path::Q6KAvx512Vnni, _) => "q6_k_gemv_avx512vnni",
            (Path::Q6KAvx512, _) => "q6_k_gemv_avx512bw",
            (Path::Reference, EmbeddingFormat::F16) => "f16_gemv_scalar",
            (Path::Reference, EmbeddingFormat::Q8_0) => "q8_0_gemv_scalar",
            (Path::Reference, EmbeddingFormat::Q6K) => "q6_k_gemv_scalar",
        }
    }
}

/// Kernel id of the lm_head GEMV run for an ISA and embedding format.
pub fn kernel_id(isa: Isa, format: EmbeddingFormat) -> &'static str {
    Path::for_call(isa, format).id(format)
}

/// One row (`format` bytes) · x, through ggml's dequantisation, accumulated in f64.
pub fn dot_reference(format: EmbeddingFormat, row: &[u8], x: &[f32]) -> f32 {
    let mut w = Vec::with_capacity(x.len());
    format.dequantize(row, &mut w);
    w.iter()
        .zip(x)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum::<f64>() as f32
}

/// The largest |Σ w_i·(x_i − x̂_i)| the kernel `kernel_id(isa, format)` can add by rounding x
/// before multiplying: Σ over 256-value blocks of (block scale / 2)·Σ|w_i| for the Q6_K
/// kernels, 0 for the kernels that multiply x as it is.
pub fn activation_rounding_bound(isa: Isa, format: EmbeddingFormat, row: &[u8], x: &[f32]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if matches!(
        Path::for_call(isa, format),
        Path::Q6KAvx512 | Path::Q6KAvx512Vnni | Path::Q6KAvx512VnniGfni
    ) {
        let mut w = Vec::with_capacity(x.len());
        format.dequantize(row, &mut w);
        return w
            .chunks(256)
            .zip(x.chunks(256))
            .map(|(wb, xb)| {
                let step = f64::from(super::q6_k_avx512::block_step(xb));
                step / 2.0 * wb.iter().map(|&v| f64::from(v).abs()).sum::<f64>()
            })
            .sum();
    }
    // Without x86-64 there is no Q6_K kernel, and the arguments go unused.
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (isa, format, row, x);
    0.0
}

/// Σ|w_i·x_i| of one row: the scale against which lm_head errors are judged.
pub fn abs_dot(format: EmbeddingFormat, row: &[u8], x: &[f32]) -> f64 {
    let mut w = Vec::with_capacity(x.len());
    format.dequantize(row, &mut w);
    w.iter()
        .zip(x)
        .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
        .sum()
}

/// x in the order a path reads it, prepared once per GEMV.
enum PreparedX {
    Natural,
    #[cfg(target_arch = "x86_64")]
    Q6K(super::q6_k_avx512::QuantizedX),
}

impl PreparedX {
    fn new(path: Path, x: &[f32]) -> Self {
        match path {
            #[cfg(target_arch = "x86_64")]
            Path::Q6KAvx512 | Path::Q6KAvx512Vnni | Path::Q6KAvx512VnniGfni => {
                PreparedX::Q6K(super::q6_k_avx512::QuantizedX::new(x))
            }
            _ => PreparedX::Natural,
        }
    }
}

fn dot(
    path: Path,
    format: EmbeddingFormat,
    row: &[u8],
    x: &[f32],
    prepared: &PreparedX,
    prefetch: Prefetch,
) -> f32 {
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: chosen only with AVX2, F16C and FMA detected.
        Path::F16Avx2 => unsafe { super::f16_avx2::dot(row, x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: chosen only for a supported AVX-512BW ISA with F16C; the row holds
        // x.len()/32 blocks.
        Path::Q8_0Avx512 => unsafe { super::q8_0_avx512::dot(row, x, prefetch) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above (AVX-512BW, F16C; VNNI for `Avx512Vnni`, which `Isa::is_supported`
        // checked), x.len()/256 Q6_K blocks; x was quantised for it.
        Path::Q6KAvx512Vnni => match prepared {
            PreparedX::Q6K(xp) => unsafe { super::q6_k_avx512::dot_vnni(row, xp, prefetch) },
            PreparedX::Natural => unreachable!("x is quantised for the Q6_K path"),
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as for `Q6KAvx512Vnni`, with GFNI detected by `Path::for_call`.
        Path::Q6KAvx512VnniGfni => match prepared {
            PreparedX::Q6K(xp) => unsafe { super::q6_k_avx512::dot_vnni_gfni(row, xp, prefetch) },
            PreparedX::Natural => unreachable!("x is quantised for the Q6_K path"),
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above (AVX-512BW, F16C), x.len()/256 Q6_K blocks; x was quantised for it.
        Path::Q6KAvx512 => match prepared {
            PreparedX::Q6K(xp) => unsafe { super::q6_k_avx512::dot_bw(row, xp, prefetch) },
            PreparedX::Natural => unreachable!("x is quantised for the Q6_K path"),
        },
        // F16Avx512 computes whole tasks (`f16_avx512::gemv_rows`, in `gemv`) and never comes
        // here one row at a time.
        _ => dot_reference(format, row, x),
    }
}

fn has_gfni() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("gfni");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

fn has_f16c() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("f16c");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(target_arch = "x86_64")]
fn has_f16c_fma() -> bool {
    std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("fma")
}

/// y[r] = Σ_k W[r,k]·x[k] over the rows of `w` (`format`, `x.len()` columns each), on `pool`.
///
/// An `isa` this CPU lacks, or a format without a kernel for it, runs the reference.
///
/// # Panics
/// If `x.len()` is not a whole number of blocks or `w` holds fewer than `out.len()` rows.
pub fn gemv(
    isa: Isa,
    pool: &WorkerPool,
    prefetch: Prefetch,
    format: EmbeddingFormat,
    w: &[u8],
    x: &[f32],
    out: &mut [f32],
) {
    let path = Path::for_call(isa, format);
    let cols = x.len();
    assert!(cols.is_multiple_of(format.block_weights()));
    let row_bytes = format.row_bytes(cols);
    assert!(w.len() >= out.len() * row_bytes);
    // Every row reads all of x from L1: where x does not start on a cache line, every 64-byte
    // load of it straddles two (a heap vector is 16-byte aligned).
    let copy;
    let x = if (x.as_ptr() as usize).is_multiple_of(64) {
        x
    } else {
        copy = LineAligned::copy_of(x);
        copy.as_slice()
    };
    let prepared = PreparedX::new(path, x);
    pool.for_each_chunk(out, ROWS_PER_TASK, |chunk, ys| {
        let r0 = chunk * ROWS_PER_TASK;
        #[cfg(target_arch = "x86_64")]
        if path == Path::F16Avx512 {
            let rows = &w[r0 * row_bytes..(r0 + ys.len()) * row_bytes];
            // SAFETY: `Path::for_call` chose it only for a supported AVX-512 ISA (AVX-512F
            // includes the F16 conversion); `rows` holds ys.len() rows of 2 bytes per x.
            unsafe { super::f16_avx512::gemv_rows(rows, x, ys, prefetch) };
            return;
        }
        for (i, y) in ys.iter_mut().enumerate() {
            let row = &w[(r0 + i) * row_bytes..(r0 + i + 1) * row_bytes];
            *y = dot(path, format, row, x, &prepared, prefetch);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::rng;

    use rand::Rng;

    /// Every path agrees with the reference within the bound, for every format, with and without
    /// prefetch, on ragged row counts (a partial last task and tile) and widths with a SIMD tail
    /// and, for F16, a scalar one (263).
    #[test]
    fn every_path_matches_the_dequantised_reference() {
        let mut r = rng(3);
        for format in EmbeddingFormat::ALL {
            for cols in [
                256,
                512,
                2560,
                256 + 16 * format.block_weights().min(16),
                263,
            ] {
                if !cols.is_multiple_of(format.block_weights()) {
                    continue;
                }
                let rows = 1030;
                let values: Vec<f32> = (0..rows * cols)
                    .map(|_| r.random_range(-2.0..2.0))
                    .collect();
                let mut w = Vec::new();
                format.quantize(&values, &mut w);
                let x: Vec<f32> = (0..cols).map(|_| r.random_range(-3.0..3.0)).collect();
                let row_bytes = format.row_bytes(cols);
                for isa in Isa::supported() {
                    use crate::cpu::PrefetchHint;
                    for (bytes, hint) in [
                        (0, PrefetchHint::L2),
                        (4096, PrefetchHint::L2),
                        (4096, PrefetchHint::L2L1),
                    ] {
                        let pool = WorkerPool::new(2, false).unwrap();
                        let prefetch = Prefetch { bytes, hint };
                        let mut out = vec![0f32; rows];
                        gemv(isa, &pool, prefetch, format, &w, &x, &mut out);
                        for (i, &y) in out.iter().enumerate() {
                            let row = &w[i * row_bytes..(i + 1) * row_bytes];
                            let want = f64::from(dot_reference(format, row, &x));
                            let bound = LM_HEAD_REL_TOL * abs_dot(format, row, &x)
                                + activation_rounding_bound(isa, format, row, &x)
                                + 1e-30;
                            assert!(
                                (f64::from(y) - want).abs() <= bound,
                                "{} {format} cols {cols} row {i}: {y} vs {want}",
                                kernel_id(isa, format)
                            );
                        }
                    }
                }
            }
        }
    }
}
