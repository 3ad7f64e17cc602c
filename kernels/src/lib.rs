//! Ternary (BitNet b1.58) compute library: weight formats, activation quantisation and the
//! I2_S kernels (scalar reference oracle, AVX2, AVX-512/VNNI) with their tunable parameters.
//!
//! The crate has no async runtime, HTTP or GitHub code: an inference engine can depend on it
//! alone. Every fast path is checked against [`cpu::i2s_reference`] by [`crossval`].

#![deny(unsafe_op_in_unsafe_fn)]

pub mod activation;
pub mod config;
pub mod cpu;
pub mod crossval;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod error;
pub mod format;
pub mod gemm;
pub mod gguf;
pub mod model;
mod named_choice;
#[cfg(feature = "planted-faults")]
pub mod planted_fault;
pub mod synthetic;

pub use activation::QuantizedActivations;
pub use config::{Isa, KernelConfig, ParamSpace};
pub use error::KernelError;
pub use format::i2s::{I2sMatrix, I2sMatrixRef};
pub use gemm::I2sGemm;
