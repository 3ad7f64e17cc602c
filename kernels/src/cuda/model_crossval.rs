//! Model-level cross-validation of the device forward pass: its logits and greedy tokens against
//! the CPU scalar reference engine (exact numerics) on the same model and prompt, with the CPU
//! crossval's thresholds.

use crate::gemm::I2sGemm;
use crate::model::forward::{greedy, Numerics, Session};
use crate::model::model_crossval::{compare, ModelCrossval};
use crate::model::BitnetModel;

use super::error::CudaError;
use super::model::CudaModel;
use super::runtime::CudaRuntime;
use super::session::CudaSession;

/// Runs `prompt` + `steps` greedy tokens on the device (decode steps through the graph when the
/// launch parameters say so) and on `reference` (the scalar engine), and compares them.
pub fn crossval_cuda_model(
    rt: &CudaRuntime,
    device_model: &CudaModel,
    model: &BitnetModel,
    reference: &I2sGemm,
    prompt: &[u32],
    steps: usize,
) -> Result<ModelCrossval, CudaError> {
    let positions = prompt.len() + steps;
    let mut gpu = CudaSession::new(rt, device_model, positions, prompt.len())?;
    let (tokens, logits) = gpu.greedy(prompt, steps)?;
    let mut cpu = Session::new(model, reference, positions)?.with_numerics(Numerics::Exact);
    let (ref_tokens, ref_logits) = greedy(&mut cpu, prompt, steps)?;
    Ok(compare(&logits, &ref_logits, tokens, ref_tokens))
}
