//! The harness side of a run: the embedded default's command lines, and reading the
//! `bitnet-perfd/bench-report/v1` document a harness prints.

use tokio::sync::watch;

use super::child_process::{self, CommandSpec};
use super::heartbeat::Heartbeat;
use super::run_failure::RunFailure;
use crate::config::BenchmarkSection;
use crate::harness::backend::{resolve_for_daemon, Backend};
use crate::report::{BenchReport, SCHEMA};

/// Runs a harness command and reads its report: the report and the cores other processes kept
/// busy meanwhile, or why there is none.
pub async fn run_report(
    spec: &CommandSpec,
    shutdown: &mut watch::Receiver<bool>,
    hb: &Heartbeat,
) -> Result<(BenchReport, f64), RunFailure> {
    let r = child_process::run(spec, shutdown, hb)
        .await
        .map_err(|e| RunFailure::Spawn {
            label: spec.label.clone(),
            cause: e.to_string(),
        })?;
    if !r.success() {
        let cause = last_error_line(&spec.log)
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        return Err(RunFailure::of_child(
            &r,
            &spec.label,
            spec.timeout,
            format!("{cause} (log: {})", spec.log.display()),
            RunFailure::HarnessFailed,
        ));
    }
    let report = parse_report(&r.stdout)
        .map_err(|reason| RunFailure::HarnessFailed(format!("{}: {reason}", spec.label)))?;
    Ok((report, r.other_busy_cores.unwrap_or(0.0)))
}

/// Longest line of a child's output kept in a run's reason.
pub const MAX_CAUSE_CHARS: usize = 400;

/// The last non-empty line a failed child wrote to its log (its error message, usually), so
/// the stored reason says why without opening the log file.
pub fn last_error_line(log: &std::path::Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(log).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(16 << 10))).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(MAX_CAUSE_CHARS).collect())
}

/// Arguments of the embedded model benchmark (`perfd bench --json ...`).
pub fn embedded_model_args(b: &BenchmarkSection) -> Vec<String> {
    let backend = resolve_for_daemon(&b.backend);
    let mut args = vec![
        "bench".to_string(),
        "--json".into(),
        "--backend".into(),
        backend.name().into(),
    ];
    match &b.model {
        Some(m) => args.extend(["--model".into(), m.display().to_string()]),
        None => args.extend(["--preset".into(), b.preset.clone()]),
    }
    args.extend([
        "--pp".into(),
        b.prompt_tokens.to_string(),
        "--tg".into(),
        b.gen_tokens.to_string(),
        "--reps".into(),
        b.reps.to_string(),
    ]);
    if !b.params.trim().is_empty() {
        args.extend(["--params".into(), b.params.clone()]);
    }
    if !b.context_positions.is_empty() {
        if backend == Backend::Cpu {
            let depths: Vec<String> = b.context_positions.iter().map(|n| n.to_string()).collect();
            args.extend(["--ctx".into(), depths.join(",")]);
        } else {
            // `backend = "auto"` chose CUDA, whose harness has no decode at depth (a config
            // asking for CUDA by name with depths is refused at load). Said once, like the
            // choice of backend itself.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                tracing::warn!(
                    "benchmark.context_positions ignored: the CUDA backend has no decode at depth"
                );
            });
        }
    }
    args.extend(bandwidth_args(b));
    args
}

/// `--bandwidth-mib N` when the configuration caps the bandwidth measurements' memory.
fn bandwidth_args(b: &BenchmarkSection) -> Vec<String> {
    b.bandwidth_memory_mib
        .map(|m| vec!["--bandwidth-mib".to_string(), m.to_string()])
        .unwrap_or_default()
}

/// Arguments of the embedded kernel benchmark: the configured kernel on the 2B-4T shapes,
/// DRAM-streaming (what decode sees), few samples.
pub fn embedded_kernel_args(b: &BenchmarkSection) -> Vec<String> {
    let backend = resolve_for_daemon(&b.backend);
    let params = match (b.params.trim().is_empty(), backend) {
        (false, _) => b.params.clone(),
        (true, Backend::Cpu) => "isa=auto".to_string(),
        // The CUDA launch defaults, spelled out so the suite measures one configuration.
        (true, Backend::Cuda) => bitnet_kernels::cuda::CudaLaunchParams::default().to_string(),
    };
    [
        "bench",
        "--kernels",
        "--json",
        "--backend",
        backend.name(),
        "--residency",
        "dram",
        "--samples",
        "5",
        "--sample-ms",
        "20",
        "--params",
        &params,
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(bandwidth_args(b))
    .collect()
}

/// Parses a harness's stdout; the error says what is wrong in a form fit for a run's reason.
pub fn parse_report(stdout: &[u8]) -> Result<BenchReport, String> {
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Err("harness printed no report on stdout".into());
    }
    let value: serde_json::Value = serde_json::from_slice(stdout)
        .map_err(|e| format!("harness output is not one JSON document: {e}"))?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA) => {}
        Some(other) => {
            return Err(format!(
                "harness report schema is `{other}`, expected `{SCHEMA}`"
            ))
        }
        None => {
            return Err(format!(
                "harness report has no `schema` (expected `{SCHEMA}`)"
            ))
        }
    }
    let report: BenchReport =
        serde_json::from_value(value).map_err(|e| format!("harness report is malformed: {e}"))?;
    if report.phases.is_empty() && report.kernels.is_empty() {
        return Err("harness report holds neither model phases nor kernel results".into());
    }
    if report
        .phases
        .iter()
        .any(|p| p.tokens_per_second.median <= 0.0 || !p.tokens_per_second.median.is_finite())
    {
        return Err("harness report has a phase without a positive tokens/sec figure".into());
    }
    Ok(report)
}

/// The perfd binary to run the embedded harness with: this executable.
pub fn self_exe() -> std::io::Result<std::path::PathBuf> {
    std::env::current_exe()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_reports_are_described() {
        assert!(parse_report(b"  \n").unwrap_err().contains("no report"));
        assert!(parse_report(b"{not json")
            .unwrap_err()
            .contains("not one JSON"));
        assert!(parse_report(br#"{"schema":"other/v9"}"#)
            .unwrap_err()
            .contains("other/v9"));
        assert!(parse_report(br#"{"x":1}"#)
            .unwrap_err()
            .contains("no `schema`"));
        assert!(
            parse_report(br#"{"schema":"bitnet-perfd/bench-report/v1"}"#)
                .unwrap_err()
                .contains("malformed")
        );
    }

    #[test]
    fn embedded_args_follow_the_config() {
        let mut b = BenchmarkSection::default();
        assert!(embedded_model_args(&b)
            .windows(2)
            .any(|w| w == ["--preset", "2b4t"]));
        b.model = Some("/m.gguf".into());
        b.params = "threads=1".into();
        let a = embedded_model_args(&b);
        assert!(a.windows(2).any(|w| w == ["--model", "/m.gguf"]));
        assert!(a.windows(2).any(|w| w == ["--params", "threads=1"]));
        assert!(embedded_kernel_args(&b)
            .windows(2)
            .any(|w| w == ["--params", "threads=1"]));
        assert!(!a.contains(&"--ctx".to_string()));
        b.backend = "cpu".into();
        b.context_positions = vec![1024, 4000];
        assert!(embedded_model_args(&b)
            .windows(2)
            .any(|w| w == ["--ctx", "1024,4000"]));
    }
}
