//! The cross-validation guard every tuning candidate passes before its timing counts: the kernel
//! check (i32 accumulators bit-identical to the scalar reference on ragged shapes, f32 within
//! `F32_REL_TOL`) and the model check (logits and greedy tokens against the scalar reference,
//! with the thresholds of `perfd bench --crossval`).

use serde::{Deserialize, Serialize};

use bitnet_kernels::crossval::{crossval, CrossvalReport, F32_REL_TOL, GUARD_SHAPES};
use bitnet_kernels::model::model_crossval::{compare, MIN_COSINE};
use bitnet_kernels::model::{forward::greedy, BitnetModel, Numerics, Session};
use bitnet_kernels::I2sGemm;

use super::probe::ProbeError;

/// Seed of the guard's kernel inputs (fixed: every candidate sees the same inputs).
pub const GUARD_SEED: u64 = 0x6A_12D;
/// Prompt of the model check (the one `perfd bench --crossval` uses).
pub const GUARD_PROMPT: [u32; 4] = [1, 2, 3, 4];

/// The model check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCheck {
    /// Greedy steps compared.
    pub steps: usize,
    /// Largest |logit − reference logit|.
    pub max_abs_diff: f64,
    /// Smallest cosine of logit vectors.
    pub min_cosine: f64,
    /// The greedy tokens equal the reference's.
    pub tokens_identical: bool,
    /// Passed (tokens identical, cosine ≥ the threshold).
    pub pass: bool,
}

/// Both checks of one candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardReport {
    /// Kernel id the candidate ran.
    pub kernel_id: String,
    /// Shapes the kernel check covered.
    pub kernel_shapes: usize,
    /// i32 accumulators that differed from the reference.
    pub i32_mismatches: usize,
    /// Largest relative f32 error of the kernel check.
    pub max_rel_err: f64,
    /// The model check (None when no model is loaded).
    pub model: Option<ModelCheck>,
    /// Every check passed.
    pub pass: bool,
    /// The first failing check, in words (None when it passed).
    pub failed_check: Option<String>,
}

impl GuardReport {
    /// One line for gate bodies and logs.
    pub fn summary(&self) -> String {
        let model = self.model.as_ref().map_or_else(String::new, |m| {
            format!(
                "; model: max |Δlogit| {:.1e}, min cos {:.6}, {} greedy tokens {}",
                m.max_abs_diff,
                m.min_cosine,
                m.steps,
                if m.tokens_identical {
                    "identical"
                } else {
                    "differ"
                }
            )
        });
        format!(
            "{}: kernel: {} i32 mismatches on {} ragged shapes, max rel err {:.1e}{model}",
            if self.pass { "pass" } else { "FAIL" },
            self.i32_mismatches,
            self.kernel_shapes,
            self.max_rel_err,
        )
    }
}

/// The reference side of the model check, computed once per job and numerics with the scalar
/// kernels.
#[derive(Debug, Clone)]
pub struct ModelReference {
    tokens: Vec<u32>,
    logits: Vec<Vec<f32>>,
    steps: usize,
    numerics: Numerics,
}

impl ModelReference {
    /// Greedy generation with the scalar reference kernels (all threads: the i32 sums are exact,
    /// so the thread count cannot change a result) in `numerics`: a candidate is compared with
    /// the reference in its own numerics (for the SIMD attention, the kernel's scalar twin).
    /// Across numerics a deep model's logits part (f32 against f64 attention, amplified by every
    /// layer's int8 rounding: min cosine 0.98 on 2b4t), and every AVX-512 candidate, the current
    /// profile included, failed the guard.
    pub fn compute(
        model: &BitnetModel,
        steps: usize,
        numerics: Numerics,
    ) -> Result<Self, ProbeError> {
        let reference = I2sGemm::new(bitnet_kernels::KernelConfig {
            isa: Some(bitnet_kernels::Isa::Scalar),
            ..bitnet_kernels::KernelConfig::default()
        })?;
        let mut s =
            Session::new(model, &reference, GUARD_PROMPT.len() + steps)?.with_numerics(numerics);
        let (tokens, logits) = greedy(&mut s, &GUARD_PROMPT, steps)?;
        Ok(Self {
            tokens,
            logits,
            steps,
            numerics,
        })
    }

    /// The numerics it was computed in.
    pub fn numerics(&self) -> Numerics {
        self.numerics
    }
}

/// Runs both checks on `engine`.
pub fn check(
    engine: &I2sGemm,
    model: Option<(&BitnetModel, &ModelReference)>,
) -> Result<GuardReport, ProbeError> {
    let kernel: CrossvalReport = crossval(engine, GUARD_SHAPES, GUARD_SEED)?;
    let i32_mismatches: usize = kernel.checks.iter().map(|c| c.i32_mismatches).sum();
    let mut failed_check = kernel.checks.iter().find(|c| !c.pass).map(|c| {
        format!(
            "kernel crossval: {} i32 mismatches, max rel err {:.1e} (limit {F32_REL_TOL:.0e}) on {}x{}x{}",
            c.i32_mismatches, c.max_rel_err, c.shape.rows, c.shape.cols, c.shape.tokens
        )
    });
    let model = match model {
        Some((m, reference)) => {
            let mut s = Session::new(m, engine, GUARD_PROMPT.len() + reference.steps)?;
            if s.numerics() != reference.numerics {
                return Err(ProbeError::Harness(format!(
                    "the guard's reference was computed in {:?} numerics, the candidate runs {:?}",
                    reference.numerics,
                    s.numerics()
                )));
            }
            let (tokens, logits) = greedy(&mut s, &GUARD_PROMPT, reference.steps)?;
            let c = compare(&logits, &reference.logits, tokens, reference.tokens.clone());
            let check = ModelCheck {
                steps: c.steps,
                max_abs_diff: c.max_abs_diff,
                min_cosine: c.min_cosine,
                tokens_identical: c.tokens == c.reference_tokens,
                pass: c.pass,
            };
            if !check.pass && failed_check.is_none() {
                failed_check = Some(format!(
                    "model crossval: max |Δlogit| {:.2e}, min cosine {:.6} (limit {MIN_COSINE}), greedy tokens {}",
                    check.max_abs_diff,
                    check.min_cosine,
                    if check.tokens_identical { "identical" } else { "differ" }
                ));
            }
            Some(check)
        }
        None => None,
    };
    Ok(GuardReport {
        kernel_id: engine.kernel_id().to_string(),
        kernel_shapes: kernel.checks.len(),
        i32_mismatches,
        max_rel_err: kernel.max_rel_err(),
        pass: failed_check.is_none(),
        model,
        failed_check,
    })
}
