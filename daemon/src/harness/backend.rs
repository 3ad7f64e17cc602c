//! Which backend a benchmark runs on: `cpu`, `cuda`, or `auto` (CUDA where the driver, NVRTC and a
//! device are usable). The daemon resolves `auto` once and says why it runs on the CPU when it
//! does; `perfd bench --backend auto` resolves it per invocation.

use std::sync::OnceLock;

use bitnet_kernels::cuda::{device_count, driver_present, nvrtc::nvrtc_present, CudaError};

/// Backend names accepted by `--backend` and `[benchmark] backend`.
pub const BACKENDS: [&str; 3] = ["auto", "cpu", "cuda"];

/// A resolved backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The CPU kernels.
    Cpu,
    /// GPU 0 through the CUDA backend.
    Cuda,
}

impl Backend {
    /// The name in reports, metrics and `--backend`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        }
    }
}

/// Why the CUDA backend cannot run here, if it cannot.
pub fn cuda_unusable() -> Option<String> {
    if !driver_present() {
        return Some(CudaError::NoDriver.to_string());
    }
    if !nvrtc_present() {
        return Some(CudaError::NoNvrtc.to_string());
    }
    match device_count() {
        Ok(0) => Some("no CUDA device".into()),
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// `configured` (one of [`BACKENDS`]) resolved; `auto` probes the GPU.
pub fn resolve(configured: &str) -> Backend {
    match configured {
        "cuda" => Backend::Cuda,
        "cpu" => Backend::Cpu,
        _ => match cuda_unusable() {
            None => Backend::Cuda,
            Some(why) => {
                tracing::debug!("{why}: benchmarking on the CPU");
                Backend::Cpu
            }
        },
    }
}

/// [`resolve`] for the daemon: `auto` is probed once per process and the outcome logged once.
pub fn resolve_for_daemon(configured: &str) -> Backend {
    static AUTO: OnceLock<Backend> = OnceLock::new();
    if configured != "auto" {
        return resolve(configured);
    }
    *AUTO.get_or_init(|| match cuda_unusable() {
        None => {
            tracing::info!("CUDA device found: benchmark.backend=auto runs on the GPU");
            Backend::Cuda
        }
        Some(why) => {
            tracing::info!("{why}: benchmark.backend=auto runs on the CPU");
            Backend::Cpu
        }
    })
}
