//! `perfd bench --kernels`: every requested kernel configuration × shape × residency, between two
//! STREAM rounds, each result with its ratio to this run's bandwidth.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use bitnet_kernels::{I2sGemm, Isa, KernelConfig};

use crate::cli::BenchArgs;
use crate::harness::host::noise::{CpuSnapshot, NoiseVerdict};
use crate::harness::host::rss::peak_rss_bytes;
use crate::harness::host::HostFingerprint;
use crate::harness::kernel_bench::{
    measure_interleaved, KernelResult, Residency, Sampling, Workload, BITNET_2B4T_SHAPES,
};
use crate::harness::stream_bandwidth::BandwidthMemory;
use crate::harness::support::{
    bandwidth_memory, check_samples, kernel_crossval, merge_stream, outcome, parse_params,
    progress, stream_round, timestamp, BenchOutcome,
};
use crate::report::bench_report::ToolVersions;
use crate::report::{BenchReport, SCHEMA};
use crate::UsageError;

pub(crate) fn parse_shapes(spec: Option<&str>) -> Result<Vec<(usize, usize)>> {
    let Some(spec) = spec else {
        return Ok(BITNET_2B4T_SHAPES.to_vec());
    };
    spec.split(',')
        .map(|s| {
            let (m, k) = s
                .trim()
                .split_once('x')
                .ok_or_else(|| UsageError(format!("--shapes: `{s}` is not ROWSxCOLS")))?;
            let parse = |v: &str| {
                v.parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0 && n <= 1 << 20)
                    .ok_or_else(|| {
                        UsageError(format!(
                            "--shapes: `{v}` in `{s}` is not a size in 1..=1048576"
                        ))
                    })
            };
            Ok((parse(m)?, parse(k)?))
        })
        .collect()
}

/// Refuses shapes whose weights (one matrix cache-resident, at least two DRAM-streaming, per
/// weight layout the engines read) and activations do not fit in the memory this host has
/// available: a usage error, not an allocation abort halfway through the run.
fn check_shapes_fit(
    shapes: &[(usize, usize)],
    residencies: &[Residency],
    memory: &BandwidthMemory,
    layouts: u64,
    available: u64,
) -> Result<()> {
    for &(rows, cols) in shapes {
        // I2_S: 4 weights per byte; int8 activations and f32 outputs, one token.
        let matrix = (rows as u64 * cols as u64).div_ceil(4) + 64;
        let io = cols as u64 + 4 * rows as u64;
        for &res in residencies {
            let weights = match res {
                Residency::Cache => layouts * matrix,
                Residency::Dram => layouts * memory.dram_working_set_bytes().max(2 * matrix),
            };
            // Generating a ragged matrix holds one ternary byte per weight before packing.
            let needed = weights + rows as u64 * cols as u64 + io;
            if needed > available {
                bail!(UsageError(format!(
                    "--shapes: {rows}x{cols} ({}) needs {:.1} GiB but this host has {:.1} GiB available",
                    res.name(),
                    needed as f64 / f64::from(1u32 << 30),
                    available as f64 / f64::from(1u32 << 30)
                )));
            }
        }
    }
    Ok(())
}

fn parse_residency(spec: &str) -> Result<Vec<Residency>> {
    spec.split(',')
        .map(|s| match s.trim() {
            "cache" => Ok(Residency::Cache),
            "dram" => Ok(Residency::Dram),
            other => Err(UsageError(format!("--residency: `{other}` is not cache or dram")).into()),
        })
        .collect()
}

/// The configurations to measure: the one given, or every supported ISA with default tiling.
fn configs(params: Option<&str>) -> Result<Vec<KernelConfig>> {
    match params {
        Some(p) => Ok(vec![parse_params(p)?]),
        None => Ok(Isa::supported()
            .into_iter()
            .map(|isa| KernelConfig {
                isa: Some(isa),
                ..KernelConfig::default()
            })
            .collect()),
    }
}

/// Times every engine on every shape and residency (engines interleaved per workload), grouped
/// by kernel.
fn measure_all(
    engines: &[I2sGemm],
    shapes: &[(usize, usize)],
    residencies: &[Residency],
    memory: &BandwidthMemory,
    sampling: Sampling,
    pb: &indicatif::ProgressBar,
) -> Result<Vec<KernelResult>> {
    let mut kernels = Vec::new();
    let refs: Vec<&I2sGemm> = engines.iter().collect();
    for &(rows, cols) in shapes {
        for &res in residencies {
            pb.set_message(format!(
                "{rows}x{cols} {}: {} kernels interleaved",
                res.name(),
                refs.len()
            ));
            let layouts: Vec<_> = engines.iter().map(I2sGemm::weight_layout).collect();
            let workload =
                Workload::new(rows, cols, res, memory.dram_working_set_bytes(), &layouts)
                    .with_context(|| format!("prepare {rows}x{cols} ({})", res.name()))?;
            kernels.extend(
                measure_interleaved(&refs, &workload, sampling)
                    .with_context(|| format!("benchmark {rows}x{cols} ({})", res.name()))?,
            );
            pb.inc(1);
        }
    }
    // Group by kernel (stable: shapes and residencies keep their order within a kernel).
    kernels.sort_by_key(|k| {
        engines
            .iter()
            .position(|e| e.kernel_id() == k.kernel_id && e.config().to_string() == k.params)
    });
    Ok(kernels)
}

/// Runs the kernel suite.
pub fn run(args: &BenchArgs) -> Result<BenchOutcome> {
    check_samples(args.samples)?;
    let shapes = parse_shapes(args.shapes.as_deref())?;
    let residencies = parse_residency(&args.residency)?;
    let configs = configs(args.params.as_deref())?;
    let timestamp = timestamp()?;
    let host = HostFingerprint::detect();
    let memory = bandwidth_memory(args.bandwidth_mib, host.llc_bytes)?;
    let mut layouts: Vec<_> = configs.iter().map(KernelConfig::weight_layout).collect();
    layouts.sort_by_key(|l| l.name());
    layouts.dedup();
    check_shapes_fit(
        &shapes,
        &residencies,
        &memory,
        layouts.len() as u64,
        crate::harness::host::memory::available_bytes(),
    )?;
    let threads = configs.iter().map(|c| c.threads).max().unwrap_or(1);
    let sampling = Sampling {
        samples: args.samples,
        min_sample: Duration::from_millis(args.sample_ms),
    };
    let engines = configs
        .iter()
        .map(|c| I2sGemm::new(*c).with_context(|| format!("configure kernel {c}")))
        .collect::<Result<Vec<_>>>()?;
    let total =
        (shapes.len() * residencies.len() + 2 + usize::from(args.crossval) * engines.len()) as u64;
    let pb = progress(args.json, total);

    let mut crossval = None;
    if args.crossval {
        let mut out = Vec::new();
        for e in &engines {
            pb.set_message(format!("crossval {}", e.kernel_id()));
            out.push(kernel_crossval(e)?);
            pb.inc(1);
        }
        crossval = Some(out);
    }

    let snapshot = CpuSnapshot::take();
    let array_bytes = memory.stream_array_bytes();
    pb.set_message("STREAM bandwidth (before)");
    let before = stream_round(threads, array_bytes)?;
    pb.inc(1);
    let mut kernels = measure_all(&engines, &shapes, &residencies, &memory, sampling, &pb)?;
    pb.set_message("STREAM bandwidth (after)");
    let after = stream_round(threads, array_bytes)?;
    pb.finish_and_clear();
    let noise = NoiseVerdict::judge(snapshot.others_busy_cores_since(), args.noise_limit_cores);
    let memory_bandwidth = merge_stream(before, after)?;
    let read = memory_bandwidth.read_bytes_per_second();
    for k in &mut kernels {
        k.roofline_ratio = Some(k.bytes_per_second.median / read);
    }
    let mut kernel_ids: Vec<String> = engines.iter().map(|e| e.kernel_id().to_string()).collect();
    kernel_ids.dedup();
    let report = BenchReport {
        schema: SCHEMA.to_string(),
        commit: env!("PERFD_GIT_COMMIT").to_string(),
        timestamp,
        host,
        suite: "kernels".into(),
        backend: "cpu".into(),
        gpu: None,
        params: args
            .params
            .clone()
            .unwrap_or_else(|| "default per supported ISA".into()),
        kernel_ids,
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
        memory_bandwidth,
        crossval,
        model_crossval: None,
        peak_rss_bytes: peak_rss_bytes(),
        noise,
        tools: ToolVersions::current(),
    };
    outcome(&report, args.json, false)
}
