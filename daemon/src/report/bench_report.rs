//! `bitnet-perfd/bench-report/v1`: the one JSON document a harness prints on stdout.
//!
//! Every figure in it was measured in the run it describes; sections that were not asked for are
//! absent (never zero-filled).

use serde::{Deserialize, Serialize};

use super::bandwidth::StreamBandwidth;
use super::host::HostFingerprint;
use super::kernel_result::KernelResult;
use super::noise::NoiseVerdict;
use super::phase::{OpShare, Phase, PhaseResult};

/// Schema id of the report.
pub const SCHEMA: &str = "bitnet-perfd/bench-report/v1";

/// Versions of what produced the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolVersions {
    /// perfd version.
    pub perfd: String,
    /// rustc that built it.
    pub rustc: String,
    /// Build profile (`release` or `debug`: debug figures are not comparable).
    pub profile: String,
}

impl ToolVersions {
    /// The versions of this binary.
    pub fn current() -> Self {
        Self {
            perfd: env!("CARGO_PKG_VERSION").to_string(),
            rustc: env!("PERFD_RUSTC_VERSION").to_string(),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_string(),
        }
    }
}

/// One kernel configuration's cross-validation against the scalar reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossvalSummary {
    /// Check name, e.g. `i2s_gemv_avx2`.
    pub check: String,
    /// The kernel the check's multi-token shapes ran on when it differs from `check` (e.g.
    /// `i2s_gemm_amx`: the guard shapes include prompt batches, which go to AMX tiles).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub batch_check: Option<String>,
    /// Configuration checked.
    pub params: String,
    /// Shapes checked (`MxKxN`).
    pub shapes: Vec<String>,
    /// i32 accumulators differing from the reference, over all shapes.
    pub i32_mismatches: usize,
    /// Largest absolute f32 error.
    pub max_abs_err: f64,
    /// Largest relative f32 error.
    pub max_rel_err: f64,
    /// Largest NMSE over the shapes.
    pub max_nmse: f64,
    /// All checks passed.
    pub pass: bool,
}

/// The model that was run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// File path.
    pub path: String,
    /// Synthetic preset, when the file is one of ours.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preset: Option<String>,
    /// `general.name` of the file.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// `general.architecture` of the file: `bitnet-b1.58` (bitnet.cpp's, relu² FFN) or `bitnet`
    /// (llama.cpp's, SiLU FFN). Absent where the harness does not know it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub architecture: Option<String>,
    /// Transformer blocks. The shape fields are absent when the harness does not know them
    /// (`perfd adapt llama-bench`: llama-bench prints no shape); never invented.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub layers: Option<usize>,
    /// Residual width.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hidden: Option<usize>,
    /// FFN width.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ffn: Option<usize>,
    /// Query heads.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub heads: Option<usize>,
    /// Key/value heads.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kv_heads: Option<usize>,
    /// Vocabulary size.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vocab: Option<usize>,
    /// File size in bytes (absent when the harness could not read the file).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file_bytes: Option<u64>,
    /// Where the weights lived during the run: `huge-pages` (copied into memory advised for
    /// 2 MiB pages) or `mapped` (the file's page-cache pages).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub weights_placement: Option<String>,
    /// Order of the ternary codes the kernels read: `row-major` (bitnet.cpp's I2_S), `lanes16`
    /// (16 rows per 64-byte line) or `trits16` (those lines with five codes per byte, the
    /// AVX-512 VNNI kernel's default); a projection whose rows are not a multiple of 16, none in
    /// BitNet's shapes, stays row-major. Absent for peers and older reports.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub weights_layout: Option<String>,
    /// How the lm_head (token embedding) was kept: its file format (`f16`, `q8_0`, `q6_k`),
    /// `f16-packed6` / `f16-packed7` (F16 packed losslessly into 14 or 15 bits per weight) or
    /// `q6_k-regrouped` (Q6_K, each block's values regrouped for the AVX-512 kernel).
    /// Absent for peers and older reports.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lm_head_layout: Option<String>,
    /// Bytes of the model the kernel backed with 2 MiB pages at the end of the run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub weights_huge_page_bytes: Option<u64>,
    /// What the KV cache held: `f32` or `f16` (llama-bench's `type_k` for a peer's results).
    /// Absent in reports written before this field.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kv_cache: Option<String>,
}

/// Decode throughput against the memory-bandwidth roofline of the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecodeRoofline {
    /// Bytes one decoded token reads: the weights (ternary matrices, norms, the lm_head in its
    /// format) plus `kv_bytes_per_token`.
    pub bytes_per_token: u64,
    /// The KV-cache part of `bytes_per_token`, averaged over the decoded positions (0 where the
    /// harness does not know it, and in reports written before this field).
    #[serde(default)]
    pub kv_bytes_per_token: u64,
    /// The bandwidth the roofline divides by: `read` (best read-only figure of this run: of the
    /// STREAM rounds' read passes and of those over the model's bytes between repetitions;
    /// decode only reads weights). Reports written before this field used STREAM copy/triad.
    #[serde(default = "stream_name")]
    pub bandwidth: String,
    /// That bandwidth, bytes/s (0 in reports written before this field).
    #[serde(default)]
    pub bandwidth_bytes_per_second: f64,
    /// Bandwidth ÷ bytes per token.
    pub roofline_tokens_per_second: f64,
    /// Median decode tokens/sec ÷ the roofline.
    pub ratio: f64,
    /// The same decode against bandwidth read in each repetition's own window (CPU model suite).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub same_window: Option<SameWindowRoofline>,
}

/// Decode against bandwidth read in the same window as each repetition: right after every timed
/// decode repetition the harness reads the model's own bytes once (with and without software
/// prefetch, the faster counted), and that repetition's tokens/sec is set against the roofline of
/// that read. A host whose bandwidth drifts during a run (a shared VM's neighbours) then moves
/// both sides of each ratio alike, where the run-wide `ratio` divides every repetition by the
/// best read of the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SameWindowRoofline {
    /// Read bandwidth after each repetition, bytes/s, in measurement order.
    pub read_bytes_per_second: crate::stats::Summary,
    /// Each repetition's decode tokens/sec ÷ its window's roofline, in order; the median is the
    /// figure.
    pub ratio: crate::stats::Summary,
}

/// Decode after a KV cache filled to a given position (`perfd bench --ctx`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextDecode {
    /// Position of the first decoded token (cached positions before it).
    pub positions: usize,
    /// Tokens decoded per repetition.
    pub tokens: usize,
    /// Tokens per second per repetition.
    pub tokens_per_second: crate::stats::Summary,
    /// Against the roofline of this context (weights plus the KV bytes read).
    pub roofline: DecodeRoofline,
    /// Where decode time goes at this depth, per operation (as the report's `decode_profile`;
    /// attention's share grows with the positions).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub decode_profile: Vec<OpShare>,
}

/// A second model measured in the same process, interleaved with the report's own (prefills by
/// repetition, decode a token at a time; `perfd bench --compare-embeddings` / `--compare-model`):
/// the report's `model` and `phases` are the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The candidate model.
    pub model: ModelInfo,
    /// The candidate's kernel parameters, `k=v,...`, when they differ from the report's.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub params: Option<String>,
    /// Kernel ids the candidate ran.
    pub kernel_ids: Vec<String>,
    /// The candidate's prefill and decode.
    pub phases: Vec<PhaseResult>,
    /// The candidate's decode against the same read bandwidth.
    pub decode_roofline: DecodeRoofline,
    /// Candidate ÷ baseline median tokens/s, per phase.
    pub ratios: Vec<PhaseRatio>,
    /// Where the candidate's decode time goes, per operation (as the report's own
    /// `decode_profile`): which operation the two differ in.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub decode_profile: Vec<OpShare>,
    /// The candidate's decode at each of the report's `decode_at_context` depths, repetitions
    /// interleaved with the baseline's there too.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub decode_at_context: Vec<ComparedContextDecode>,
}

/// The compared model's decode at one depth, and its ratio to the baseline's there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparedContextDecode {
    /// The candidate's decode (as the report's own `decode_at_context` entries).
    #[serde(flatten)]
    pub decode: ContextDecode,
    /// Candidate ÷ baseline median tokens/s at this depth.
    pub ratio: f64,
}

/// Another engine on the same model file, run between this report's repetitions (`perfd bench
/// --compare-llama-bench`): the same prompt and generation lengths and thread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerComparison {
    /// The command run once per repetition (perfd's arguments for it included).
    pub command: String,
    /// The peer's build commit, as it reports it.
    pub commit: String,
    /// What the peer names its kernels or model.
    pub kernel_ids: Vec<String>,
    /// The peer's prefill and decode, pooled over its runs.
    pub phases: Vec<PhaseResult>,
    /// This report's ÷ the peer's median tokens/s, per phase (above 1: perfd is faster).
    pub ratios: Vec<PhaseRatio>,
    /// The element type of the peer's KV cache, as it reports it (`f16`), when it does.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kv_cache: Option<String>,
    /// The peer's decode after each of `decode_at_context`'s cache depths (`--ctx`), run between
    /// those repetitions.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub decode_at_context: Vec<PeerContextDecode>,
    /// Bytes/s of a read pass over the model's bytes right after each of the peer's runs, in the
    /// order of its decode samples (the peer's `same_window` reads).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decode_window_read: Option<crate::stats::Summary>,
    /// perfd's decode ÷ the peer's per repetition pair, each side's tokens/s divided by the read
    /// bandwidth measured right after it: the two processes' memory windows cancel where decode
    /// is bound by memory (above 1: perfd is faster).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decode_per_read: Option<crate::stats::Summary>,
}

/// The peer's decode of `--tg` tokens after a cache filled to `positions` (llama-bench `-d`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerContextDecode {
    /// Position of the first decoded token.
    pub positions: usize,
    /// The command run once per repetition.
    pub command: String,
    /// Its decode, pooled over its runs.
    pub decode: PhaseResult,
    /// This report's ÷ the peer's median tokens/s at this depth (above 1: perfd is faster).
    pub ratio: f64,
}

/// Candidate ÷ baseline median tokens/s of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRatio {
    /// Which phase.
    pub phase: Phase,
    /// The ratio of the medians.
    pub ratio: f64,
    /// The ratio of each repetition pair (repetition i of both sides, which ran interleaved),
    /// summarised: the paired statistic, which a host's drift between pairs does not widen.
    /// Absent when the sides hold different numbers of repetitions (reports from older
    /// versions, too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_pair: Option<crate::stats::Summary>,
}

fn stream_name() -> String {
    "stream".into()
}

/// Model-level cross-validation against the scalar reference configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCrossvalSummary {
    /// Configuration checked.
    pub params: String,
    /// Prompt tokens.
    pub prompt: Vec<u32>,
    /// Greedy steps compared.
    pub steps: usize,
    /// Positions whose logits were compared.
    pub positions: usize,
    /// Largest |logit − reference|.
    pub max_abs_diff: f64,
    /// Smallest cosine between logit vectors.
    pub min_cosine: f64,
    /// Greedy tokens identical.
    pub tokens_identical: bool,
    /// All criteria met.
    pub pass: bool,
}

fn cpu_backend() -> String {
    "cpu".into()
}

/// The harness report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Commit of the code measured (the harness's own build for the embedded default).
    pub commit: String,
    /// RFC 3339 UTC time the run started.
    pub timestamp: String,
    /// Hardware.
    pub host: HostFingerprint,
    /// What was run: `kernels` (this report) or a model benchmark.
    pub suite: String,
    /// Where it ran: `cpu` or `cuda` (reports from before the CUDA backend are `cpu`).
    #[serde(default = "cpu_backend")]
    pub backend: String,
    /// The GPU of a CUDA run: device, launch parameters, device bandwidth and NVML telemetry.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gpu: Option<super::gpu::GpuRun>,
    /// Configuration requested (`k=v,...`); per-result params say what each run used.
    pub params: String,
    /// Kernel ids actually executed.
    pub kernel_ids: Vec<String>,
    /// The model run (model suite).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model: Option<ModelInfo>,
    /// Prefill and decode results (model suite).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub phases: Vec<PhaseResult>,
    /// Wall seconds to decode 128 tokens, when the decode phase generated exactly 128.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generation_128_seconds: Option<crate::stats::Summary>,
    /// Decode throughput against the bandwidth roofline (model suite).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decode_roofline: Option<DecodeRoofline>,
    /// Decode at longer contexts, when asked for (`perfd bench --ctx`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub decode_at_context: Vec<ContextDecode>,
    /// A second model measured interleaved with this one, when asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub comparison: Option<Comparison>,
    /// Another engine on the same file, measured interleaved with this one, when asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub peer: Option<PeerComparison>,
    /// Where decode time goes, per operation (model suite).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub decode_profile: Vec<OpShare>,
    /// Where prefill time goes, per operation and prompt token (model suite, CPU).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub prefill_profile: Vec<OpShare>,
    /// Per-kernel results (kernel suite).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub kernels: Vec<KernelResult>,
    /// Memory bandwidth measured in the same run.
    pub memory_bandwidth: StreamBandwidth,
    /// Cross-validation results, when asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crossval: Option<Vec<CrossvalSummary>>,
    /// Model-level cross-validation, when asked for (model suite).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model_crossval: Option<ModelCrossvalSummary>,
    /// Peak resident memory of the harness process.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub peak_rss_bytes: Option<u64>,
    /// Interference from other processes during the run.
    pub noise: NoiseVerdict,
    /// Tool versions.
    pub tools: ToolVersions,
}

impl BenchReport {
    /// Median tokens/sec of a phase, when the report has it.
    pub fn phase_tps(&self, phase: &Phase) -> Option<f64> {
        self.phase(phase).map(|p| p.tokens_per_second.median)
    }

    /// Median decode tokens/sec after a cache filled to `positions`, when the run measured it.
    pub fn context_decode_tps(&self, positions: usize) -> Option<f64> {
        self.decode_at_context
            .iter()
            .find(|c| c.positions == positions)
            .map(|c| c.tokens_per_second.median)
    }

    /// The result of a phase.
    pub fn phase(&self, phase: &Phase) -> Option<&PhaseResult> {
        self.phases.iter().find(|p| &p.phase == phase)
    }

    /// Samples worth keeping per run: tokens/sec per phase and per cache depth, and ns/op per kernel
    /// measurement.
    pub fn samples(&self) -> Vec<(String, Vec<f64>)> {
        let mut out: Vec<(String, Vec<f64>)> = self
            .phases
            .iter()
            .map(|p| (p.phase.tps_series(), p.tokens_per_second.samples.clone()))
            .collect();
        out.extend(self.decode_at_context.iter().map(|c| {
            (
                super::TrackedMetric::DecodeAtContext(c.positions).series(),
                c.tokens_per_second.samples.clone(),
            )
        }));
        out.extend(self.kernels.iter().map(|k| {
            (
                format!(
                    "kernel:{}:{}x{}:{}:ns",
                    k.kernel_id,
                    k.rows,
                    k.cols,
                    k.residency.name()
                ),
                k.ns_per_op.samples.clone(),
            )
        }));
        out
    }
}
