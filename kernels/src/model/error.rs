//! Errors of model loading and inference.

use thiserror::Error;

use crate::error::KernelError;
use crate::gguf::GgufError;

/// Why a model could not be loaded or run.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The GGUF container is invalid.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A kernel rejected its inputs.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The file is not a BitNet b1.58 model.
    #[error("general.architecture is `{0}`, expected `bitnet-b1.58` (bitnet.cpp) or `bitnet` (llama.cpp)")]
    Architecture(String),
    /// A hyper-parameter is missing its consistency with the others.
    #[error("hyper-parameter `{key}`: {reason}")]
    Hparam { key: String, reason: String },
    /// A tensor has another shape than the hyper-parameters imply.
    #[error("tensor `{tensor}`: shape {found:?}, expected {expected:?}")]
    TensorShape {
        tensor: String,
        expected: Vec<u64>,
        found: Vec<u64>,
    },
    /// A tensor has another type than the architecture uses.
    #[error("tensor `{tensor}`: type {found}, expected {expected}")]
    TensorType {
        tensor: String,
        expected: &'static str,
        found: String,
    },
    /// A block-format tensor perfd cannot take as it is.
    #[error("tensor `{tensor}`: {reason}")]
    BlockFormat { tensor: String, reason: String },
    /// A norm or embedding weight is NaN or infinite.
    #[error("tensor `{tensor}`: value {index} is not finite (NaN or infinity)")]
    NonFinite { tensor: String, index: usize },
    /// A token id outside the vocabulary.
    #[error("token {token} is outside the vocabulary (0..{vocab})")]
    Token { token: u32, vocab: usize },
    /// More positions than the session (or the model's context) holds.
    #[error("sequence of {needed} positions exceeds the limit of {limit}")]
    Context { needed: usize, limit: usize },
    /// An operation that continues a sequence was asked of a session with no tokens.
    #[error("the session holds no tokens to continue from")]
    EmptySequence,
    /// The lm_head could not be packed.
    #[error(transparent)]
    Pack(#[from] crate::format::packed_f16::PackError),
    /// The model file could not be written.
    #[error("writing model: {0}")]
    Write(String),
}
