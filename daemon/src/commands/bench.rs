//! `perfd bench`: the reference harness. Dispatches to the kernel suite or the model suite and
//! holds what both share: STREAM rounds before and after the work (pooled, so drift during the run
//! shows in the bandwidth's spread), progress display, the report skeleton.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use bitnet_kernels::crossval::{crossval, GUARD_SHAPES};
use bitnet_kernels::{I2sGemm, KernelConfig, ParamSpace};

use crate::bench::stream_bandwidth::{self, BandwidthMemory, StreamBandwidth, MIN_MEMORY_CAP_MIB};
use crate::cli::BenchArgs;
use crate::report::bench_report::CrossvalSummary;
use crate::stats::Summary;
use crate::UsageError;

use super::{bench_kernels, bench_model};

/// Timed STREAM repetitions per round (two rounds: before and after the work).
const STREAM_REPS: usize = 6;

/// What the command produced and whether it counts as success.
pub struct BenchOutcome {
    /// Text to print on stdout.
    pub stdout: String,
    /// Cross-validation failed somewhere.
    pub crossval_failed: bool,
}

/// Runs `perfd bench` with `args`.
pub fn run(args: &BenchArgs) -> Result<BenchOutcome> {
    if args.list_params {
        return list_params(args.json);
    }
    if let Some(dir) = &args.against {
        return super::crossval_against::run(args, dir);
    }
    if args.kernels {
        bench_kernels::run(args)
    } else {
        bench_model::run(args)
    }
}

fn list_params(json: bool) -> Result<BenchOutcome> {
    let space = ParamSpace::for_host();
    let stdout = if json {
        let params: Vec<_> = space
            .params
            .iter()
            .map(|p| serde_json::json!({"name": p.name, "doc": p.doc, "values": p.values}))
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({
            "params": params,
            "constraints": ["rows_per_task % row_tile == 0", "isa must be supported by this CPU"],
            "valid_configurations": space.configs().len(),
            "default": KernelConfig::default().to_string(),
        }))? + "\n"
    } else {
        format!("{space}\n")
    };
    Ok(BenchOutcome {
        stdout,
        crossval_failed: false,
    })
}

/// `--params` applied to the default configuration, as a usage error when invalid.
pub(crate) fn parse_params(spec: &str) -> Result<KernelConfig> {
    Ok(KernelConfig::default()
        .with_params(spec)
        .map_err(|e| UsageError(format!("--params: {e}")))?)
}

/// The current time as RFC 3339 UTC.
pub(crate) fn timestamp() -> Result<String> {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .context("format timestamp")
}

/// The memory plan of the bandwidth measurements, from `--bandwidth-mib` or the host.
pub(crate) fn bandwidth_memory(
    bandwidth_mib: Option<u64>,
    llc_bytes: Option<u64>,
) -> Result<BandwidthMemory> {
    if let Some(m) = bandwidth_mib {
        if m < MIN_MEMORY_CAP_MIB {
            return Err(UsageError(format!(
                "--bandwidth-mib {m} is too small to measure anything (at least {MIN_MEMORY_CAP_MIB})"
            ))
            .into());
        }
    }
    Ok(BandwidthMemory::new(
        llc_bytes,
        bandwidth_mib,
        crate::host::memory::available_bytes(),
    ))
}

/// One round of STREAM measurements.
pub(crate) fn stream_round(threads: usize, array_bytes: u64) -> Result<StreamBandwidth> {
    stream_bandwidth::measure(threads, array_bytes, STREAM_REPS)
        .context("STREAM bandwidth measurement produced no valid sample")
}

/// Pools the samples of the rounds before and after the work.
pub(crate) fn merge_stream(
    before: StreamBandwidth,
    after: StreamBandwidth,
) -> Result<StreamBandwidth> {
    let merge = |a: Summary, b: Summary, what: &str| {
        Summary::of(a.samples.into_iter().chain(b.samples).collect())
            .with_context(|| format!("STREAM {what} samples"))
    };
    Ok(StreamBandwidth {
        threads: before.threads,
        array_bytes: before.array_bytes,
        copy: merge(before.copy, after.copy, "copy")?,
        triad: merge(before.triad, after.triad, "triad")?,
        read: merge(before.read, after.read, "read")?,
    })
}

/// A progress bar on stderr, hidden in JSON mode.
pub(crate) fn progress(hidden: bool, total: u64) -> ProgressBar {
    let pb = ProgressBar::new(total);
    if hidden {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    } else {
        pb.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
        {
            pb.set_style(style);
        }
    }
    pb
}

/// Kernel-level cross-validation of one engine on the guard shapes.
pub(crate) fn kernel_crossval(engine: &I2sGemm) -> Result<CrossvalSummary> {
    let report = crossval(engine, GUARD_SHAPES, 0xC0FFEE)
        .with_context(|| format!("crossval of {}", engine.kernel_id()))?;
    Ok(CrossvalSummary {
        check: engine.kernel_id().to_string(),
        params: report.config.clone(),
        shapes: report
            .checks
            .iter()
            .map(|c| format!("{}x{}x{}", c.shape.rows, c.shape.cols, c.shape.tokens))
            .collect(),
        i32_mismatches: report.checks.iter().map(|c| c.i32_mismatches).sum(),
        max_abs_err: report.max_abs_err(),
        max_rel_err: report.max_rel_err(),
        max_nmse: report.checks.iter().map(|c| c.nmse).fold(0.0, f64::max),
        pass: report.passed(),
    })
}
