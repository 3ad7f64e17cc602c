//! The I2_S product on the device for one matrix and a batch of quantised activations: the kernel
//! cross-validation against the scalar reference (bit-identical i32 sums, the same f32 epilogue)
//! and the kernel benchmark.

use cudarc::driver::CudaSlice;

use crate::activation::QuantizedActivations;
use crate::cpu::i2s_reference;
use crate::crossval::{compare, CheckResult, Shape, GUARD_SHAPES};
use crate::format::i2s::I2sMatrixRef;
use crate::synthetic::{random_activations, random_matrix};

use super::error::CudaError;
use super::model::DeviceMatrix;
use super::runtime::{CudaRuntime, I2sLaunch, I2sMode};

/// Kernel id of the CUDA I2_S product.
pub const KERNEL_ID: &str = "i2s_mm_cuda_dp4a";

/// Quantised activations on the device.
pub(crate) struct DeviceActs {
    q: CudaSlice<i8>,
    scales: CudaSlice<f32>,
    sums: CudaSlice<i32>,
    tokens: usize,
    padded: usize,
}

impl DeviceActs {
    pub(crate) fn upload(rt: &CudaRuntime, a: &QuantizedActivations) -> Result<Self, CudaError> {
        Ok(Self {
            q: rt.upload(a.q())?,
            scales: rt.upload(a.scales())?,
            sums: rt.upload(a.sums())?,
            tokens: a.tokens(),
            padded: a.padded_cols(),
        })
    }
}

/// Queues y = W·x for every token into `out` (`[token][row]`), as i32 sums or f32 outputs.
pub(crate) fn enqueue(
    rt: &CudaRuntime,
    w: &DeviceMatrix,
    a: &DeviceActs,
    out: u64,
    raw: bool,
) -> Result<(), CudaError> {
    rt.i2s_mm(&I2sLaunch {
        weights: [rt.ptr(&w.data), 0, 0],
        rows: [w.rows as i32, 0, 0],
        scales: [w.scale, 0.0, 0.0],
        outputs: [out, 0, 0],
        chunks: w.chunks as i32,
        acts: rt.ptr(&a.q),
        act_stride: (a.padded / 16) as i32,
        act_sums: rt.ptr(&a.sums),
        act_scales: rt.ptr(&a.scales),
        tokens: a.tokens as i32,
        mode: if raw { I2sMode::Raw } else { I2sMode::Store },
    })
}

/// Σ t·q (i32) and the f32 outputs of the device kernel for `w` and `acts`, `[token][row]`.
pub fn device_gemm(
    rt: &CudaRuntime,
    w: &I2sMatrixRef<'_>,
    acts: &QuantizedActivations,
) -> Result<(Vec<i32>, Vec<f32>), CudaError> {
    let dw = DeviceMatrix::upload(rt, w)?;
    let da = DeviceActs::upload(rt, acts)?;
    let n = w.rows() * acts.tokens();
    // Poisoned outputs: an element the kernel fails to write cannot pass as a result.
    let raw_out: CudaSlice<i32> = rt.upload(&vec![i32::MIN; n])?;
    let f32_out: CudaSlice<f32> = rt.upload(&vec![f32::NAN; n])?;
    enqueue(rt, &dw, &da, rt.ptr(&raw_out), true)?;
    enqueue(rt, &dw, &da, rt.ptr(&f32_out), false)?;
    Ok((rt.download(&raw_out, n)?, rt.download(&f32_out, n)?))
}

/// Compares the device kernel with the scalar reference on one seeded shape.
pub fn check_shape(rt: &CudaRuntime, shape: Shape, seed: u64) -> Result<CheckResult, CudaError> {
    let w = random_matrix(shape.rows, shape.cols, seed)?;
    let x = random_activations(shape.tokens, shape.cols, seed.wrapping_add(1));
    let acts = QuantizedActivations::quantize(&x, shape.tokens, shape.cols)?;
    let view = w.view();
    let want_i32 = i2s_reference::dot_i32(&view, &acts);
    let want = i2s_reference::gemm_f32(&view, &acts);
    let (got_i32, got) = device_gemm(rt, &view, &acts)?;
    Ok(compare(
        KERNEL_ID, shape, seed, &want_i32, &got_i32, &want, &got,
    ))
}

/// Shapes of the device cross-validation: the CPU guard's ragged shapes, token counts that
/// exercise every prefill tile (1, 4, 8 and a remainder), and the 2B-4T projections.
pub fn cuda_guard_shapes() -> Vec<Shape> {
    let mut shapes = GUARD_SHAPES.to_vec();
    for (rows, cols, tokens) in [
        (129, 384, 9),
        (77, 1000, 13),
        (2560, 2560, 1),
        (6912, 2560, 1),
        (2560, 6912, 1),
        (640, 2560, 8),
        (2560, 6912, 5),
    ] {
        shapes.push(Shape { rows, cols, tokens });
    }
    shapes
}

/// Checks the device kernel on every shape in `shapes` with inputs derived from `seed`.
pub fn crossval(
    rt: &CudaRuntime,
    shapes: &[Shape],
    seed: u64,
) -> Result<Vec<CheckResult>, CudaError> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, &s)| check_shape(rt, s, seed.wrapping_add(1000 * i as u64)))
        .collect()
}
