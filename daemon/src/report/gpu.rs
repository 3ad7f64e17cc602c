//! The GPU a CUDA run used, the device bandwidth of the same run and what NVML saw during it.

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

/// The device and its figures for one CUDA run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuRun {
    /// Device name as the driver reports it.
    pub device: String,
    /// Compute capability, `major.minor`.
    pub compute_capability: String,
    /// Streaming multiprocessors.
    pub multiprocessors: u32,
    /// Device memory in bytes.
    pub memory_bytes: u64,
    /// L2 cache in bytes.
    pub l2_bytes: u64,
    /// NVRTC that compiled the kernels, `major.minor`.
    pub nvrtc: String,
    /// CUDA launch parameters (`k=v,...`).
    pub launch_params: String,
    /// Device memory bandwidth measured in this run.
    pub bandwidth: DeviceBandwidthReport,
    /// NVML samples taken during the run (absent where NVML does not load).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub telemetry: Option<GpuTelemetry>,
}

/// Device memory bandwidth of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceBandwidthReport {
    /// Bytes of each buffer.
    pub buffer_bytes: u64,
    /// Device-to-device copy kernel, counting bytes read plus bytes written (the roofline the
    /// CUDA ratios use: decode reads weights, and HBM serves reads and writes from one budget).
    pub copy_bytes_per_second: Summary,
    /// Read-only kernel, bytes read.
    pub read_bytes_per_second: Summary,
}

/// What NVML reported while the run was in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuTelemetry {
    /// Samples taken.
    pub samples: usize,
    /// Highest GPU utilisation seen (0–1).
    pub utilization_max: f64,
    /// Highest device memory in use.
    pub memory_used_max_bytes: u64,
    /// Device memory installed.
    pub memory_total_bytes: u64,
    /// Highest power draw.
    pub power_max_watts: f64,
    /// Highest temperature.
    pub temperature_max_celsius: f64,
    /// Lowest and highest SM clock.
    pub sm_clock_min_hertz: f64,
    /// Highest SM clock seen.
    pub sm_clock_max_hertz: f64,
    /// Throttle reasons active in any sample (NVML's names; `gpu_idle` and `none` left out).
    pub throttle_reasons: Vec<String>,
    /// Processes other than this one that held the GPU during the run.
    pub other_processes: Vec<u32>,
}
