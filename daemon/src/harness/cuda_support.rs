//! What the CUDA suites share: opening the device (a missing driver, NVRTC or GPU is an error
//! naming what is missing), the device bandwidth of the run, and the report's GPU section.

use anyhow::{Context, Result};

use bitnet_kernels::cuda::bandwidth::{self, DeviceBandwidth};
use bitnet_kernels::cuda::i2s::{crossval, cuda_guard_shapes, KERNEL_ID};
use bitnet_kernels::cuda::{CudaLaunchParams, CudaRuntime};

use crate::harness::host::noise::{CpuSnapshot, NoiseVerdict};
use crate::report::bench_report::CrossvalSummary;
use crate::report::gpu::{DeviceBandwidthReport, GpuRun, GpuTelemetry};
use crate::stats::Summary;
use crate::UsageError;

/// Bytes of each device bandwidth buffer: far past any L2 (50 MB on an H100).
pub const DEVICE_BANDWIDTH_BYTES: usize = 1 << 30;
/// Timed passes per device bandwidth round.
const BANDWIDTH_REPS: usize = 5;

/// `--params` for the CUDA backend: launch parameters over the defaults, a usage error when invalid.
pub fn launch_params(spec: Option<&str>) -> Result<CudaLaunchParams> {
    let base = CudaLaunchParams::default();
    match spec {
        None => Ok(base),
        Some(s) => Ok(base
            .with_params(s)
            .map_err(|e| UsageError(format!("--params: {e}")))?),
    }
}

/// Opens GPU 0 and compiles the kernels for it.
pub fn open(params: CudaLaunchParams) -> Result<CudaRuntime> {
    CudaRuntime::open(0, params).context("--backend cuda")
}

/// One round of device copy and read bandwidth.
pub fn bandwidth_round(rt: &CudaRuntime) -> Result<(DeviceBandwidth, DeviceBandwidth)> {
    bandwidth::measure(rt, DEVICE_BANDWIDTH_BYTES, BANDWIDTH_REPS)
        .context("device bandwidth measurement")
}

/// The rounds before and after the work, pooled.
pub fn pooled_bandwidth(
    rounds: [(DeviceBandwidth, DeviceBandwidth); 2],
) -> Result<DeviceBandwidthReport> {
    let [(c0, r0), (c1, r1)] = rounds;
    let buffer_bytes = r0.bytes;
    let pool = |a: DeviceBandwidth, b: DeviceBandwidth| {
        Summary::of(
            a.bytes_per_second
                .into_iter()
                .chain(b.bytes_per_second)
                .collect(),
        )
    };
    Ok(DeviceBandwidthReport {
        buffer_bytes,
        copy_bytes_per_second: pool(c0, c1).context("device copy bandwidth: no valid sample")?,
        read_bytes_per_second: pool(r0, r1).context("device read bandwidth: no valid sample")?,
    })
}

/// The noise verdict of a CUDA run: other processes' CPU use, and any other process on the GPU.
pub fn noise(
    snapshot: &CpuSnapshot,
    limit_cores: f64,
    telemetry: Option<&GpuTelemetry>,
) -> NoiseVerdict {
    let gpu_pids = telemetry
        .map(|t| t.other_processes.clone())
        .unwrap_or_default();
    NoiseVerdict::judge(snapshot.others_busy_cores_since(), limit_cores)
        .with_gpu_processes(gpu_pids)
}

/// The report's GPU section.
pub fn gpu_run(
    rt: &CudaRuntime,
    bandwidth: DeviceBandwidthReport,
    telemetry: Option<GpuTelemetry>,
) -> GpuRun {
    let info = rt.info();
    GpuRun {
        device: info.name.clone(),
        compute_capability: format!(
            "{}.{}",
            info.compute_capability.0, info.compute_capability.1
        ),
        multiprocessors: info.multiprocessors,
        memory_bytes: info.memory_bytes,
        l2_bytes: info.l2_bytes,
        nvrtc: format!("{}.{}", info.nvrtc_version.0, info.nvrtc_version.1),
        launch_params: rt.params().to_string(),
        bandwidth,
        telemetry,
    }
}

/// The device I2_S product against the scalar reference on the guard shapes plus the 2B-4T
/// projections (i32 sums bit-identical, f32 outputs within the CPU tolerance).
pub fn kernel_crossval(rt: &CudaRuntime) -> Result<CrossvalSummary> {
    let checks = crossval(rt, &cuda_guard_shapes(), 0xC0FFEE).context("CUDA kernel crossval")?;
    Ok(CrossvalSummary {
        check: KERNEL_ID.to_string(),
        batch_check: None,
        params: rt.params().to_string(),
        shapes: checks
            .iter()
            .map(|c| format!("{}x{}x{}", c.shape.rows, c.shape.cols, c.shape.tokens))
            .collect(),
        i32_mismatches: checks.iter().map(|c| c.i32_mismatches).sum(),
        max_abs_err: checks.iter().map(|c| c.max_abs_err).fold(0.0, f64::max),
        max_rel_err: checks.iter().map(|c| c.max_rel_err).fold(0.0, f64::max),
        max_nmse: checks.iter().map(|c| c.nmse).fold(0.0, f64::max),
        pass: checks.iter().all(|c| c.pass),
    })
}
