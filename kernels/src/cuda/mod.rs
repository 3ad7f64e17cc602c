//! The CUDA backend (feature `cuda`): I2_S W2A8 products (dp4a), RMSNorm + int8 quantisation,
//! RoPE, f64 attention over a device KV cache, the F16 lm_head and greedy argmax, so that the
//! whole decode step runs on the GPU and replays as one CUDA graph.
//!
//! Sources are the `.cu` files beside this module, compiled at run time by NVRTC for the device's
//! compute capability ([`nvrtc`]); the driver and NVRTC are loaded at run time, so a binary built
//! with this feature runs on machines without either and reports their absence as a
//! [`CudaError`]. Every result is checked against the CPU scalar reference: the integer sums bit
//! for bit ([`i2s`]), the model's logits and greedy tokens with the CPU crossval's thresholds
//! ([`model_crossval`]).

pub mod bandwidth;
pub mod error;
pub mod i2s;
pub mod kernel_bench;
mod launch;
pub mod launch_params;
pub mod model;
pub mod model_crossval;
pub mod nvrtc;
pub mod runtime;
pub mod session;
pub mod sources;

pub use error::CudaError;
pub use launch_params::CudaLaunchParams;
pub use model::CudaModel;
pub use runtime::{device_count, driver_present, CudaRuntime, DeviceInfo};
pub use session::CudaSession;
