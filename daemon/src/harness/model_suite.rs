//! `perfd bench` (model suite, the default): prefill and decode tokens/sec of a BitNet model —
//! a file, or a synthetic preset written to the cache on first use — between two STREAM rounds,
//! with the decode roofline, per-op profile and peak memory of the same run.

use std::path::Path;

use anyhow::{bail, Context, Result};

use bitnet_kernels::cpu::KvCacheType;
use bitnet_kernels::format::embedding::EmbeddingFormat;
use bitnet_kernels::format::model_layout::{LmHeadLayout, ModelLayout};
use bitnet_kernels::format::ternary_layout::TernaryLayout;
use bitnet_kernels::gguf::Placement;
use bitnet_kernels::model::model_crossval::{crossval_model, ModelCrossval};
use bitnet_kernels::model::{BitnetModel, Preset};
use bitnet_kernels::{I2sGemm, Isa, KernelConfig};

use crate::cli::{BenchArgs, LayoutArg, LmHeadArg};
use crate::harness::host::noise::{CpuSnapshot, NoiseVerdict};
use crate::harness::host::rss::{peak_rss_bytes, reset_peak_rss};
use crate::harness::host::HostFingerprint;
use crate::harness::model_bench::{self, ContextRun, ModelBenchResult, ModelBenchSpec};
use crate::harness::model_cache::load_named;
use crate::harness::peer::{PeerEngine, PeerSamples};
use crate::harness::support::{
    bandwidth_memory, kernel_crossval, merge_stream, outcome, parse_params, progress, stream_round,
    timestamp, BenchOutcome,
};
use crate::report::bench_report::{
    ComparedContextDecode, Comparison, ContextDecode, CrossvalSummary, DecodeRoofline,
    ModelCrossvalSummary, ModelInfo, SameWindowRoofline, ToolVersions,
};
use crate::report::{BenchReport, Phase, SCHEMA};
use crate::stats::Summary;
use crate::UsageError;

/// Prompt of the model-level cross-validation (fixed, so reports are comparable).
pub(crate) const CROSSVAL_PROMPT: [u32; 4] = [1, 2, 3, 4];

pub(crate) fn model_info(
    model: &BitnetModel,
    preset: Option<Preset>,
    kv_cache: KvCacheType,
) -> ModelInfo {
    let hp = model.hparams();
    ModelInfo {
        path: model.source().to_string(),
        preset: preset.map(|p| p.name().to_string()),
        name: model.metadata_str("general.name").map(String::from),
        architecture: Some(hp.arch.name().to_string()),
        layers: Some(hp.layers),
        hidden: Some(hp.hidden),
        ffn: Some(hp.ffn),
        heads: Some(hp.heads),
        kv_heads: Some(hp.kv_heads),
        vocab: Some(hp.vocab),
        file_bytes: Some(model.file_bytes()),
        weights_placement: Some(model.placement().name().to_string()),
        weights_layout: Some(model.weight_layout().name().to_string()),
        lm_head_layout: Some(model.embedding_rows().name().to_string()),
        weights_huge_page_bytes: model.huge_page_bytes(),
        kv_cache: Some(kv_cache.name().to_string()),
    }
}

/// The `--kv-cache` type; `auto` is [`KvCacheType::BENCH_DEFAULT`].
pub(crate) fn kv_cache_type(args: &BenchArgs) -> Result<KvCacheType> {
    if args.kv_cache == "auto" {
        return Ok(KvCacheType::BENCH_DEFAULT);
    }
    args.kv_cache
        .parse()
        .map_err(|e: String| UsageError(format!("--kv-cache: {e} (or auto)")).into())
}

/// Counts that must be at least 1.
pub(crate) fn check_counts(args: &BenchArgs) -> Result<()> {
    for (flag, v) in [
        ("--pp", args.pp),
        ("--tg", args.tg),
        ("--reps", args.reps),
        ("--crossval-steps", args.crossval_steps),
    ] {
        if v == 0 {
            bail!(UsageError(format!("{flag} must be at least 1")));
        }
    }
    Ok(())
}

/// Kernel and model cross-validation of `engine` against the scalar reference.
fn crossval(
    args: &BenchArgs,
    model: &BitnetModel,
    engine: &I2sGemm,
    config: KernelConfig,
    kv_cache: KvCacheType,
) -> Result<(Vec<CrossvalSummary>, ModelCrossvalSummary)> {
    let kernel = vec![kernel_crossval(engine)?];
    let reference = I2sGemm::new(KernelConfig {
        isa: Some(Isa::Scalar),
        ..config
    })
    .context("configure the scalar reference")?;
    let r = crossval_model(
        model,
        engine,
        &reference,
        kv_cache,
        &CROSSVAL_PROMPT,
        args.crossval_steps,
    )
    .context("model-level cross-validation")?;
    Ok((kernel, model_crossval_summary(config.to_string(), &r)))
}

/// Decode at `tokens_per_second` against a bandwidth roofline of the same run (`bandwidth`
/// names it: `read` for the CPU's read-only pass, `device-copy` for a GPU's copy kernel): the
/// weights and the KV bytes a token reads, over the bandwidth.
pub(crate) fn decode_roofline(
    tokens_per_second: f64,
    weight_bytes: u64,
    kv_bytes: u64,
    bandwidth: &str,
    bytes_per_second: f64,
) -> DecodeRoofline {
    let bytes_per_token = weight_bytes + kv_bytes;
    let roofline_tokens_per_second = bytes_per_second / bytes_per_token as f64;
    DecodeRoofline {
        bandwidth: bandwidth.into(),
        bandwidth_bytes_per_second: bytes_per_second,
        bytes_per_token,
        kv_bytes_per_token: kv_bytes,
        roofline_tokens_per_second,
        ratio: tokens_per_second / roofline_tokens_per_second,
        same_window: None,
    }
}

/// Each repetition's decode (`tokens_per_second`, in order) against the bandwidth read right
/// after it (`window_read`, bytes/s, the same order), for `bytes_per_token` read per token.
pub(crate) fn same_window_roofline(
    tokens_per_second: &Summary,
    window_read: &[f64],
    bytes_per_token: u64,
) -> Result<SameWindowRoofline> {
    if window_read.len() != tokens_per_second.samples.len() {
        bail!(
            "{} read passes for {} decode repetitions",
            window_read.len(),
            tokens_per_second.samples.len()
        );
    }
    let ratios = tokens_per_second
        .samples
        .iter()
        .zip(window_read)
        .map(|(&tps, &read)| tps * bytes_per_token as f64 / read)
        .collect();
    Ok(SameWindowRoofline {
        read_bytes_per_second: Summary::of(window_read.to_vec())
            .context("no valid read pass between repetitions")?,
        ratio: Summary::of(ratios).context("no valid same-window ratio")?,
    })
}

/// The report's summary of a model-level cross-validation run with `params`.
pub(crate) fn model_crossval_summary(params: String, r: &ModelCrossval) -> ModelCrossvalSummary {
    ModelCrossvalSummary {
        params,
        prompt: CROSSVAL_PROMPT.to_vec(),
        steps: r.steps,
        positions: r.positions,
        max_abs_diff: r.max_abs_diff,
        min_cosine: r.min_cosine,
        tokens_identical: r.tokens == r.reference_tokens,
        pass: r.pass,
    }
}

/// `--weights`: where the model's bytes live during the run.
fn placement(args: &BenchArgs) -> Result<Placement> {
    Ok(args
        .weights
        .parse()
        .map_err(|e| UsageError(format!("--weights: {e}")))?)
}

/// Where the compared model's bytes live: `--compare-weights`, else as the main model's.
fn compared_placement(args: &BenchArgs) -> Result<Placement> {
    match &args.compare_weights {
        Some(p) => Ok(p
            .parse()
            .map_err(|e| UsageError(format!("--compare-weights: {e}")))?),
        None => placement(args),
    }
}

/// `--layout` / `--compare-layout`: `auto` is what `engine` reads fastest.
fn weight_layout(value: LayoutArg, engine: &I2sGemm) -> TernaryLayout {
    match value {
        LayoutArg::Auto => engine.weight_layout(),
        LayoutArg::RowMajor => TernaryLayout::RowMajor,
        LayoutArg::Lanes16 => TernaryLayout::Lanes16,
        LayoutArg::Trits16 => TernaryLayout::Trits16,
    }
}

/// `--lm-head` / `--compare-lm-head`: `auto` is what `engine`'s lm_head kernel reads fastest.
fn lm_head_layout(value: LmHeadArg, engine: &I2sGemm) -> LmHeadLayout {
    match value {
        LmHeadArg::Auto => engine.config().lm_head_layout(),
        LmHeadArg::AsStored => LmHeadLayout::AsStored,
        LmHeadArg::Packed => LmHeadLayout::Packed,
    }
}

/// An embedding format named on the command line (`flag` for the usage error).
fn embedding_format(flag: &str, value: &str) -> Result<EmbeddingFormat> {
    Ok(value
        .parse()
        .map_err(|e| UsageError(format!("{flag}: {e}")))?)
}

/// The second model of `--compare-embeddings` / `--compare-model` / `--compare-weights`, if
/// asked for (with `--compare-weights` alone: the main model's file, placed the other way).
fn compare_model(
    args: &BenchArgs,
    layout: ModelLayout,
    note: &dyn Fn(String),
) -> Result<Option<(BitnetModel, Option<Preset>)>> {
    let placement = compared_placement(args)?;
    let embeddings = match (&args.compare_embeddings, &args.compare_model) {
        (Some(f), _) => embedding_format("--compare-embeddings", f)?,
        (None, Some(path)) => {
            let model = BitnetModel::load_as(path, placement, layout)
                .with_context(|| format!("--compare-model: load {}", path.display()))?;
            return Ok(Some((model, None)));
        }
        (None, None)
            if args.compare_weights.is_some()
                || args.compare_layout.is_some()
                || args.compare_lm_head.is_some() =>
        {
            embedding_format("--embeddings", &args.embeddings)?
        }
        (None, None) => return Ok(None),
    };
    // `--compare-embeddings` conflicts with `--model`, so a file here is `--compare-weights`'s.
    load_named(
        args.model.as_deref(),
        &args.preset,
        embeddings,
        (placement, layout),
        args.cache_dir.as_deref(),
        note,
    )
    .map(Some)
}

/// The compared model's figures and its ratios to the baseline's.
#[allow(clippy::too_many_arguments)]
fn comparison(
    model: &BitnetModel,
    preset: Option<Preset>,
    kv_cache: KvCacheType,
    params: Option<String>,
    result: ModelBenchResult,
    baseline: &ModelBenchResult,
    read: f64,
) -> Result<Comparison> {
    let decode_roofline = model_roofline(model, &result, read)?;
    let ratios = model_bench::phase_ratios(&result.phases, &baseline.phases);
    Ok(Comparison {
        model: model_info(model, preset, kv_cache),
        params,
        kernel_ids: result.kernel_ids,
        phases: result.phases,
        decode_roofline,
        ratios,
        decode_profile: result.decode_profile,
        decode_at_context: Vec::new(),
    })
}

/// Decode at one depth (on `model`) against its roofline, run-wide and in the same window.
fn context_decode(
    model: &BitnetModel,
    c: ContextRun,
    tokens: usize,
    read: f64,
) -> Result<ContextDecode> {
    let mut roofline = decode_roofline(
        c.tokens_per_second.median,
        model.decode_weight_bytes(),
        c.kv_bytes_per_token,
        "read",
        read,
    );
    roofline.same_window = Some(same_window_roofline(
        &c.tokens_per_second,
        &c.window_read,
        roofline.bytes_per_token,
    )?);
    Ok(ContextDecode {
        positions: c.positions,
        tokens,
        roofline,
        tokens_per_second: c.tokens_per_second,
        decode_profile: c.decode_profile,
    })
}

/// The decode phase of `result` (on `model`) against the read roofline.
fn model_roofline(
    model: &BitnetModel,
    result: &ModelBenchResult,
    read: f64,
) -> Result<DecodeRoofline> {
    let decode = result
        .phases
        .iter()
        .find(|p| p.phase == Phase::Decode)
        .context("decode phase missing")?;
    let mut roofline = decode_roofline(
        decode.tokens_per_second.median,
        model.decode_weight_bytes(),
        result.kv_bytes_per_token,
        "read",
        read,
    );
    roofline.same_window = Some(same_window_roofline(
        &decode.tokens_per_second,
        &result.decode_window_read,
        roofline.bytes_per_token,
    )?);
    Ok(roofline)
}

/// The best of `stream_read` and every finite read figure of `window_reads` (bytes/s).
fn run_best_read<'a>(stream_read: f64, window_reads: impl Iterator<Item = &'a f64>) -> f64 {
    window_reads
        .copied()
        .filter(|r| r.is_finite())
        .fold(stream_read, f64::max)
}

/// `--ctx 128,1024,4096`: positions, each ≥ 1 and with room for `--tg` tokens in the context.
fn parse_ctx(spec: Option<&str>, tg: usize, context: usize) -> Result<Vec<usize>> {
    let Some(spec) = spec else {
        return Ok(Vec::new());
    };
    spec.split(',')
        .map(|part| {
            let n: usize = part.trim().parse().map_err(|_| {
                UsageError(format!("--ctx: `{part}` is not a number of positions"))
            })?;
            if n == 0 || n + tg > context {
                bail!(UsageError(format!(
                    "--ctx {n}: must be 1 to {} (the --tg {tg} decoded tokens follow it within the model's context of {context})",
                    context.saturating_sub(tg)
                )));
            }
            Ok(n)
        })
        .collect()
}

/// Runs the model suite, with `peer` run between the repetitions when given.
pub fn run(args: &BenchArgs, peer: Option<&mut dyn PeerEngine>) -> Result<BenchOutcome> {
    check_counts(args)?;
    let config = match &args.params {
        Some(p) => parse_params(p)?,
        None => KernelConfig::default(),
    };
    let embeddings = embedding_format("--embeddings", &args.embeddings)?;
    let kv_cache = kv_cache_type(args)?;
    let engine = I2sGemm::new(config).with_context(|| format!("configure kernels {config}"))?;
    let main_layout = ModelLayout {
        ternary: weight_layout(args.layout, &engine),
        lm_head: lm_head_layout(args.lm_head, &engine),
    };
    let timestamp = timestamp()?;
    let host = HostFingerprint::detect();
    let memory = bandwidth_memory(args.bandwidth_mib, host.llc_bytes)?;
    let ctx_runs = args.ctx.as_deref().map_or(0, |c| c.split(',').count()) as u64;
    let peer_runs = u64::from(peer.is_some());
    // Each depth runs the peer's repetitions too; a compared model's decode alternates with the
    // main one's a token at a time, under the same progress steps.
    let ctx_reps = ctx_runs * (1 + peer_runs);
    let pb = progress(
        args.json,
        5 + (2 + ctx_reps + peer_runs) * args.reps as u64 + u64::from(args.crossval),
    );
    let note = |line: String| pb.println(line);

    // The main model's file or preset, its codes in `layout`.
    let load_main = |layout| {
        load_named(
            args.model.as_deref(),
            &args.preset,
            embeddings,
            (placement(args)?, layout),
            args.cache_dir.as_deref(),
            &note,
        )
    };
    pb.set_message("loading the model");
    let (model, preset) = load_main(main_layout)?;
    pb.inc(1);
    let hp = *model.hparams();
    let positions = args.pp + args.tg;
    if positions > hp.context {
        bail!(UsageError(format!(
            "--pp {} + --tg {} = {positions} positions exceed the model's context of {}",
            args.pp, args.tg, hp.context
        )));
    }
    let contexts = parse_ctx(args.ctx.as_deref(), args.tg, hp.context)?;
    if let (Some(p), false) = (&peer, contexts.is_empty()) {
        p.check_depth_support()
            .context("the peer cannot decode after a cache depth (--ctx)")?;
    }
    let candidate_engine = match &args.compare_params {
        Some(p) => {
            let c = config
                .with_params(p)
                .map_err(|e| UsageError(format!("--compare-params: {e}")))?;
            Some(
                I2sGemm::sharing_pool(c, &engine)
                    .with_context(|| format!("configure kernels {c}"))?,
            )
        }
        None => None,
    };
    pb.set_message("loading the model to compare with");
    // Each side's model in the layout its own kernels read: `--compare-params` across layouts
    // (e.g. isa=avx2 against the lanes16 VNNI kernel) loads the main model a second time.
    let side = candidate_engine.as_ref().unwrap_or(&engine);
    let candidate_layout = ModelLayout {
        ternary: match (&args.compare_layout, &candidate_engine) {
            (Some(l), _) => weight_layout(*l, side),
            (None, Some(e)) if args.layout == LayoutArg::Auto => e.weight_layout(),
            (None, _) => main_layout.ternary,
        },
        lm_head: match (args.compare_lm_head, &candidate_engine) {
            (Some(l), _) => lm_head_layout(l, side),
            (None, Some(e)) if args.lm_head == LmHeadArg::Auto => e.config().lm_head_layout(),
            (None, _) => main_layout.lm_head,
        },
    };
    let candidate_model = match compare_model(args, candidate_layout, &note)? {
        None if candidate_layout != main_layout => Some(load_main(candidate_layout)?),
        m => m,
    };
    let candidate_kv = match &args.compare_kv_cache {
        Some(t) => t
            .parse()
            .map_err(|e: String| UsageError(format!("--compare-kv-cache: {e}")))?,
        None => kv_cache,
    };
    // The compared side: another model, other kernel parameters, another KV cache, or several.
    let candidate = match (&candidate_model, &candidate_engine) {
        (None, None) if args.compare_kv_cache.is_none() => None,
        (m, e) => Some((
            m.as_ref().map_or(&model, |(m, _)| m),
            m.as_ref().map_or(preset, |(_, p)| *p),
            e.as_ref().unwrap_or(&engine),
        )),
    };
    if let Some((m, _, _)) = &candidate {
        if positions > m.hparams().context {
            bail!(UsageError(format!(
                "--pp {} + --tg {} = {positions} positions exceed the compared model's context of {}",
                args.pp,
                args.tg,
                m.hparams().context
            )));
        }
        parse_ctx(args.ctx.as_deref(), args.tg, m.hparams().context)
            .context("the compared model decodes at every --ctx depth too")?;
    }
    pb.inc(1);

    let (mut crossval, mut model_crossval) = (None, None);
    if args.crossval {
        pb.set_message(format!(
            "crossval vs scalar reference ({} greedy steps)",
            args.crossval_steps
        ));
        let (k, m) = self::crossval(args, &model, &engine, config, kv_cache)?;
        (crossval, model_crossval) = (Some(k), Some(m));
        pb.inc(1);
    }

    let snapshot = CpuSnapshot::take();
    let array_bytes = memory.stream_array_bytes();
    pb.set_message("STREAM bandwidth (before)");
    let before = stream_round(config.threads, array_bytes)?;
    pb.inc(1);
    // Peak memory is the model's, not the STREAM arrays' (freed by now): start counting here.
    let rss_reset = reset_peak_rss();
    let spec = ModelBenchSpec {
        prompt_tokens: args.pp,
        gen_tokens: args.tg,
        reps: args.reps,
        kv_cache,
    };
    let tick = |msg: &str| {
        pb.set_message(msg.to_string());
        pb.inc(u64::from(msg.contains("repetition")));
    };
    // The peer with the command of its every run.
    let mut peer = peer.map(|p| {
        let command = p.command(Path::new(model.source()), spec, config.threads);
        (p, command)
    });
    let mut peer_samples = PeerSamples::default();
    let (result, candidate_result) = match (&candidate, &mut peer) {
        (Some((m, _, e)), _) => {
            let (a, b) =
                model_bench::run_pair((&model, &engine), (m, e), spec, candidate_kv, &tick)
                    .context("model benchmark (compared pair)")?;
            (a, Some(b))
        }
        (None, Some((p, command))) => {
            // The peer's processes have exited by the noise guard's second snapshot, so their
            // CPU is not counted as other processes' (it is this benchmark's own work).
            let mut run_peer = |label: &str| -> Result<()> {
                tick(&format!("{label}{}", command.join(" ")));
                let run = p.run(command)?;
                // The peer's memory window, read as perfd's is after each of its repetitions.
                let read = model_bench::window_read(&model, &engine)
                    .context("read pass after the peer's run")?;
                peer_samples.add(run, spec, config.threads, read)
            };
            let a = model_bench::run_with_peer(&model, &engine, spec, &tick, &mut run_peer)
                .context("model benchmark (with the peer)")?;
            (a, None)
        }
        (None, None) => (
            model_bench::run(&model, &engine, spec, &tick).context("model benchmark")?,
            None,
        ),
    };
    let mut context_runs = Vec::with_capacity(contexts.len());
    let mut candidate_context_runs = Vec::new();
    for &positions in &contexts {
        let progress = |msg: &str| {
            pb.set_message(msg.to_string());
            pb.inc(u64::from(msg.contains("repetition")));
        };
        if let Some((m, _, e)) = &candidate {
            let (a, b) = model_bench::run_pair_at_context(
                (&model, &engine),
                (m, e),
                spec,
                candidate_kv,
                positions,
                &progress,
            )
            .with_context(|| format!("decode at context {positions} (compared pair)"))?;
            context_runs.push(a);
            candidate_context_runs.push(b);
            continue;
        }
        // The peer decodes after the same depth between these repetitions (llama-bench `-d`).
        let mut at_depth = peer.as_mut().map(|(p, _)| {
            let command =
                p.context_command(Path::new(model.source()), spec, positions, config.threads);
            (p, command)
        });
        let mut run_peer = at_depth.as_mut().map(|(p, command)| {
            let samples = &mut peer_samples;
            move |label: &str| -> Result<()> {
                progress(&format!("{label}{}", command.join(" ")));
                let run = p.run(command).with_context(|| {
                    format!(
                        "the peer at depth {positions} (llama-bench -d; a build without it, \
                         such as bitnet.cpp's, compares only without --ctx)"
                    )
                })?;
                samples.add_at_depth(run, command, spec, positions, config.threads)
            }
        });
        let run = model_bench::run_at_context(
            &model,
            &engine,
            spec,
            positions,
            &progress,
            run_peer
                .as_mut()
                .map(|f| f as &mut model_bench::PeerRunner<'_>),
        )
        .with_context(|| format!("decode at context {positions}"))?;
        context_runs.push(run);
    }
    let peer = match peer {
        Some((_, command)) => {
            Some(peer_samples.compare(command.join(" "), spec, &result, &context_runs)?)
        }
        None => None,
    };
    let peak_rss = peak_rss_bytes().filter(|_| rss_reset);
    pb.set_message("STREAM bandwidth (after)");
    let after = stream_round(config.threads, array_bytes)?;
    pb.finish_and_clear();
    let noise = NoiseVerdict::judge(snapshot.others_busy_cores_since(), args.noise_limit_cores);
    let memory_bandwidth = merge_stream(before, after)?;

    // The run's best read pass: of the STREAM rounds before and after, and of the passes over
    // the model's bytes between repetitions (the same loads). Counting only the former, a host
    // that sped up mid-run put decode above "its roofline" (ratios over 100 % on the Zen 5 VM).
    let window_reads = result
        .decode_window_read
        .iter()
        .chain(context_runs.iter().flat_map(|c| &c.window_read))
        .chain(candidate_result.iter().flat_map(|b| &b.decode_window_read))
        .chain(candidate_context_runs.iter().flat_map(|c| &c.window_read));
    let read = run_best_read(memory_bandwidth.read_bytes_per_second(), window_reads);
    let main_roofline = model_roofline(&model, &result, read)?;
    let decode_at_context: Vec<ContextDecode> = context_runs
        .into_iter()
        .map(|c| context_decode(&model, c, args.tg, read))
        .collect::<Result<_>>()?;
    let comparison = match (candidate, candidate_result) {
        (Some((m, p, e)), Some(b)) => {
            let params = candidate_engine.is_some().then(|| e.config().to_string());
            let mut c = comparison(m, p, candidate_kv, params, b, &result, read)?;
            for (run, base) in candidate_context_runs.into_iter().zip(&decode_at_context) {
                let decode = context_decode(m, run, args.tg, read)?;
                c.decode_at_context.push(ComparedContextDecode {
                    ratio: decode.tokens_per_second.median / base.tokens_per_second.median,
                    decode,
                });
            }
            Some(c)
        }
        _ => None,
    };
    let generation_128_seconds = (args.tg == 128)
        .then(|| result.phases.iter().find(|p| p.phase == Phase::Decode))
        .flatten()
        .map(|d| d.seconds.clone());
    let report = BenchReport {
        schema: SCHEMA.to_string(),
        commit: env!("PERFD_GIT_COMMIT").to_string(),
        timestamp,
        host,
        suite: "model".into(),
        backend: "cpu".into(),
        gpu: None,
        params: config.to_string(),
        kernel_ids: result.kernel_ids.clone(),
        model: Some(model_info(&model, preset, spec.kv_cache)),
        phases: result.phases,
        generation_128_seconds,
        decode_roofline: Some(main_roofline),
        decode_at_context,
        comparison,
        peer,
        decode_profile: result.decode_profile,
        prefill_profile: result.prefill_profile,
        kernels: Vec::new(),
        memory_bandwidth,
        crossval,
        model_crossval,
        peak_rss_bytes: peak_rss,
        noise,
        tools: ToolVersions::current(),
    };
    outcome(&report, args.json, args.profile)
}
