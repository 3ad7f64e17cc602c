//! Errors of the CUDA backend: every failure a machine without a GPU, driver or NVRTC can cause
//! is a value with a message a user can act on, never a panic.

use crate::error::KernelError;
use crate::model::ModelError;

/// What went wrong in the CUDA backend.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// The driver library is not on the loader path.
    #[error("no CUDA driver (libcuda.so.1 not found)")]
    NoDriver,
    /// NVRTC is not on the loader path.
    #[error(
        "no NVRTC (libnvrtc.so.12 or libnvrtc.so not found): install CUDA's NVRTC, or the PyPI \
         wheel nvidia-cuda-nvrtc-cu12, and put its lib directory on LD_LIBRARY_PATH"
    )]
    NoNvrtc,
    /// The driver loaded but has no usable device.
    #[error("no CUDA device {ordinal}: {reason}")]
    NoDevice {
        /// Device index asked for.
        ordinal: usize,
        /// What the driver said.
        reason: String,
    },
    /// A driver call failed.
    #[error("CUDA {context}: {source}")]
    Driver {
        /// What was being done.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: cudarc::driver::DriverError,
    },
    /// NVRTC rejected a source.
    #[error("NVRTC could not compile {source_name} for {arch}:\n{log}")]
    Compile {
        /// The `.cu` file.
        source_name: &'static str,
        /// Target (`compute_90`, …).
        arch: String,
        /// NVRTC's log.
        log: String,
    },
    /// Another NVRTC failure.
    #[error("NVRTC {context}: {message}")]
    Nvrtc {
        /// What was being done.
        context: &'static str,
        /// NVRTC's error.
        message: String,
    },
    /// A shape, format or setting the CUDA kernels do not handle.
    #[error("the CUDA backend does not support {0}")]
    Unsupported(String),
    /// A `--params` entry that is not `key=value`, or names no CUDA launch parameter.
    #[error("CUDA launch parameters: `{entry}` {reason}")]
    ParamEntry {
        /// The entry as given.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A launch parameter outside its domain.
    #[error("CUDA launch parameter {name}={value}: {reason}")]
    Param {
        /// Parameter name.
        name: &'static str,
        /// Value given.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Bad input to a kernel.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// Bad input to the model.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Wraps a driver error with what was being done.
pub(crate) fn driver(
    context: &'static str,
) -> impl FnOnce(cudarc::driver::DriverError) -> CudaError {
    move |source| CudaError::Driver { context, source }
}
