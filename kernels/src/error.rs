//! Errors of the kernels crate: every one names the shape, parameter or byte count at fault.

use thiserror::Error;

/// What can go wrong when packing, configuring or running a ternary kernel.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum KernelError {
    /// A tensor's element count does not fit the format's block size.
    #[error("{format}: {what} ({value}) must be a multiple of {multiple}")]
    BlockConstraint {
        format: &'static str,
        what: &'static str,
        value: usize,
        multiple: usize,
    },
    /// A byte buffer is shorter or longer than the shape requires.
    #[error("{format}: expected {expected} bytes for a {rows}x{cols} tensor, got {actual}")]
    ByteLength {
        format: &'static str,
        rows: usize,
        cols: usize,
        expected: usize,
        actual: usize,
    },
    /// A packed 2-bit code is 3, which the I2_S format does not define.
    #[error("I2_S: invalid code 3 at weight {index} (codes are 0,1,2 for -1,0,+1)")]
    InvalidCode { index: usize },
    /// The tensor scale is NaN, infinite or negative.
    #[error("I2_S: tensor scale {0} is not a finite non-negative number")]
    BadScale(f32),
    /// Operand shapes do not agree.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A shape dimension is zero or too large to index.
    #[error("invalid shape {rows}x{cols}: {reason}")]
    InvalidShape {
        rows: usize,
        cols: usize,
        reason: &'static str,
    },
    /// A kernel parameter is outside its declared domain or breaks a constraint.
    #[error("parameter `{name}`: {reason}")]
    Param { name: String, reason: String },
    /// The requested instruction set is not available on this CPU.
    #[error("instruction set `{0}` is not supported by this CPU (supported: {1})")]
    IsaUnsupported(String, String),
    /// The worker thread pool could not be created.
    #[error("cannot start {threads} kernel threads: {reason}")]
    ThreadPool { threads: usize, reason: String },
}
