//! `perfd bench`: the reference harness. Measures STREAM bandwidth, then every requested kernel
//! configuration and shape, then STREAM again (both rounds pooled, so drift during the run shows in
//! the bandwidth's spread), and prints one report.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use bitnet_kernels::crossval::{crossval, GUARD_SHAPES};
use bitnet_kernels::{I2sGemm, Isa, KernelConfig, ParamSpace};

use crate::bench::kernel_bench::{self, Residency, Sampling, BITNET_2B4T_SHAPES};
use crate::bench::stream_bandwidth::{self, StreamBandwidth};
use crate::cli::BenchArgs;
use crate::host::noise::{CpuSnapshot, NoiseVerdict};
use crate::host::HostFingerprint;
use crate::report::bench_report::{CrossvalSummary, ToolVersions};
use crate::report::{human, BenchReport, SCHEMA};
use crate::stats::Summary;
use crate::UsageError;

/// Timed STREAM repetitions per round (two rounds: before and after the kernels).
const STREAM_REPS: usize = 6;

/// What the command produced and whether it counts as success.
pub struct BenchOutcome {
    /// Text to print on stdout.
    pub stdout: String,
    /// Cross-validation failed somewhere.
    pub crossval_failed: bool,
}

fn parse_shapes(spec: Option<&str>) -> Result<Vec<(usize, usize)>> {
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
        Some(p) => Ok(vec![KernelConfig::default()
            .with_params(p)
            .map_err(|e| UsageError(format!("--params: {e}")))?]),
        None => Ok(Isa::supported()
            .into_iter()
            .map(|isa| KernelConfig {
                isa: Some(isa),
                ..KernelConfig::default()
            })
            .collect()),
    }
}

fn merge(a: Summary, b: Summary) -> Option<Summary> {
    Summary::of(a.samples.into_iter().chain(b.samples).collect())
}

fn stream_round(threads: usize, array_bytes: u64) -> Result<StreamBandwidth> {
    stream_bandwidth::measure(threads, array_bytes, STREAM_REPS)
        .context("STREAM bandwidth measurement produced no valid sample")
}

fn progress(hidden: bool, total: u64) -> ProgressBar {
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

/// Runs `perfd bench` with `args`.
pub fn run(args: &BenchArgs) -> Result<BenchOutcome> {
    if args.list_params {
        let space = ParamSpace::for_host();
        let stdout = if args.json {
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
        return Ok(BenchOutcome {
            stdout,
            crossval_failed: false,
        });
    }
    if !args.kernels {
        bail!(UsageError(
            "nothing to run: pass --kernels (the model benchmark is not built yet)".into()
        ));
    }
    if args.samples < 3 {
        bail!(UsageError(format!(
            "--samples {} is too few for a median and an interval (at least 3)",
            args.samples
        )));
    }
    let shapes = parse_shapes(args.shapes.as_deref())?;
    let residencies = parse_residency(&args.residency)?;
    let configs = configs(args.params.as_deref())?;
    let timestamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .context("format timestamp")?;
    let host = HostFingerprint::detect();
    let llc = host.llc_bytes.unwrap_or(32 << 20);
    let threads = configs.iter().map(|c| c.threads).max().unwrap_or(1);
    let sampling = Sampling {
        samples: args.samples,
        min_sample: Duration::from_millis(args.sample_ms),
    };

    let engines = configs
        .iter()
        .map(|c| I2sGemm::new(*c).with_context(|| format!("configure kernel {c}")))
        .collect::<Result<Vec<_>>>()?;
    let total = (engines.len() * shapes.len() * residencies.len()
        + 2
        + usize::from(args.crossval) * engines.len()) as u64;
    let pb = progress(args.json, total);

    let mut crossval_results = None;
    if args.crossval {
        let mut out = Vec::new();
        for e in &engines {
            pb.set_message(format!("crossval {}", e.kernel_id()));
            let report = crossval(e, GUARD_SHAPES, 0xC0FFEE)
                .with_context(|| format!("crossval of {}", e.kernel_id()))?;
            out.push(CrossvalSummary {
                check: e.kernel_id().to_string(),
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
            });
            pb.inc(1);
        }
        crossval_results = Some(out);
    }

    let snapshot = CpuSnapshot::take();
    let array_bytes = stream_bandwidth::array_bytes_for(host.llc_bytes);
    pb.set_message("STREAM bandwidth (before)");
    let before = stream_round(threads, array_bytes)?;
    pb.inc(1);
    let mut kernels = Vec::new();
    for e in &engines {
        for &(rows, cols) in &shapes {
            for &res in &residencies {
                pb.set_message(format!("{} {rows}x{cols} {}", e.kernel_id(), res.name()));
                kernels.push(
                    kernel_bench::measure(e, rows, cols, res, llc, sampling).with_context(
                        || {
                            format!(
                                "benchmark {} on {rows}x{cols} ({})",
                                e.kernel_id(),
                                res.name()
                            )
                        },
                    )?,
                );
                pb.inc(1);
            }
        }
    }
    pb.set_message("STREAM bandwidth (after)");
    let after = stream_round(threads, array_bytes)?;
    pb.finish_and_clear();
    let noise = NoiseVerdict::judge(snapshot.others_busy_cores_since(), args.noise_limit_cores);
    let memory_bandwidth = StreamBandwidth {
        threads,
        array_bytes: before.array_bytes,
        copy: merge(before.copy, after.copy).context("STREAM copy samples")?,
        triad: merge(before.triad, after.triad).context("STREAM triad samples")?,
        read: merge(before.read, after.read).context("STREAM read samples")?,
    };
    let stream = memory_bandwidth.stream_bytes_per_second();
    for k in &mut kernels {
        k.roofline_ratio = Some(k.bytes_per_second.median / stream);
    }
    let mut kernel_ids: Vec<String> = engines.iter().map(|e| e.kernel_id().to_string()).collect();
    kernel_ids.dedup();
    let report = BenchReport {
        schema: SCHEMA.to_string(),
        commit: env!("PERFD_GIT_COMMIT").to_string(),
        timestamp,
        host,
        suite: "kernels".into(),
        params: args
            .params
            .clone()
            .unwrap_or_else(|| "default per supported ISA".into()),
        kernel_ids,
        kernels,
        memory_bandwidth,
        crossval: crossval_results,
        noise,
        tools: ToolVersions::current(),
    };
    let crossval_failed = report
        .crossval
        .as_ref()
        .is_some_and(|c| c.iter().any(|x| !x.pass));
    let stdout = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        human::render(&report)
    };
    Ok(BenchOutcome {
        stdout,
        crossval_failed,
    })
}
