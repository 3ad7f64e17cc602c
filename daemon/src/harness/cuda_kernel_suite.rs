//! `perfd bench --kernels --backend cuda`: the device I2_S product per shape (weights rotated over
//! copies filling twice the L2, so every call streams from HBM), per launch configuration, each
//! with its ratio to the device copy bandwidth measured before and after in the same run.

use anyhow::{Context, Result};

use bitnet_kernels::cuda::i2s::KERNEL_ID;
use bitnet_kernels::cuda::kernel_bench::time_shape;
use bitnet_kernels::cuda::CudaLaunchParams;
use bitnet_kernels::KernelConfig;

use super::cuda_support::{self, bandwidth_round, gpu_run, launch_params, noise, pooled_bandwidth};
use super::kernel_suite::parse_shapes;
use crate::cli::BenchArgs;
use crate::harness::host::gpu_telemetry::GpuSampler;
use crate::harness::host::noise::CpuSnapshot;
use crate::harness::host::rss::peak_rss_bytes;
use crate::harness::host::HostFingerprint;
use crate::harness::support::{
    bandwidth_memory, check_samples, merge_stream, outcome, progress, stream_round, timestamp,
    BenchOutcome,
};
use crate::report::bench_report::ToolVersions;
use crate::report::kernel_result::{KernelResult, Residency};
use crate::report::{BenchReport, SCHEMA};
use crate::stats::Summary;

/// Kernel calls per timed sample (device time over the batch, divided).
const CALLS_PER_SAMPLE: usize = 200;

/// The configurations to measure: the one given, or the defaults at every `lanes_per_row`.
fn configs(spec: Option<&str>) -> Result<Vec<CudaLaunchParams>> {
    if spec.is_some() {
        return Ok(vec![launch_params(spec)?]);
    }
    Ok([8, 16, 32]
        .into_iter()
        .map(|lanes_per_row| CudaLaunchParams {
            lanes_per_row,
            ..CudaLaunchParams::default()
        })
        .collect())
}

/// Runs the CUDA kernel suite.
pub fn run(args: &BenchArgs) -> Result<BenchOutcome> {
    check_samples(args.samples)?;
    let shapes = parse_shapes(args.shapes.as_deref())?;
    let configs = configs(args.params.as_deref())?;
    let mut rt = cuda_support::open(configs[0])?;
    let timestamp = timestamp()?;
    let mut host = HostFingerprint::detect();
    host.gpu = Some(rt.info().name.clone());
    let memory = bandwidth_memory(args.bandwidth_mib, host.llc_bytes)?;
    let pb = progress(
        args.json,
        (shapes.len() * configs.len() + 2 + usize::from(args.crossval)) as u64,
    );

    let mut crossval = None;
    if args.crossval {
        pb.set_message("crossval i2s_mm_cuda_dp4a");
        let mut out = Vec::new();
        for &c in &configs {
            rt.set_params(c);
            out.push(cuda_support::kernel_crossval(&rt)?);
        }
        crossval = Some(out);
        pb.inc(1);
    }

    let snapshot = CpuSnapshot::take();
    pb.set_message("host STREAM and device bandwidth (before)");
    let threads = KernelConfig::default().threads;
    let stream_before = stream_round(threads, memory.stream_array_bytes())?;
    let device_before = bandwidth_round(&rt)?;
    pb.inc(1);
    let sampler = GpuSampler::start(
        rt.info().ordinal as u32,
        std::time::Duration::from_millis(100),
    );
    let mut kernels = Vec::new();
    for &(rows, cols) in &shapes {
        for &c in &configs {
            pb.set_message(format!("{rows}x{cols} {c}"));
            rt.set_params(c);
            let t = time_shape(&rt, rows, cols, 1, args.samples, CALLS_PER_SAMPLE, 0x5EED)
                .with_context(|| format!("benchmark {rows}x{cols} on the GPU"))?;
            let bytes_per_op = t.weight_bytes + cols as u64 + 4 * rows as u64;
            let ns = Summary::of(t.seconds.iter().map(|s| s * 1e9).collect())
                .context("no valid kernel timing")?;
            let bw = Summary::of(t.seconds.iter().map(|s| bytes_per_op as f64 / s).collect())
                .context("no valid kernel timing")?;
            kernels.push(KernelResult {
                kernel_id: KERNEL_ID.into(),
                params: c.to_string(),
                rows,
                cols,
                tokens: 1,
                residency: Residency::Dram,
                matrices: t.copies,
                working_set_bytes: t.weight_bytes * t.copies as u64,
                bytes_per_op,
                ops_per_second: 1e9 / ns.median,
                ns_per_op: ns,
                bytes_per_second: bw,
                roofline_ratio: None,
            });
            pb.inc(1);
        }
    }
    let telemetry = sampler.and_then(GpuSampler::finish);
    pb.set_message("host STREAM and device bandwidth (after)");
    let device_after = bandwidth_round(&rt)?;
    let stream_after = stream_round(threads, memory.stream_array_bytes())?;
    pb.finish_and_clear();
    let noise = noise(&snapshot, args.noise_limit_cores, telemetry.as_ref());
    let bandwidth = pooled_bandwidth([device_before, device_after])?;
    let copy = bandwidth.copy_bytes_per_second.best();
    for k in &mut kernels {
        k.roofline_ratio = Some(k.bytes_per_second.median / copy);
    }
    let report = BenchReport {
        schema: SCHEMA.to_string(),
        commit: env!("PERFD_GIT_COMMIT").to_string(),
        timestamp,
        host,
        suite: "kernels".into(),
        backend: "cuda".into(),
        gpu: Some(gpu_run(&rt, bandwidth, telemetry)),
        params: args
            .params
            .clone()
            .unwrap_or_else(|| "defaults at lanes_per_row 8, 16, 32".into()),
        kernel_ids: vec![KERNEL_ID.into()],
        model: None,
        phases: Vec::new(),
        generation_128_seconds: None,
        decode_roofline: None,
        decode_at_context: Vec::new(),
        comparison: None,
        peer: None,
        decode_profile: Vec::new(),
        prefill_profile: Vec::new(),
        kernels,
        memory_bandwidth: merge_stream(stream_before, stream_after)?,
        crossval,
        model_crossval: None,
        peak_rss_bytes: peak_rss_bytes(),
        noise,
        tools: ToolVersions::current(),
    };
    outcome(&report, args.json, false)
}
