//! What the harness's suites share: STREAM rounds before and after the work (pooled, so drift
//! during the run shows in the bandwidth's spread), progress display, parameters, the crossval
//! summary and the outcome of `perfd bench`.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use bitnet_kernels::crossval::{crossval, GUARD_SHAPES};
use bitnet_kernels::{I2sGemm, KernelConfig};

use super::stream_bandwidth::{self, BandwidthMemory, StreamBandwidth, MIN_MEMORY_CAP_MIB};
use crate::report::bench_report::CrossvalSummary;
use crate::report::BenchReport;
use crate::stats::Summary;
use crate::UsageError;

/// Timed STREAM repetitions per round (two rounds: before and after the work).
const STREAM_REPS: usize = 6;

/// What the command produced and whether it counts as success.
pub struct BenchOutcome {
    /// Text to print on stdout.
    pub stdout: String,
    /// Cross-validation failed somewhere.
    pub crossval_failed: bool,
}

/// `--params` applied to the default configuration, as a usage error when invalid.
pub fn parse_params(spec: &str) -> Result<KernelConfig> {
    Ok(KernelConfig::default()
        .with_params(spec)
        .map_err(|e| UsageError(format!("--params: {e}")))?)
}

/// The current time as RFC 3339 UTC.
pub fn timestamp() -> Result<String> {
    crate::clock::rfc3339_now().context("format timestamp")
}

/// The memory plan of the bandwidth measurements, from `--bandwidth-mib` or the host.
pub fn bandwidth_memory(
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
        crate::harness::host::memory::available_bytes(),
    ))
}

/// One round of STREAM measurements.
pub fn stream_round(threads: usize, array_bytes: u64) -> Result<StreamBandwidth> {
    stream_bandwidth::measure(threads, array_bytes, STREAM_REPS)
        .context("STREAM bandwidth measurement produced no valid sample")
}

/// Pools the samples of the rounds before and after the work.
pub fn merge_stream(before: StreamBandwidth, after: StreamBandwidth) -> Result<StreamBandwidth> {
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
        read_pass: before.read_pass,
    })
}

/// `--samples` of the kernel suites: at least 3, for a median and an interval.
pub fn check_samples(samples: usize) -> Result<()> {
    if samples < 3 {
        return Err(UsageError(format!(
            "--samples {samples} is too few for a median and an interval (at least 3)"
        ))
        .into());
    }
    Ok(())
}

/// The outcome of a suite: its report as JSON or tables, and whether any cross-validation in it
/// failed (exit status 2).
pub fn outcome(report: &BenchReport, json: bool, profile: bool) -> Result<BenchOutcome> {
    let crossval_failed = report
        .crossval
        .as_ref()
        .is_some_and(|c| c.iter().any(|x| !x.pass))
        || report.model_crossval.as_ref().is_some_and(|m| !m.pass);
    let stdout = if json {
        serde_json::to_string_pretty(report)? + "\n"
    } else {
        super::human::render(report, profile)
    };
    Ok(BenchOutcome {
        stdout,
        crossval_failed,
    })
}

/// A progress bar on stderr, hidden in JSON mode.
pub fn progress(hidden: bool, total: u64) -> ProgressBar {
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
pub fn kernel_crossval(engine: &I2sGemm) -> Result<CrossvalSummary> {
    let report = crossval(engine, GUARD_SHAPES, 0xC0FFEE)
        .with_context(|| format!("crossval of {}", engine.kernel_id()))?;
    Ok(CrossvalSummary {
        check: engine.kernel_id().to_string(),
        batch_check: engine.batch_kernel_id().map(String::from),
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
