//! The lm_head GEMV: the token embedding (vocab rows × hidden columns, F16, Q8_0 or Q6_K as in the
//! file, F16 packed losslessly: `format::packed_f16`, or Q6_K regrouped: `format::q6_k_regrouped`)
//! times the final hidden state in f32.
//!
//! Packed rows run on `packed_f16_avx512.rs` where the CPU has AVX-512 VBMI and the ISA's F16 path
//! is the AVX-512 one; elsewhere each row is unpacked to its F16 bytes and read by the ISA's F16
//! path (exact, slower: the tuner's other ISAs on a packed model). Regrouped Q6_K rows run on
//! `q6_k_regrouped_avx512.rs` where the ISA's Q6_K path is AVX-512; elsewhere each row is put
//! back in the file's order and read by the reference.
//!
//! The rows stay in the file's bytes (memory-mapped); the SIMD paths (one file per format and ISA:
//! `f16_avx2.rs`, `f16_avx512.rs`, `q8_0_avx2.rs`, `q8_0_avx512.rs`, `q8_0_avxvnni.rs`,
//! `q6_k_avx2.rs`, `q6_k_avx512.rs`, dispatched here once per call) dequantise in registers and
//! accumulate with FMA, prefetching the row stream ahead as the I2_S kernels do. Summation order
//! differs from the reference (ggml's dequantisation, then an f64 sum), so results are compared
//! with a bound relative to Σ|w·x| ([`LM_HEAD_REL_TOL`]). The Q6_K kernels and the Q8_0 VNNI
//! ones (rows of whole 256-value blocks) multiply in integers on x rounded to 15 bits per
//! 256-value block; their bound adds the largest effect of that rounding
//! ([`activation_rounding_bound`]).

use crate::cpu::line_aligned::LineAligned;
pub use crate::cpu::prefetch::Prefetch;
use crate::cpu::worker_pool::WorkerPool;
use crate::cpu::Isa;
use crate::format::embedding::EmbeddingFormat;
use crate::format::embedding_rows::EmbeddingRows;
use crate::format::packed_f16::PackedF16;

/// Largest |y − y_ref| allowed, relative to Σ|w_i·x_i| of the row.
pub const LM_HEAD_REL_TOL: f64 = 1e-5;
/// Rows per parallel task.
const ROWS_PER_TASK: usize = 512;

/// The dot product a call uses, resolved once per GEMV (not per row).
#[derive(Clone, Copy, PartialEq, Eq)]
// Off x86-64 only `Reference` is chosen; the match arms stay target-independent.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Path {
    F16Avx512,
    F16Avx2,
    Q8_0Avx512,
    Q8_0Avx512Vnni,
    Q8_0AvxVnni,
    Q8_0Avx2,
    Q6KAvx2,
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
        // AVX-VNNI CPUs run the AVX2 lm_head kernels (their 256-bit FMAs are what they have).
        #[cfg(target_arch = "x86_64")]
        let avx2 = matches!(isa, Isa::Avx2 | Isa::AvxVnni) && has_f16c_fma();
        match format {
            EmbeddingFormat::F16 if avx512 => Path::F16Avx512,
            #[cfg(target_arch = "x86_64")]
            EmbeddingFormat::F16 if avx2 => Path::F16Avx2,
            EmbeddingFormat::Q8_0 if avx512 && isa == Isa::Avx512Vnni => Path::Q8_0Avx512Vnni,
            EmbeddingFormat::Q8_0 if avx512 => Path::Q8_0Avx512,
            EmbeddingFormat::Q6K if avx512 && isa == Isa::Avx512Vnni && has_gfni() => {
                Path::Q6KAvx512VnniGfni
            }
            EmbeddingFormat::Q6K if avx512 && isa == Isa::Avx512Vnni => Path::Q6KAvx512Vnni,
            EmbeddingFormat::Q6K if avx512 => Path::Q6KAvx512,
            #[cfg(target_arch = "x86_64")]
            EmbeddingFormat::Q8_0 if avx2 && isa == Isa::AvxVnni => Path::Q8_0AvxVnni,
            #[cfg(target_arch = "x86_64")]
            EmbeddingFormat::Q8_0 if avx2 => Path::Q8_0Avx2,
            #[cfg(target_arch = "x86_64")]
            EmbeddingFormat::Q6K if avx2 => Path::Q6KAvx2,
            _ => Path::Reference,
        }
    }

    /// The path for rows of `cols` values: the Q8_0 VNNI kernels read x in 256-value blocks,
    /// so other widths take the f32 kernel of the same width.
    fn for_cols(self, cols: usize) -> Self {
        match self {
            Path::Q8_0Avx512Vnni if !cols.is_multiple_of(256) => Path::Q8_0Avx512,
            Path::Q8_0AvxVnni if !cols.is_multiple_of(256) => Path::Q8_0Avx2,
            _ => self,
        }
    }

    /// Whether the path reads x quantised to int8 parts (`PreparedX::Quantized`): the Q6_K
    /// kernels and the Q8_0 VNNI ones.
    #[cfg(target_arch = "x86_64")]
    fn reads_quantized_x(self) -> bool {
        matches!(
            self,
            Path::Q6KAvx512
                | Path::Q6KAvx512Vnni
                | Path::Q6KAvx512VnniGfni
                | Path::Q6KAvx2
                | Path::Q8_0Avx512Vnni
                | Path::Q8_0AvxVnni
        )
    }

    fn id(self, format: EmbeddingFormat) -> &'static str {
        match (self, format) {
            (Path::F16Avx512, _) => "f16_gemv_avx512",
            (Path::F16Avx2, _) => "f16_gemv_avx2",
            (Path::Q8_0Avx512, _) => "q8_0_gemv_avx512",
            (Path::Q8_0Avx512Vnni, _) => "q8_0_gemv_avx512vnni",
            (Path::Q8_0AvxVnni, _) => "q8_0_gemv_avxvnni",
            (Path::Q8_0Avx2, _) => "q8_0_gemv_avx2",
            (Path::Q6KAvx2, _) => "q6_k_gemv_avx2",
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

/// How a call reads packed F16 rows: the VBMI kernel, or each row unpacked to F16 and read by
/// the F16 path of the ISA (the tuner's other ISAs, CPUs without VBMI).
#[derive(Clone, Copy, PartialEq, Eq)]
enum PackedPath {
    Avx512Vbmi,
    Unpacked(Path),
}

impl PackedPath {
    fn for_call(isa: Isa) -> Self {
        let f16 = Path::for_call(isa, EmbeddingFormat::F16);
        if f16 == Path::F16Avx512 && has_vbmi() {
            PackedPath::Avx512Vbmi
        } else {
            PackedPath::Unpacked(f16)
        }
    }

    fn id(self) -> &'static str {
        match self {
            PackedPath::Avx512Vbmi => "f16_gemv_packed_avx512vbmi",
            PackedPath::Unpacked(Path::F16Avx512) => "f16_gemv_packed_via_avx512",
            PackedPath::Unpacked(Path::F16Avx2) => "f16_gemv_packed_via_avx2",
            PackedPath::Unpacked(_) => "f16_gemv_packed_scalar",
        }
    }
}

/// Whether `isa` reads packed F16 rows with its own kernel (AVX-512 VBMI on this CPU) rather
/// than unpacking each row first: where it does, packing the lm_head pays.
pub fn reads_packed_f16_in_registers(isa: Isa) -> bool {
    PackedPath::for_call(isa) == PackedPath::Avx512Vbmi
}

/// Kernel id of the lm_head GEMV run for an ISA over `w`.
pub fn kernel_id_of(isa: Isa, w: &EmbeddingRows<'_>) -> &'static str {
    match w {
        EmbeddingRows::Stored { format, cols, .. } => {
            Path::for_call(isa, *format).for_cols(*cols).id(*format)
        }
        EmbeddingRows::PackedF16 { .. } => PackedPath::for_call(isa).id(),
        EmbeddingRows::RegroupedQ6K { .. } => match Path::for_call(isa, EmbeddingFormat::Q6K) {
            Path::Q6KAvx512VnniGfni => "q6_k_gemv_regrouped_avx512vnni_gfni",
            Path::Q6KAvx512Vnni => "q6_k_gemv_regrouped_avx512vnni",
            Path::Q6KAvx512 => "q6_k_gemv_regrouped_avx512bw",
            _ => "q6_k_gemv_regrouped_scalar",
        },
    }
}

/// `y[r] = Σ_k W[r,k]·x[k]` over the rows of `w`, on `pool` (see [`gemv`]).
///
/// # Panics
/// If `x` is not `w.cols()` long or `out` is longer than `w.rows()`.
pub fn gemv_rows_of(
    isa: Isa,
    pool: &WorkerPool,
    prefetch: Prefetch,
    w: &EmbeddingRows<'_>,
    x: &[f32],
    out: &mut [f32],
) {
    match w {
        EmbeddingRows::Stored { format, bytes, .. } => {
            gemv(isa, pool, prefetch, *format, bytes, x, out)
        }
        EmbeddingRows::PackedF16 { packed, data } => {
            gemv_packed(isa, pool, prefetch, packed, data, x, out)
        }
        EmbeddingRows::RegroupedQ6K { bytes, .. } => {
            gemv_regrouped(isa, pool, prefetch, bytes, x, out)
        }
    }
}

/// [`gemv_rows_of`] over regrouped Q6_K rows.
fn gemv_regrouped(
    isa: Isa,
    pool: &WorkerPool,
    prefetch: Prefetch,
    w: &[u8],
    x: &[f32],
    out: &mut [f32],
) {
    let format = EmbeddingFormat::Q6K;
    assert!(x.len().is_multiple_of(format.block_weights()));
    let row_bytes = format.row_bytes(x.len());
    assert!(w.len() >= out.len() * row_bytes);
    // x quantised in the regrouped order where an AVX-512 kernel reads the rows.
    #[cfg(target_arch = "x86_64")]
    let path = Path::for_call(isa, format);
    #[cfg(target_arch = "x86_64")]
    let quantized = matches!(
        path,
        Path::Q6KAvx512 | Path::Q6KAvx512Vnni | Path::Q6KAvx512VnniGfni
    )
    .then(|| super::quantized_x::QuantizedX::new_regrouped(x));
    // Without x86-64 every row goes through the reference; the ISA and prefetch go unused.
    #[cfg(not(target_arch = "x86_64"))]
    let (quantized, _) = (None::<std::convert::Infallible>, (isa, prefetch));
    pool.for_each_chunk(out, ROWS_PER_TASK, |chunk, ys| {
        let r0 = chunk * ROWS_PER_TASK;
        let mut stored = Vec::new();
        for (i, y) in ys.iter_mut().enumerate() {
            let row = &w[(r0 + i) * row_bytes..(r0 + i + 1) * row_bytes];
            *y = match &quantized {
                #[cfg(target_arch = "x86_64")]
                Some(xr) => q6_k_dot::<super::q6_k_regrouped_avx512::RegroupedOrder>(
                    path, row, xr, prefetch,
                ),
                _ => {
                    stored.clear();
                    stored.extend_from_slice(row);
                    crate::format::q6_k_regrouped::ungroup(&mut stored);
                    dot_reference(format, &stored, x)
                }
            };
        }
    });
}

/// One Q6_K row in `R`'s block order · x on the AVX-512 kernel `path` chose.
#[cfg(target_arch = "x86_64")]
fn q6_k_dot<R: super::q6_k_avx512::BlockOrder>(
    path: Path,
    row: &[u8],
    x: &super::quantized_x::QuantizedX,
    prefetch: Prefetch,
) -> f32 {
    use super::q6_k_avx512 as k;
    match path {
        // SAFETY: `Path::for_call` chose it for a supported AVX-512 VNNI ISA (`Isa::is_supported`
        // checked) with F16C and GFNI detected; the row holds x.len()/256 blocks and x was
        // quantised for `R`'s order (the callers' contract).
        Path::Q6KAvx512VnniGfni => unsafe { k::dot_vnni_gfni::<R>(row, x, prefetch) },
        // SAFETY: as above, without GFNI.
        Path::Q6KAvx512Vnni => unsafe { k::dot_vnni::<R>(row, x, prefetch) },
        // SAFETY: as above, AVX-512BW and F16C.
        Path::Q6KAvx512 => unsafe { k::dot_bw::<R>(row, x, prefetch) },
        _ => unreachable!("x is quantised only for the AVX-512 Q6_K paths"),
    }
}

/// [`gemv_rows_of`] over packed F16 rows.
fn gemv_packed(
    isa: Isa,
    pool: &WorkerPool,
    prefetch: Prefetch,
    p: &PackedF16,
    data: &[u8],
    x: &[f32],
    out: &mut [f32],
) {
    assert_eq!(x.len(), p.cols());
    assert!(out.len() <= p.rows());
    let copy;
    let x = if (x.as_ptr() as usize).is_multiple_of(64) {
        x
    } else {
        copy = LineAligned::copy_of(x);
        copy.as_slice()
    };
    let path = PackedPath::for_call(isa);
    pool.for_each_chunk(out, ROWS_PER_TASK, |chunk, ys| {
        let r0 = chunk * ROWS_PER_TASK;
        match path {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: chosen only with AVX-512F/BW (a supported AVX-512 ISA), VL and VBMI detected;
            // the rows r0.. lie in `data` and `x` has `p.cols()` values (checked inside too).
            PackedPath::Avx512Vbmi => unsafe {
                super::packed_f16_avx512::gemv_rows(p, data, r0, x, ys, prefetch)
            },
            PackedPath::Unpacked(f16_path) => {
                let mut halves = Vec::with_capacity(x.len());
                let mut row = Vec::with_capacity(2 * x.len());
                for (i, y) in ys.iter_mut().enumerate() {
                    halves.clear();
                    p.decode_row(data, r0 + i, &mut halves);
                    row.clear();
                    row.extend(halves.iter().flat_map(|h| h.to_le_bytes()));
                    *y = match f16_path {
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: `Path::for_call` chose it for a supported AVX-512 ISA; `row`
                        // holds one row of 2 bytes per x.
                        Path::F16Avx512 => unsafe {
                            let mut one = [0f32];
                            super::f16_avx512::gemv_rows(&row, x, &mut one, prefetch);
                            one[0]
                        },
                        _ => dot(
                            f16_path,
                            EmbeddingFormat::F16,
                            &row,
                            x,
                            &PreparedX::Natural,
                            prefetch,
                        ),
                    };
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            PackedPath::Avx512Vbmi => unreachable!("VBMI is an x86-64 extension"),
        }
    });
}

fn has_vbmi() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512vbmi")
        && std::arch::is_x86_feature_detected!("avx512vl");
    #[cfg(not(target_arch = "x86_64"))]
    false
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
/// kernels and the Q8_0 VNNI ones, 0 for the kernels that multiply x as it is.
pub fn activation_rounding_bound(isa: Isa, format: EmbeddingFormat, row: &[u8], x: &[f32]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if Path::for_call(isa, format)
        .for_cols(x.len())
        .reads_quantized_x()
    {
        let mut w = Vec::with_capacity(x.len());
        format.dequantize(row, &mut w);
        return w
            .chunks(256)
            .zip(x.chunks(256))
            .map(|(wb, xb)| {
                let step = f64::from(super::quantized_x::block_step(xb));
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
    Quantized(super::quantized_x::QuantizedX),
}

impl PreparedX {
    fn new(path: Path, x: &[f32]) -> Self {
        #[cfg(not(target_arch = "x86_64"))]
        let _ = x; // only the x86-64 Q6_K paths quantise x
        match path {
            #[cfg(target_arch = "x86_64")]
            p if p.reads_quantized_x() => {
                PreparedX::Quantized(super::quantized_x::QuantizedX::new(x))
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
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (prepared, prefetch); // only the x86-64 kernels read them
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: chosen only with AVX2, F16C and FMA detected.
        Path::F16Avx2 => unsafe { super::f16_avx2::dot(row, x, prefetch) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: chosen only for a supported AVX-512BW ISA with F16C; the row holds
        // x.len()/32 blocks.
        Path::Q8_0Avx512 => unsafe { super::q8_0_avx512::dot(row, x, prefetch) },
        #[cfg(target_arch = "x86_64")]
        Path::Q8_0Avx512Vnni => match prepared {
            // SAFETY: chosen only for the supported AVX-512 VNNI ISA with F16C and for a width
            // of whole 256-value blocks (`Path::for_cols`); the row holds x.len()/32 blocks and
            // x was quantised in natural order (`PreparedX::new`).
            PreparedX::Quantized(xp) => unsafe { super::q8_0_avx512::dot_vnni(row, xp, prefetch) },
            PreparedX::Natural => unreachable!("x is quantised for the Q8_0 VNNI path"),
        },
        #[cfg(target_arch = "x86_64")]
        Path::Q8_0AvxVnni => match prepared {
            // SAFETY: chosen only for the supported AVX-VNNI ISA with F16C and FMA and for a width
            // of whole 256-value blocks (`Path::for_cols`); the row holds x.len()/32 blocks and
            // x was quantised in natural order (`PreparedX::new`).
            PreparedX::Quantized(xp) => unsafe { super::q8_0_avxvnni::dot(row, xp, prefetch) },
            PreparedX::Natural => unreachable!("x is quantised for the Q8_0 VNNI path"),
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: chosen only with AVX2, F16C and FMA detected; the row holds x.len()/32 blocks.
        Path::Q8_0Avx2 => unsafe { super::q8_0_avx2::dot(row, x, prefetch) },
        #[cfg(target_arch = "x86_64")]
        Path::Q6KAvx2 => match prepared {
            // SAFETY: chosen only with AVX2, F16C and FMA detected; the row holds x.len()/256
            // blocks in the file's order, and x was quantised for it (`PreparedX::new`).
            PreparedX::Quantized(xp) => unsafe { super::q6_k_avx2::dot(row, xp, prefetch) },
            PreparedX::Natural => unreachable!("x is quantised for the Q6_K path"),
        },
        #[cfg(target_arch = "x86_64")]
        Path::Q6KAvx512 | Path::Q6KAvx512Vnni | Path::Q6KAvx512VnniGfni => match prepared {
            PreparedX::Quantized(xp) => {
                q6_k_dot::<super::q6_k_avx512::StoredOrder>(path, row, xp, prefetch)
            }
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

/// `y[r] = Σ_k W[r,k]·x[k]` over the rows of `w` (`format`, `x.len()` columns each), on `pool`.
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
    let cols = x.len();
    let path = Path::for_call(isa, format).for_cols(cols);
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
                // One block past 256: the Q8_0 VNNI kernel's width falls back to the f32 one.
                256 + format.block_weights(),
                512,
                2560,
                256 + 16 * format.block_weights().min(16),
                263,
            ] {
                if !cols.is_multiple_of(format.block_weights()) {
                    continue;
                }
                let rows = 1030;
                let (w, x) = random_rows(&mut r, format, rows, cols);
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
                            let id = kernel_id(isa, format);
                            assert_within_bound(isa, format, row, &x, y, &format!("{id} {i}"));
                        }
                    }
                }
            }
        }
    }

    /// `rows × cols` random weights in `format`'s bytes, and an x for them.
    fn random_rows(
        r: &mut impl Rng,
        format: EmbeddingFormat,
        rows: usize,
        cols: usize,
    ) -> (Vec<u8>, Vec<f32>) {
        let values: Vec<f32> = (0..rows * cols)
            .map(|_| r.random_range(-2.0..2.0))
            .collect();
        let mut w = Vec::new();
        format.quantize(&values, &mut w);
        (w, (0..cols).map(|_| r.random_range(-3.0..3.0)).collect())
    }

    /// `y` (from `isa`'s kernel) lies within the bound of the reference sum of `row` · `x`.
    fn assert_within_bound(
        isa: Isa,
        format: EmbeddingFormat,
        row: &[u8],
        x: &[f32],
        y: f32,
        what: &str,
    ) {
        let want = f64::from(dot_reference(format, row, x));
        let bound = LM_HEAD_REL_TOL * abs_dot(format, row, x)
            + activation_rounding_bound(isa, format, row, x)
            + 1e-30;
        assert!(
            (f64::from(y) - want).abs() <= bound,
            "{format} {what}: {y} vs {want}"
        );
    }

    /// F16 values of `rows × cols` with magnitudes spread over 20 binades, so that a 6-bit
    /// table leaves many exceptions and a 7-bit one some; every 7th row is in the top binades
    /// only (no exceptions at 7 bits).
    fn spread_f16(r: &mut impl Rng, rows: usize, cols: usize) -> Vec<u8> {
        (0..rows * cols)
            .flat_map(|i| {
                let top_only = (i / cols).is_multiple_of(7);
                let e = if top_only {
                    r.random_range(0..3)
                } else {
                    r.random_range(0..20)
                };
                let v = r.random_range(1.0..2.0f32)
                    * 2f32.powi(-e)
                    * if r.random() { 1.0 } else { -1.0 };
                half::f16::from_f32(v).to_le_bytes()
            })
            .collect()
    }

    /// Packed F16 rows (both code widths, with exceptions in most tiles, a partial last task
    /// and tile) through every ISA's path: each row within the F16 bound of the reference on
    /// the unpacked values; and the VBMI kernel gives the F16 AVX-512 kernel's very bits for
    /// every row without exceptions.
    #[test]
    fn packed_rows_match_the_reference_and_the_f16_kernel() {
        use crate::format::packed_f16::{CodeTable, PackedF16};
        let mut r = rng(11);
        let (rows, cols) = (1030, 320);
        let f16 = spread_f16(&mut r, rows, cols);
        let x: Vec<f32> = (0..cols).map(|_| r.random_range(-3.0..3.0)).collect();
        let pool = WorkerPool::new(2, false).unwrap();
        let prefetch = Prefetch {
            bytes: 4096,
            hint: crate::cpu::PrefetchHint::L2,
        };
        // The F16 kernel of this CPU's best ISA on the unpacked rows.
        let f16_rows = |x: &[f32]| {
            let mut y = vec![0f32; rows];
            gemv(
                Isa::best(),
                &pool,
                prefetch,
                EmbeddingFormat::F16,
                &f16,
                x,
                &mut y,
            );
            y
        };
        let plain = f16_rows(&x);
        let plain_path = Path::for_call(Isa::best(), EmbeddingFormat::F16);
        for k in crate::format::packed_f16::CODE_BITS {
            // The high bytes of the largest magnitudes first: the top-only rows have no
            // exceptions at either width; at 6 bits most other rows do, at 7 a few.
            let table = CodeTable::new(k, (0..0x40u8).rev().flat_map(|h| [h, h | 0x80]));
            let mut data = vec![0u8; rows * table.row_bytes(cols)];
            let p = PackedF16::pack(table, &f16, rows, cols, &mut data).unwrap();
            let least = if k == 6 { rows } else { 10 };
            assert!(
                p.exceptions().len() > least,
                "K={k}: {} exceptions",
                p.exceptions().len()
            );
            let mut identical = 0;
            let w = EmbeddingRows::PackedF16 {
                packed: &p,
                data: &data,
            };
            for isa in Isa::supported() {
                let mut out = vec![0f32; rows];
                gemv_rows_of(isa, &pool, prefetch, &w, &x, &mut out);
                let id = kernel_id_of(isa, &w);
                for (i, &y) in out.iter().enumerate() {
                    let row = &f16[i * 2 * cols..(i + 1) * 2 * cols];
                    assert_eq!(&*w.row_bytes_of(i), row, "row {i} unpacks exactly");
                    let want = f64::from(dot_reference(EmbeddingFormat::F16, row, &x));
                    let bound = LM_HEAD_REL_TOL * abs_dot(EmbeddingFormat::F16, row, &x) + 1e-30;
                    assert!(
                        (f64::from(y) - want).abs() <= bound,
                        "{id} K={k} row {i}: {y} vs {want}"
                    );
                    if id == "f16_gemv_packed_avx512vbmi"
                        && plain_path == Path::F16Avx512
                        && p.exceptions().of_row(i).next().is_none()
                    {
                        assert_eq!(y.to_bits(), plain[i].to_bits(), "K={k} row {i}");
                        identical += 1;
                    }
                }
            }
            if has_vbmi() && plain_path == Path::F16Avx512 {
                assert!(
                    identical >= rows / 7,
                    "K={k}: {identical} rows compared bit for bit"
                );
                // An infinite x[0] (column 0 is what exception slots pad with): rows without
                // exceptions still get the F16 kernel's values, with or without a NaN.
                let mut inf_x = x.clone();
                inf_x[0] = f32::INFINITY;
                let (a, mut b) = (f16_rows(&inf_x), vec![0f32; rows]);
                gemv_rows_of(Isa::best(), &pool, prefetch, &w, &inf_x, &mut b);
                for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                    if p.exceptions().of_row(i).next().is_none() {
                        assert!(
                            a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan(),
                            "row {i}"
                        );
                    }
                }
            }
        }
    }

    /// Regrouped Q6_K rows (a partial last task, rows of one and of ten blocks) through every
    /// ISA's path: each row unregroups to the file's bytes and lands within the Q6_K bound of
    /// the reference on them, as the stored rows do.
    #[test]
    fn regrouped_q6_k_rows_match_the_reference() {
        let mut r = rng(12);
        let format = EmbeddingFormat::Q6K;
        let pool = WorkerPool::new(2, false).unwrap();
        let prefetch = Prefetch {
            bytes: 4096,
            hint: crate::cpu::PrefetchHint::L2,
        };
        for cols in [256, 2560] {
            let rows = 1030;
            let (stored, x) = random_rows(&mut r, format, rows, cols);
            let mut regrouped = stored.clone();
            crate::format::q6_k_regrouped::regroup(&mut regrouped);
            let w = EmbeddingRows::RegroupedQ6K {
                cols,
                bytes: &regrouped,
            };
            let row_bytes = format.row_bytes(cols);
            for isa in Isa::supported() {
                let mut out = vec![0f32; rows];
                gemv_rows_of(isa, &pool, prefetch, &w, &x, &mut out);
                let id = kernel_id_of(isa, &w);
                assert!(id.starts_with("q6_k_gemv_regrouped_"), "{id}");
                for (i, &y) in out.iter().enumerate() {
                    let row = &stored[i * row_bytes..(i + 1) * row_bytes];
                    assert_eq!(&*w.row_bytes_of(i), row, "row {i} unregroups exactly");
                    assert_within_bound(isa, format, row, &x, y, &format!("{id} {cols} {i}"));
                }
            }
        }
    }
}
