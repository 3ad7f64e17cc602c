//! Timing of the device I2_S product on one shape, with the weights rotated over enough copies to
//! exceed L2 twice, so each call streams its weights from device memory (HBM) as in decode.

use crate::activation::QuantizedActivations;
use crate::synthetic::{random_activations, random_matrix};

use super::error::CudaError;
use super::i2s::{enqueue, DeviceActs};
use super::model::DeviceMatrix;
use super::runtime::CudaRuntime;

/// Device time of one call per repetition, and what a call reads.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceKernelTiming {
    /// Output rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// Tokens.
    pub tokens: usize,
    /// Seconds per call, one value per repetition (each the mean over a batch of calls).
    pub seconds: Vec<f64>,
    /// Weight bytes one call reads.
    pub weight_bytes: u64,
    /// Weight copies rotated over.
    pub copies: usize,
}

/// Times `rows × cols × tokens` over `reps` repetitions of `calls` calls each.
pub fn time_shape(
    rt: &CudaRuntime,
    rows: usize,
    cols: usize,
    tokens: usize,
    reps: usize,
    calls: usize,
    seed: u64,
) -> Result<DeviceKernelTiming, CudaError> {
    let w = random_matrix(rows, cols, seed)?;
    let view = w.view();
    let x = random_activations(tokens, cols, seed.wrapping_add(1));
    let acts = QuantizedActivations::quantize(&x, tokens, cols)?;
    let da = DeviceActs::upload(rt, &acts)?;
    let bytes = view.weight_bytes().max(1);
    let copies = ((2 * rt.info().l2_bytes as usize).div_ceil(bytes)).clamp(1, 512);
    let mats = (0..copies)
        .map(|_| DeviceMatrix::upload(rt, &view))
        .collect::<Result<Vec<_>, _>>()?;
    let out = rt.zeros::<f32>(rows * tokens)?;
    let o = rt.ptr(&out);
    for m in &mats {
        enqueue(rt, m, &da, o, false)?;
    }
    let mut seconds = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let t = rt.time(|| {
            for i in 0..calls.max(1) {
                enqueue(rt, &mats[i % copies], &da, o, false)?;
            }
            Ok(())
        })?;
        seconds.push(t / calls.max(1) as f64);
    }
    Ok(DeviceKernelTiming {
        rows,
        cols,
        tokens,
        seconds,
        weight_bytes: bytes as u64,
        copies,
    })
}
