//! `perfd bench --backend cuda` (model suite): prefill and decode tokens/sec of a BitNet model on
//! the GPU, the decode step replayed as a CUDA graph, against the device copy bandwidth measured
//! before and after in the same run, with NVML sampled throughout and, with --crossval, the GPU's
//! logits and greedy tokens checked against the CPU scalar reference.

use bitnet_kernels::format::model_layout::ModelLayout;
use bitnet_kernels::gguf::Placement;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use bitnet_kernels::cpu::KvCacheType;
use bitnet_kernels::cuda::model_crossval::crossval_cuda_model;
use bitnet_kernels::cuda::session::{CudaSession, DeviceOpTimes, KERNEL_IDS};
use bitnet_kernels::cuda::{CudaModel, CudaRuntime};
use bitnet_kernels::format::embedding::EmbeddingFormat;
use bitnet_kernels::model::BitnetModel;
use bitnet_kernels::{I2sGemm, Isa, KernelConfig};

use super::cuda_support::{self, bandwidth_round, gpu_run, launch_params, noise, pooled_bandwidth};
use crate::cli::BenchArgs;
use crate::harness::host::gpu_telemetry::GpuSampler;
use crate::harness::host::noise::CpuSnapshot;
use crate::harness::host::rss::{peak_rss_bytes, reset_peak_rss};
use crate::harness::host::HostFingerprint;
use crate::harness::model_bench::{phase, prompt};
use crate::harness::model_cache::load_named;
use crate::harness::model_suite::{
    check_counts, decode_roofline, model_crossval_summary, model_info, CROSSVAL_PROMPT,
};
use crate::harness::support::{
    bandwidth_memory, merge_stream, outcome, progress, stream_round, timestamp, BenchOutcome,
};
use crate::report::bench_report::{CrossvalSummary, ModelCrossvalSummary, ToolVersions};
use crate::report::phase::OpShare;
use crate::report::{BenchReport, Phase, SCHEMA};
use crate::UsageError;

/// Decode steps of the warm-up (the first captures the graph).
const WARMUP_STEPS: usize = 4;

/// Flags of the CPU model suite the CUDA suite does not take.
fn refuse_cpu_only_flags(args: &BenchArgs) -> Result<()> {
    let refused = [
        ("--ctx", args.ctx.is_some()),
        ("--compare-embeddings", args.compare_embeddings.is_some()),
        ("--compare-model", args.compare_model.is_some()),
        ("--compare-weights", args.compare_weights.is_some()),
        ("--compare-layout", args.compare_layout.is_some()),
        ("--compare-lm-head", args.compare_lm_head.is_some()),
        (
            "--lm-head packed",
            args.lm_head == crate::cli::LmHeadArg::Packed,
        ),
        (
            "--layout lanes16",
            args.layout == crate::cli::LayoutArg::Lanes16,
        ),
        (
            "--layout trits16",
            args.layout == crate::cli::LayoutArg::Trits16,
        ),
        ("--compare-params", args.compare_params.is_some()),
        ("--compare-kv-cache", args.compare_kv_cache.is_some()),
        // The device session's cache is f32 (`auto` means f32 here).
        (
            "--kv-cache other than f32",
            !matches!(args.kv_cache.as_str(), "auto" | "f32"),
        ),
    ];
    if let Some((flag, _)) = refused.iter().find(|(_, set)| *set) {
        bail!(UsageError(format!(
            "{flag} is not available with --backend cuda (CPU model suite only)"
        )));
    }
    Ok(())
}

/// What the timed repetitions measured.
struct Measured {
    prefill: Vec<f64>,
    decode: Vec<f64>,
    kv_bytes_per_token: u64,
    /// Per-operation device time of a profiled decode (`--profile`).
    profile: Vec<OpShare>,
}

/// Per-operation shares of a profiled decode of `tokens` tokens.
fn shares(times: &DeviceOpTimes, tokens: usize) -> Vec<OpShare> {
    let total: f64 = times.seconds.iter().map(|(_, s)| s).sum();
    times
        .seconds
        .iter()
        .map(|&(op, secs)| OpShare {
            op: op.into(),
            seconds_per_token: secs / tokens.max(1) as f64,
            share: if total > 0.0 { secs / total } else { 0.0 },
            bytes_per_token: None,
        })
        .collect()
}

/// Prefill and decode seconds per repetition on the device.
fn measure(
    rt: &CudaRuntime,
    model: &CudaModel,
    args: &BenchArgs,
    tick: &dyn Fn(&str),
) -> Result<Measured> {
    let hp = *model.hparams();
    let mut session = CudaSession::new(rt, model, args.pp + args.tg, args.pp)
        .context("create the device session")?;
    let prompt = prompt(hp.vocab, args.pp);
    tick("warm-up (captures the decode graph)");
    session.reset()?;
    session.prefill(&prompt)?;
    for _ in 0..WARMUP_STEPS.min(args.tg) {
        session.decode_step()?;
    }
    rt.synchronize()?;
    let (mut prefill, mut decode) = (Vec::new(), Vec::new());
    for rep in 0..args.reps {
        tick(&format!(
            "repetition {}/{}: prefill + decode",
            rep + 1,
            args.reps
        ));
        session.reset()?;
        rt.synchronize()?;
        let t = Instant::now();
        session.prefill(&prompt)?;
        rt.synchronize()?;
        prefill.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for _ in 0..args.tg {
            session.decode_step()?;
        }
        rt.synchronize()?;
        decode.push(t.elapsed().as_secs_f64());
    }
    // The generated tokens must be real vocabulary ids: a decode that did nothing would leave
    // them unwritten and its timing meaningless.
    let generated = session.generated(args.tg + 1)?;
    if let Some(t) = generated.iter().find(|&&t| t as usize >= hp.vocab) {
        bail!(
            "the device decode produced token {t}, outside the vocabulary of {}",
            hp.vocab
        );
    }
    let kv: u64 = (args.pp..args.pp + args.tg)
        .map(|p| session.kv_bytes_read_at(p))
        .sum::<u64>()
        / args.tg as u64;
    let mut profile = Vec::new();
    if args.profile {
        tick("profiled decode (events around every kernel, no graph)");
        session.reset()?;
        session.prefill(&prompt)?;
        let times = session.profile_decode(args.tg)?;
        profile = shares(&times, args.tg);
    }
    Ok(Measured {
        prefill,
        decode,
        kv_bytes_per_token: kv,
        profile,
    })
}

fn crossval(
    rt: &CudaRuntime,
    device_model: &CudaModel,
    model: &BitnetModel,
    args: &BenchArgs,
) -> Result<(Vec<CrossvalSummary>, ModelCrossvalSummary)> {
    let kernel = vec![cuda_support::kernel_crossval(rt)?];
    let reference = I2sGemm::new(KernelConfig {
        isa: Some(Isa::Scalar),
        ..KernelConfig::default()
    })
    .context("configure the scalar reference")?;
    let r = crossval_cuda_model(
        rt,
        device_model,
        model,
        &reference,
        &CROSSVAL_PROMPT,
        args.crossval_steps,
    )
    .context("CUDA model-level cross-validation")?;
    Ok((kernel, model_crossval_summary(rt.params().to_string(), &r)))
}

/// Runs the CUDA model suite.
pub fn run(args: &BenchArgs) -> Result<BenchOutcome> {
    check_counts(args)?;
    refuse_cpu_only_flags(args)?;
    let params = launch_params(args.params.as_deref())?;
    let embeddings: EmbeddingFormat = args
        .embeddings
        .parse()
        .map_err(|e| UsageError(format!("--embeddings: {e}")))?;
    let rt = cuda_support::open(params)?;
    let timestamp = timestamp()?;
    let mut host = HostFingerprint::detect();
    host.gpu = Some(rt.info().name.clone());
    let memory = bandwidth_memory(args.bandwidth_mib, host.llc_bytes)?;
    let pb = progress(
        args.json,
        6 + args.reps as u64 + u64::from(args.crossval) + u64::from(args.profile),
    );
    let tick = |msg: &str| {
        pb.set_message(msg.to_string());
        pb.inc(1);
    };
    let note = |line: String| pb.println(line);

    tick("loading the model");
    let (model, preset) = load_named(
        args.model.as_deref(),
        &args.preset,
        embeddings,
        // The weights are uploaded to the device once; the host copy needs no huge pages. The
        // CUDA kernels read row-major I2_S.
        (Placement::Mapped, ModelLayout::AS_STORED),
        args.cache_dir.as_deref(),
        &note,
    )?;
    let hp = *model.hparams();
    if args.pp + args.tg > hp.context {
        bail!(UsageError(format!(
            "--pp {} + --tg {} exceed the model's context of {}",
            args.pp, args.tg, hp.context
        )));
    }
    tick("uploading the model to the GPU");
    let device_model = CudaModel::upload(&rt, &model).context("upload the model to the GPU")?;

    let (mut kernel_crossval, mut model_crossval) = (None, None);
    if args.crossval {
        tick(&format!(
            "crossval vs CPU scalar reference ({} greedy steps)",
            args.crossval_steps
        ));
        let (k, m) = crossval(&rt, &device_model, &model, args)?;
        (kernel_crossval, model_crossval) = (Some(k), Some(m));
    }

    let snapshot = CpuSnapshot::take();
    tick("host STREAM and device bandwidth (before)");
    let stream_before = stream_round(KernelConfig::default().threads, memory.stream_array_bytes())?;
    let device_before = bandwidth_round(&rt)?;
    let rss_reset = reset_peak_rss();
    let sampler = GpuSampler::start(rt.info().ordinal as u32, Duration::from_millis(100));
    let measured = measure(&rt, &device_model, args, &tick)?;
    let kv_bytes = measured.kv_bytes_per_token;
    let telemetry = sampler.and_then(GpuSampler::finish);
    let peak_rss = peak_rss_bytes().filter(|_| rss_reset);
    tick("host STREAM and device bandwidth (after)");
    let device_after = bandwidth_round(&rt)?;
    let stream_after = stream_round(KernelConfig::default().threads, memory.stream_array_bytes())?;
    pb.finish_and_clear();

    let noise = noise(&snapshot, args.noise_limit_cores, telemetry.as_ref());
    let bandwidth = pooled_bandwidth([device_before, device_after])?;
    let copy = bandwidth.copy_bytes_per_second.best();
    let phases = vec![
        phase(Phase::Prefill, args.pp, measured.prefill)?,
        phase(Phase::Decode, args.tg, measured.decode)?,
    ];
    let decode_roofline = decode_roofline(
        phases[1].tokens_per_second.median,
        device_model.decode_weight_bytes(),
        kv_bytes,
        "device-copy",
        copy,
    );
    let generation_128_seconds = (args.tg == 128).then(|| phases[1].seconds.clone());
    let report = BenchReport {
        schema: SCHEMA.to_string(),
        commit: env!("PERFD_GIT_COMMIT").to_string(),
        timestamp,
        host,
        suite: "model".into(),
        backend: "cuda".into(),
        gpu: Some(gpu_run(&rt, bandwidth, telemetry)),
        params: rt.params().to_string(),
        kernel_ids: KERNEL_IDS.iter().map(|s| s.to_string()).collect(),
        model: Some(model_info(&model, preset, KvCacheType::F32)),
        phases,
        generation_128_seconds,
        decode_roofline: Some(decode_roofline),
        decode_at_context: Vec::new(),
        comparison: None,
        peer: None,
        decode_profile: measured.profile,
        prefill_profile: Vec::new(),
        kernels: Vec::new(),
        memory_bandwidth: merge_stream(stream_before, stream_after)?,
        crossval: kernel_crossval,
        model_crossval,
        peak_rss_bytes: peak_rss,
        noise,
        tools: ToolVersions::current(),
    };
    outcome(&report, args.json, args.profile)
}
