//! `perfd adapt llama-bench -- <command...>`: runs another engine's llama-bench (bitnet.cpp,
//! llama.cpp) with `-o json` and prints its results as a `bitnet-perfd/bench-report/v1` document,
//! with STREAM measured in this process before and after, so the decode roofline exists.
//!
//! The report's `commit` is the engine's own (llama-bench's `build_commit`); the daemon records a
//! run under the commit it checked out, whatever the report says.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::cli::AdaptArgs;
use crate::harness::host::noise::NoiseVerdict;
use crate::harness::host::HostFingerprint;
use crate::harness::support::{bandwidth_memory, merge_stream, stream_round, timestamp};
use crate::report::bench_report::ToolVersions;
use crate::report::llama_bench;
use crate::report::{BenchReport, SCHEMA};
use crate::runner::harness::MAX_CAUSE_CHARS;
use crate::runner::noise_watch::NoiseWatch;
use crate::UsageError;

/// How often the wait for llama-bench checks whether it has exited.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How often the noise watch looks for new processes in llama-bench's tree (as the daemon does:
/// scanning every process is not free, and llama-bench holds the cores we would scan from).
const NOISE_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// Most stdout kept from llama-bench (its JSON is a few KiB per result).
const MAX_STDOUT_BYTES: u64 = 64 << 20;

/// What llama-bench left behind.
struct Finished {
    status: ExitStatus,
    stdout: Vec<u8>,
    last_stderr_line: Option<String>,
    other_busy_cores: f64,
}

/// Runs `perfd adapt llama-bench` and returns the report's JSON text.
pub fn run(args: &AdaptArgs) -> Result<String> {
    if args.command.is_empty() {
        return Err(UsageError("give the llama-bench command after `--`".into()).into());
    }
    let command = llama_bench::json_command(&args.command).map_err(UsageError)?;
    let shown = command.join(" ");
    let timestamp = timestamp()?;
    let host = HostFingerprint::detect();
    let memory = bandwidth_memory(args.bandwidth_mib, host.llc_bytes)?;
    let array_bytes = memory.stream_array_bytes();
    // llama-bench's thread count is only known for sure from its results; until then, what the
    // command asks for, else llama-bench's default (the physical cores).
    let planned_threads = llama_bench::threads_arg(&command)
        .unwrap_or_else(|| host.physical_cores.unwrap_or(host.logical_cpus))
        .max(1);
    let before = stream_round(planned_threads, array_bytes)?;

    let finished =
        run_command(&command).with_context(|| format!("llama-bench command `{shown}`"))?;
    if !finished.status.success() {
        let cause = finished
            .last_stderr_line
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        return Err(anyhow!(
            "llama-bench command `{shown}` {}{cause}",
            describe(finished.status)
        ));
    }
    let adapted = llama_bench::adapt(&finished.stdout)
        .with_context(|| format!("llama-bench command `{shown}`"))?;
    // Peak RSS of the waited-for children: llama-bench (and a wrapper shell, if any), not the
    // STREAM arrays of this process.
    let peak_rss_bytes =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
            .ok()
            .and_then(|u| u64::try_from(u.max_rss()).ok())
            .filter(|&kib| kib > 0)
            .map(|kib| kib * 1024);

    let after = stream_round(adapted.threads, array_bytes)?;
    let memory_bandwidth = if before.threads == adapted.threads {
        merge_stream(before, after)?
    } else {
        // The guess was wrong: the roofline must be at the thread count llama-bench used, so the
        // round before (other threads) is dropped and a second round is measured now.
        let again = stream_round(adapted.threads, array_bytes)?;
        merge_stream(after, again)?
    };
    let decode_roofline = llama_bench::decode_roofline(
        &adapted.phases,
        adapted.weights_bytes,
        memory_bandwidth.read_bytes_per_second(),
    );
    let generation_128_seconds = adapted
        .phases
        .iter()
        .find(|p| p.phase == crate::report::Phase::Decode && p.tokens == 128)
        .map(|p| p.seconds.clone());
    let mut model = adapted.model;
    // llama-bench ran in this directory, so a relative model path resolves here too.
    model.file_bytes = std::fs::metadata(&model.path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let report = BenchReport {
        schema: SCHEMA.to_string(),
        commit: adapted.commit,
        timestamp,
        host,
        suite: "model".into(),
        backend: "cpu".into(),
        gpu: None,
        params: adapted.params,
        kernel_ids: adapted.kernel_ids,
        model: Some(model),
        phases: adapted.phases,
        generation_128_seconds,
        decode_roofline,
        decode_at_context: Vec::new(),
        comparison: None,
        decode_profile: Vec::new(),
        prefill_profile: Vec::new(),
        kernels: Vec::new(),
        memory_bandwidth,
        crossval: None,
        model_crossval: None,
        peak_rss_bytes,
        noise: NoiseVerdict::judge(finished.other_busy_cores, args.noise_limit_cores),
        tools: ToolVersions::current(),
    };
    Ok(serde_json::to_string_pretty(&report)? + "\n")
}

/// `exited with status N` or `was killed by signal N`.
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        (None, None) => format!("ended with {status}"),
    }
}

/// Runs the command to its end: stdout kept, stderr passed through to ours (the daemon logs it)
/// with its last non-empty line kept, and the CPU other processes used meanwhile (outside the
/// command's process tree and this process).
fn run_command(command: &[String]) -> Result<Finished> {
    let (program, args) = command.split_first().context("empty llama-bench command")?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{program}`"))?;
    let mut noise = NoiseWatch::start(child.id());
    let stdout = child.stdout.take().context("llama-bench stdout")?;
    let stderr = child.stderr.take().context("llama-bench stderr")?;
    let stdout_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout
            .take(MAX_STDOUT_BYTES)
            .read_to_end(&mut buf)
            .map(|_| buf)
    });
    let stderr_reader = std::thread::spawn(move || pass_through(stderr));
    let mut sampled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("wait for llama-bench")? {
            break status;
        }
        std::thread::sleep(POLL_INTERVAL);
        if sampled.elapsed() >= NOISE_SAMPLE_INTERVAL {
            noise.sample();
            sampled = Instant::now();
        }
    };
    let other_busy_cores = noise.finish();
    let stdout = stdout_reader
        .join()
        .map_err(|_| anyhow!("the stdout reader panicked"))?
        .context("read llama-bench's stdout")?;
    let last_stderr_line = stderr_reader.join().ok().flatten();
    Ok(Finished {
        status,
        stdout,
        last_stderr_line,
        other_busy_cores,
    })
}

/// Copies the child's stderr to ours line by line; returns its last non-empty line.
fn pass_through(stderr: impl Read) -> Option<String> {
    let mut reader = BufReader::new(stderr);
    let mut last = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                // Best effort: a closed stderr of ours must not stop llama-bench's being read.
                let _ = std::io::stderr().lock().write_all(&line);
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if !text.is_empty() {
                    last = Some(text.chars().take(MAX_CAUSE_CHARS).collect());
                }
            }
        }
    }
    last
}
