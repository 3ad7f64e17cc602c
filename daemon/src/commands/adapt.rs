//! `perfd adapt llama-bench -- <command...>`: runs another engine's llama-bench (bitnet.cpp,
//! llama.cpp) with `-o json` and prints its results as a `bitnet-perfd/bench-report/v1` document,
//! with STREAM measured in this process before and after, so the decode roofline exists.
//!
//! The report's `commit` is the engine's own (llama-bench's `build_commit`); the daemon records a
//! run under the commit it checked out, whatever the report says.

use std::path::Path;

use anyhow::Result;
use bitnet_kernels::gguf::decode_bytes::decode_read_bytes;
use bitnet_kernels::gguf::GgufFile;

use crate::cli::AdaptArgs;
use crate::harness::host::noise::NoiseVerdict;
use crate::harness::host::HostFingerprint;
use crate::harness::support::{bandwidth_memory, merge_stream, stream_round, timestamp};
use crate::report::bench_report::ToolVersions;
use crate::report::llama_bench;
use crate::report::{BenchReport, SCHEMA};
use crate::UsageError;

use super::llama_bench_child::run_llama_bench;

/// Runs `perfd adapt llama-bench` and returns the report's JSON text.
pub fn run(args: &AdaptArgs) -> Result<String> {
    if args.command.is_empty() {
        return Err(UsageError("give the llama-bench command after `--`".into()).into());
    }
    let command = llama_bench::json_command(&args.command).map_err(UsageError)?;
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

    let timeout = args.timeout.map(std::time::Duration::from_secs);
    let (adapted, other_busy_cores) = run_llama_bench(&command, timeout)?;
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
    let mut model = adapted.model;
    // llama-bench ran in this directory, so a relative model path resolves here too.
    model.file_bytes = std::fs::metadata(&model.path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    // The bytes a decoded token reads, from the file's own tensor table where the file is
    // readable here; llama-bench's `model_size` otherwise (an engine may count its own types
    // differently: bitnet.cpp prints 1.84 GB for the 1.18 GB 2B-4T I2_S file, which made its
    // roofline ratio 1.55x too high).
    let read_per_token = GgufFile::open(Path::new(&model.path))
        .ok()
        .and_then(|f| decode_read_bytes(&f))
        .or(adapted.weights_bytes);
    let decode_roofline = llama_bench::decode_roofline(
        &adapted.phases,
        read_per_token,
        memory_bandwidth.read_bytes_per_second(),
    );
    let generation_128_seconds = adapted
        .phases
        .iter()
        .find(|p| p.phase == crate::report::Phase::Decode && p.tokens == 128)
        .map(|p| p.seconds.clone());
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
        peer: None,
        decode_profile: Vec::new(),
        prefill_profile: Vec::new(),
        kernels: Vec::new(),
        memory_bandwidth,
        crossval: None,
        model_crossval: None,
        peak_rss_bytes,
        noise: NoiseVerdict::judge(other_busy_cores, args.noise_limit_cores),
        tools: ToolVersions::current(),
    };
    Ok(serde_json::to_string_pretty(&report)? + "\n")
}
