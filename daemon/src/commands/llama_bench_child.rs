//! Running a llama-bench process (bitnet.cpp's or llama.cpp's) to its end: stdout kept, stderr
//! passed through, the CPU other processes used meanwhile measured, its JSON results read.
//! Shared by `perfd adapt llama-bench` and `perfd bench --compare-llama-bench`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::report::llama_bench::{self, Adapted};
use crate::runner::harness::MAX_CAUSE_CHARS;
use crate::runner::noise_watch::NoiseWatch;

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

/// Runs a llama-bench command (with `-o json`) and reads its results: an error naming the
/// command when it cannot start, exits unsuccessfully (its status and last stderr line), runs
/// past `timeout` (then it is killed) or prints something else than its JSON results. Returns
/// the results and the CPU other processes used meanwhile.
pub(crate) fn run_llama_bench(
    command: &[String],
    timeout: Option<Duration>,
) -> Result<(Adapted, f64)> {
    let shown = command.join(" ");
    let finished =
        run_command(command, timeout).with_context(|| format!("llama-bench command `{shown}`"))?;
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
    Ok((adapted, finished.other_busy_cores))
}

/// llama-bench's usage text (`program --help`, stdout), or an error when it cannot be had within
/// `timeout` (a program that is no llama-bench may not stop).
pub(crate) fn llama_bench_help(program: &Path, timeout: Duration) -> Result<String> {
    let command = [program.display().to_string(), "--help".into()];
    let shown = command.join(" ");
    let finished = run_command(&command, Some(timeout)).with_context(|| format!("`{shown}`"))?;
    if !finished.status.success() {
        return Err(anyhow!("`{shown}` {}", describe(finished.status)));
    }
    Ok(String::from_utf8_lossy(&finished.stdout).into_owned())
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
fn run_command(command: &[String], timeout: Option<Duration>) -> Result<Finished> {
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
    let started = Instant::now();
    let mut sampled = started;
    let status = loop {
        if let Some(status) = child.try_wait().context("wait for llama-bench")? {
            break status;
        }
        if let Some(limit) = timeout.filter(|&t| started.elapsed() >= t) {
            child.kill().context("kill the overdue llama-bench")?;
            // Reaped so no zombie stays; the reader threads are left to end with the pipes (a
            // grandchild of a wrapper script may still hold them, and must not hang us).
            child.wait().context("reap the killed llama-bench")?;
            return Err(anyhow!(
                "did not finish within {} s and was killed (a hung or far too slow peer; \
                 the limit is --peer-timeout for perfd bench, --timeout for perfd adapt)",
                limit.as_secs()
            ));
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
