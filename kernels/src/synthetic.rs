//! Seeded random inputs (ternary matrices, activations) for crossval, tests and benchmarks.
//!
//! ChaCha8 makes every seed produce the same inputs on every platform, so a crossval failure
//! report ("seed 7, shape 17x255") can be reproduced anywhere.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::KernelError;
use crate::format::i2s::{valid_code_bytes, I2sMatrix, BLOCK_WEIGHTS};

/// A seeded RNG.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Uniform random ternary values (−1, 0, +1).
pub fn random_ternary(n: usize, seed: u64) -> Vec<i8> {
    let mut r = rng(seed);
    (0..n).map(|_| r.random_range(-1i8..=1)).collect()
}

/// A random ternary matrix with a random positive scale.
pub fn random_matrix(rows: usize, cols: usize, seed: u64) -> Result<I2sMatrix, KernelError> {
    if cols.is_multiple_of(BLOCK_WEIGHTS) {
        return random_matrix_fast(rows, cols, seed);
    }
    let scale = rng(seed ^ 0x5CA1E).random_range(0.005f32..0.05);
    I2sMatrix::from_ternary(&random_ternary(rows * cols, seed), rows, cols, scale)
}

/// Random packed bytes directly (each byte four valid codes): fast enough for benchmark working
/// sets of hundreds of megabytes. Needs `cols % 128 == 0` so no row padding exists.
fn random_matrix_fast(rows: usize, cols: usize, seed: u64) -> Result<I2sMatrix, KernelError> {
    let valid = valid_code_bytes();
    let mut r = rng(seed);
    let bytes = rows
        .checked_mul(cols)
        .map(|n| n / 4)
        .ok_or(KernelError::InvalidShape {
            rows,
            cols,
            reason: "element count overflows",
        })?;
    let data = (0..bytes)
        .map(|_| valid[r.random_range(0..valid.len())])
        .collect();
    let scale = r.random_range(0.005f32..0.05);
    I2sMatrix::from_row_aligned(data, rows, cols, scale)
}

/// Random activations: per token a random magnitude in [0.1, 10], values uniform in ±magnitude.
pub fn random_activations(tokens: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    let mut out = Vec::with_capacity(tokens * cols);
    for _ in 0..tokens {
        let mag = r.random_range(0.1f32..10.0);
        out.extend((0..cols).map(|_| r.random_range(-mag..mag)));
    }
    out
}
