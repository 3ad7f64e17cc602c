//! Cross-validation of a kernel configuration against the scalar reference on seeded inputs.
//!
//! Used by the tests (property tests call it over random shapes) and at run time as the guard every
//! tuning candidate must pass before it is timed: i32 accumulators must be bit-identical, f32
//! outputs within [`F32_REL_TOL`].

use crate::activation::QuantizedActivations;
use crate::cpu::i2s_reference;
use crate::error::KernelError;
use crate::format::i2s_relayout::relayout;
use crate::gemm::I2sGemm;
use crate::synthetic::{random_activations, random_matrix};

/// Largest relative f32 error a kernel may show against the reference.
pub const F32_REL_TOL: f64 = 1e-5;

/// One problem shape: rows (M) × columns (K) × tokens (N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Output rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// Activation rows (tokens).
    pub tokens: usize,
}

/// Shapes the run-time guard checks: ragged in every dimension (not multiples of 128, of any row
/// tile or batch width), odd block counts (AVX-512 masked tail), one full BitNet width and two
/// prompt-sized batches.
pub const GUARD_SHAPES: &[Shape] = &[
    Shape {
        rows: 1,
        cols: 1,
        tokens: 1,
    },
    Shape {
        rows: 3,
        cols: 7,
        tokens: 2,
    },
    Shape {
        rows: 5,
        cols: 129,
        tokens: 3,
    },
    Shape {
        rows: 17,
        cols: 255,
        tokens: 1,
    },
    // Whole 16-row groups: engines whose layout is lanes16 or trits16 run their own kernel, not
    // the per-task row-major repack: a decode, and a pair of groups against one full and two
    // partial 8-token tiles over rows whose last trits16 line holds one digit (1000 columns pad
    // to 1024 = 51 lines of 20 and 4).
    Shape {
        rows: 48,
        cols: 640,
        tokens: 1,
    },
    Shape {
        rows: 32,
        cols: 1000,
        tokens: 11,
    },
    Shape {
        rows: 33,
        cols: 384,
        tokens: 5,
    },
    Shape {
        rows: 67,
        cols: 640,
        tokens: 4,
    },
    Shape {
        rows: 130,
        cols: 1000,
        tokens: 1,
    },
    Shape {
        rows: 259,
        cols: 2560,
        tokens: 2,
    },
    // Prompt batches (AMX tiles from 16 tokens): partial row panels and token tiles.
    Shape {
        rows: 37,
        cols: 384,
        tokens: 19,
    },
    Shape {
        rows: 70,
        cols: 1000,
        tokens: 33,
    },
    Shape {
        rows: 96,
        cols: 2560,
        tokens: 11,
    },
];

/// The comparison of one kernel with the reference on one shape.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// Kernel id that ran.
    pub kernel_id: &'static str,
    /// Shape checked.
    pub shape: Shape,
    /// Seed of the inputs.
    pub seed: u64,
    /// i32 accumulators that differ from the reference.
    pub i32_mismatches: usize,
    /// Largest |y − y_ref|.
    pub max_abs_err: f64,
    /// Largest |y − y_ref| / |y_ref| (over non-zero y_ref).
    pub max_rel_err: f64,
    /// Σ(y − y_ref)² / Σ y_ref².
    pub nmse: f64,
    /// Bit-identical i32 and f32 within tolerance.
    pub pass: bool,
}

/// All checks of one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossvalReport {
    /// The configuration checked, `k=v,...`.
    pub config: String,
    /// Kernel id that ran.
    pub kernel_id: &'static str,
    /// One result per shape.
    pub checks: Vec<CheckResult>,
}

impl CrossvalReport {
    /// Every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.pass)
    }
    /// Largest relative f32 error over all checks.
    pub fn max_rel_err(&self) -> f64 {
        self.checks
            .iter()
            .map(|c| c.max_rel_err)
            .fold(0.0, f64::max)
    }
    /// Largest absolute f32 error over all checks.
    pub fn max_abs_err(&self) -> f64 {
        self.checks
            .iter()
            .map(|c| c.max_abs_err)
            .fold(0.0, f64::max)
    }
}

/// Compares `engine` with the reference on one seeded shape.
pub fn check_shape(engine: &I2sGemm, shape: Shape, seed: u64) -> Result<CheckResult, KernelError> {
    let mut w = random_matrix(shape.rows, shape.cols, seed)?;
    // The engine is checked on the layout a model is loaded in for it, where the shape fits it.
    if engine.weight_layout().fits(shape.rows) {
        w = relayout(&w.view(), engine.weight_layout())?;
    }
    let x = random_activations(shape.tokens, shape.cols, seed.wrapping_add(1));
    let acts = QuantizedActivations::quantize(&x, shape.tokens, shape.cols)?;
    let view = w.view();
    let want_i32 = i2s_reference::dot_i32(&view, &acts);
    let got_i32 = engine.dot_i32(&view, &acts)?;
    let want = i2s_reference::gemm_f32(&view, &acts);
    let got = engine.gemm(&view, &acts)?;
    Ok(compare(
        engine.kernel_id(),
        shape,
        seed,
        &want_i32,
        &got_i32,
        &want,
        &got,
    ))
}

/// Builds the comparison figures of two result sets.
pub fn compare(
    kernel_id: &'static str,
    shape: Shape,
    seed: u64,
    want_i32: &[i32],
    got_i32: &[i32],
    want: &[f32],
    got: &[f32],
) -> CheckResult {
    let i32_mismatches = want_i32.iter().zip(got_i32).filter(|(a, b)| a != b).count()
        + want_i32.len().abs_diff(got_i32.len());
    let (mut max_abs, mut max_rel, mut err2, mut ref2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (&y_ref, &y) in want.iter().zip(got) {
        let (y_ref, y) = (f64::from(y_ref), f64::from(y));
        let diff = (y - y_ref).abs();
        // NaN must fail, so compare through `!(<=)`.
        let diff = if diff.is_nan() { f64::INFINITY } else { diff };
        max_abs = max_abs.max(diff);
        if y_ref != 0.0 {
            max_rel = max_rel.max(diff / y_ref.abs());
        } else if diff != 0.0 {
            max_rel = f64::INFINITY;
        }
        err2 += diff * diff;
        ref2 += y_ref * y_ref;
    }
    let nmse = if ref2 > 0.0 { err2 / ref2 } else { err2 };
    let pass = i32_mismatches == 0 && want.len() == got.len() && max_rel <= F32_REL_TOL;
    CheckResult {
        kernel_id,
        shape,
        seed,
        i32_mismatches,
        max_abs_err: max_abs,
        max_rel_err: max_rel,
        nmse,
        pass,
    }
}

/// Checks `engine` on every shape in `shapes` with inputs derived from `seed`.
pub fn crossval(
    engine: &I2sGemm,
    shapes: &[Shape],
    seed: u64,
) -> Result<CrossvalReport, KernelError> {
    let checks = shapes
        .iter()
        .enumerate()
        .map(|(i, &s)| check_shape(engine, s, seed.wrapping_add(1000 * i as u64)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CrossvalReport {
        config: engine.config().to_string(),
        kernel_id: engine.kernel_id(),
        checks,
    })
}
