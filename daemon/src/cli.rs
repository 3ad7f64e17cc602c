//! Command-line interface of `perfd` (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// perfd: benchmarks BitNet b1.58 ternary kernels and models, with honest, reproducible figures.
#[derive(Debug, Parser)]
#[command(name = "perfd", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the reference harness and print a bench report. Default: the 2b4t synthetic model.
    Bench(BenchArgs),
    /// Model files.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Search the kernel parameters of this host for a faster profile, cross-validating every
    /// candidate, and adopt the winner when an interleaved A/B shows it is faster.
    Tune(TuneArgs),
    /// Run the daemon: benchmark on schedule, serve /metrics (embedded default without a config).
    Run(RunArgs),
    /// Validate a configuration file, naming the key and line of every problem.
    CheckConfig(CheckConfigArgs),
    /// List stored benchmark runs, newest first.
    History(HistoryArgs),
    /// Post (again) the gates of a stored run to GitHub, through the outbox.
    Gate(GateArgs),
    /// Run another engine's benchmark tool and print its results as a bench report.
    #[command(subcommand)]
    Adapt(AdaptCommand),
    /// Internal: run a benchmark child whose process group dies with the daemon (`perfd run`).
    #[command(hide = true)]
    ChildGuard(ChildGuardArgs),
}

/// `perfd adapt ...`: other engines' benchmark tools, their results mapped onto a bench report.
#[derive(Debug, Subcommand)]
pub enum AdaptCommand {
    /// Run llama-bench (bitnet.cpp, llama.cpp) with `-o json`, measure STREAM around it and
    /// print a `bitnet-perfd/bench-report/v1` document.
    LlamaBench(AdaptArgs),
}

/// Options of `perfd adapt llama-bench`.
#[derive(Debug, Args)]
pub struct AdaptArgs {
    /// Average cores other processes may keep busy during llama-bench's run before it is marked
    /// noisy.
    #[arg(long, default_value_t = 0.25)]
    pub noise_limit_cores: f64,
    /// Most memory (MiB) the STREAM measurement may hold (its three arrays). Default: 4x the
    /// last-level cache, capped at 1 GiB and a quarter of the available memory.
    #[arg(long, value_name = "MIB")]
    pub bandwidth_mib: Option<u64>,
    /// Seconds llama-bench may run; past them it is killed and the adapter fails, naming the
    /// limit. Default: no limit of its own (under the daemon, the harness timeout applies).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
    /// The llama-bench command and its arguments, after `--` (`-o json` is added unless given).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Options of `perfd tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Model file (GGUF) to tune on.
    #[arg(long, conflicts_with = "preset")]
    pub model: Option<PathBuf>,
    /// Synthetic model preset: tiny or 2b4t.
    #[arg(long, default_value = "2b4t")]
    pub preset: String,
    /// Directory for synthetic models (as for `perfd bench`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// What to maximise: decode, prefill or kernel:ROWSxCOLS.
    #[arg(long, default_value = "decode")]
    pub objective: String,
    /// Wall-clock budget of the whole job, in seconds.
    #[arg(long, default_value_t = 600)]
    pub budget_secs: u64,
    /// Most configurations cross-validated and timed.
    #[arg(long, default_value_t = 60)]
    pub max_evals: usize,
    /// Smallest gain (0.01 = 1 %) the adoption A/B must show.
    #[arg(long, default_value_t = 0.01)]
    pub min_gain: f64,
    /// Significance level of the adoption A/B.
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// Interleaved pairs of the adoption A/B.
    #[arg(long, default_value_t = 8)]
    pub adoption_pairs: usize,
    /// Greedy steps of the model-level cross-validation of each candidate.
    #[arg(long, default_value_t = 32)]
    pub crossval_steps: usize,
    /// The profile to start from and compare against (default: the adopted profile of this host
    /// and model, else perfd's defaults).
    #[arg(long, value_name = "K=V,...")]
    pub params: Option<String>,
    /// Configuration whose state directory keeps the results (default: /etc/perfd/perfd.toml
    /// when it exists, else the embedded default's).
    #[arg(long, conflicts_with = "state_dir")]
    pub config: Option<PathBuf>,
    /// State directory that keeps the results (instead of the configuration's).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Search and report, but do not adopt (nothing is written but the resumable measurements).
    #[arg(long)]
    pub dry_run: bool,
    /// Tune a harness instead of perfd's own kernels in-process: the shell command of the
    /// harness protocol, run once per check and sample with the candidate in PERFD_PARAMS and in
    /// place of `{params}`. Its space comes from `[tuner.space]` of the configuration, else from
    /// the harness itself (run with PERFD_LIST_PARAMS=1).
    #[arg(long, value_name = "COMMAND", conflicts_with_all = ["model", "compare_exhaustive"])]
    pub harness: Option<String>,
    /// The harness's space, `name=v1|v2;name=v1|v2` (default: asked from the harness).
    #[arg(long, value_name = "SPACE", requires = "harness")]
    pub space: Option<String>,
    /// Working directory of the harness.
    #[arg(long, requires = "harness")]
    pub harness_cwd: Option<PathBuf>,
    /// Timeout of one harness run, in seconds.
    #[arg(long, default_value_t = 600, requires = "harness")]
    pub harness_timeout_secs: u64,
    /// Key the profile is kept under instead of the preset or model (the daemon sets it).
    #[arg(long, hide = true)]
    pub model_key: Option<String>,
    /// Compare the tuner with an exhaustive search of a reduced space of one GEMV shape (isa x
    /// rows_per_task x decode_row_tile x prefetch_bytes) and report both (the objective must be
    /// kernel:).
    #[arg(long)]
    pub compare_exhaustive: bool,
    /// What started this job (recorded with it; the daemon sets it).
    #[arg(long, default_value = "manual", hide = true)]
    pub trigger: String,
    /// Print the outcome as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `perfd child-guard`.
#[derive(Debug, Args)]
pub struct ChildGuardArgs {
    /// Pid of the daemon that must be alive.
    #[arg(long)]
    pub parent: i32,
    /// Niceness to run the command at.
    #[arg(long, default_value_t = 0)]
    pub nice: u8,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Options of `perfd gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Run id (see `perfd history`).
    pub run: i64,
    /// Configuration file (default: /etc/perfd/perfd.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Options of `perfd run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (default: /etc/perfd/perfd.toml when it exists, else the embedded default).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Options of `perfd check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// File to check (default: /etc/perfd/perfd.toml).
    pub file: Option<PathBuf>,
}

/// Options of `perfd history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Configuration file whose state directory to read.
    #[arg(long, conflicts_with = "state_dir")]
    pub config: Option<PathBuf>,
    /// State directory to read (instead of the configuration's).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Most runs to list.
    #[arg(long, default_value_t = 30)]
    pub limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `perfd model ...`.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Write a synthetic BitNet b1.58 GGUF with seeded random ternary weights.
    Write(ModelWriteArgs),
    /// Compute a model's logits for given tokens (for comparison with other engines).
    Logits(ModelLogitsArgs),
}

/// Options of `perfd model logits`.
#[derive(Debug, Args)]
pub struct ModelLogitsArgs {
    /// Model file (GGUF).
    #[arg(long)]
    pub model: PathBuf,
    /// Token ids, comma-separated.
    #[arg(long, value_name = "ID,...")]
    pub tokens: String,
    /// prefill: all tokens in one forward call; decode: one token per call.
    #[arg(long, default_value = "prefill")]
    pub mode: String,
    /// Write the logits here as raw little-endian f32, `[tokens][vocab]` row-major (the layout
    /// of the bitnet.cpp fixtures); without it they are printed as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Kernel parameters `k=v,...` (default: the fastest ISA).
    #[arg(long, value_name = "K=V,...")]
    pub params: Option<String>,
    /// exact (f32 KV cache, f64 attention), fast (f32 SIMD attention, what `perfd bench` runs)
    /// or ggml (bitnet.cpp's F16 rounding points).
    #[arg(long, default_value = "exact")]
    pub numerics: String,
}

/// Options of `perfd model write`.
#[derive(Debug, Args)]
pub struct ModelWriteArgs {
    /// Shape preset: tiny (tests) or 2b4t (the real BitNet b1.58 2B-4T shape).
    #[arg(long)]
    pub preset: String,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the random weights.
    #[arg(long, default_value_t = bitnet_kernels::model::synthetic_model::DEFAULT_SEED)]
    pub seed: u64,
    /// Format of the token embedding (= lm_head): f16, q8_0 or q6_k (llama.cpp's block formats;
    /// fewer bytes per decoded token, the same values quantised).
    #[arg(long, default_value = "f16")]
    pub embeddings: String,
    /// Format of the ternary projections: i2_s (bitnet.cpp's), tq2_0 or tq1_0 (llama.cpp's;
    /// the same values, perfd repacks them to I2_S at load).
    #[arg(long, default_value = "i2_s")]
    pub ternary: String,
    /// Architecture name the file declares: bitnet-b1.58 (bitnet.cpp's, relu² FFN) or bitnet
    /// (llama.cpp mainline's, SiLU FFN; what llama.cpp loads).
    #[arg(long, default_value = "bitnet-b1.58")]
    pub arch: String,
}

/// Options of `perfd bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Benchmark the I2_S kernels instead of a model (per kernel id and shape, with STREAM).
    #[arg(long)]
    pub kernels: bool,
    /// Where to run: cpu, cuda (GPU 0; an error without a driver, NVRTC or device), or auto
    /// (CUDA when a device is usable and no CPU-only flag is given, else CPU).
    #[arg(long, default_value = "auto", value_parser = crate::harness::backend::BACKENDS, env = "PERFD_BACKEND")]
    pub backend: String,
    /// Model file (bitnet.cpp GGUF) to benchmark.
    #[arg(long, conflicts_with_all = ["preset", "kernels"])]
    pub model: Option<PathBuf>,
    /// Synthetic model preset (written to the cache directory on first use): tiny or 2b4t.
    #[arg(long, default_value = "2b4t", conflicts_with = "kernels")]
    pub preset: String,
    /// Directory for synthetic models (default: $PERFD_CACHE_DIR, $XDG_CACHE_HOME/bitnet-perfd or ~/.cache/bitnet-perfd).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// With --preset: format of the synthetic model's token embedding (= lm_head): f16, q8_0 or
    /// q6_k (one cached file per format, the same values quantised).
    #[arg(long, default_value = "f16", conflicts_with = "model")]
    pub embeddings: String,
    /// Where the model's bytes live during the run: huge-pages (copied once into memory advised
    /// for 2 MiB pages: the fastest, the same in every process) or mapped (the file's page cache,
    /// whose page sizes depend on how the file was read in).
    #[arg(long, default_value = "huge-pages", value_name = "PLACEMENT")]
    pub weights: String,
    /// What the KV cache holds: f16 (half the bytes each decoded token reads per cached position
    /// and half the memory, for one rounding of every key and value: bitnet.cpp's and llama.cpp's
    /// default cache), f32, or auto (the default: f16 on the CPU, f32 with --backend cuda, whose
    /// device cache is f32). Cross-validation compares like with like.
    #[arg(
        long,
        default_value = "auto",
        value_name = "TYPE",
        conflicts_with = "kernels"
    )]
    pub kv_cache: String,
    /// Also measure with the KV cache holding this type (f32, f16), repetitions interleaved with
    /// the main run's, and report the ratios; give --pp large enough for the cache to matter
    /// (decode reads every cached position). With another --compare-* flag it applies to the
    /// compared side.
    #[arg(long, value_name = "TYPE", conflicts_with = "kernels")]
    pub compare_kv_cache: Option<String>,
    /// Also time decode at these cache depths, comma-separated (e.g. 128,1024,3968): `--tg` tokens
    /// after a cache filled to that many positions (llama-bench's `-d`), each against its own
    /// roofline (weights plus the KV bytes read). Depth + --tg must fit the model's context.
    #[arg(long, value_name = "N,...", conflicts_with = "kernels")]
    pub ctx: Option<String>,
    /// With --preset: also measure the preset with its embedding in this format (f16, q8_0,
    /// q6_k), repetitions interleaved with the main model's, and report the ratios.
    #[arg(long, value_name = "FORMAT", conflicts_with_all = ["model", "kernels", "compare_model"])]
    pub compare_embeddings: Option<String>,
    /// Also measure this model file, repetitions interleaved with the main model's, and report
    /// the ratios.
    #[arg(long, value_name = "FILE", conflicts_with = "kernels")]
    pub compare_model: Option<PathBuf>,
    /// Also measure with the model's bytes placed this way (huge-pages or mapped, see --weights),
    /// repetitions interleaved with the main run's, and report the ratios: whether page size
    /// matters on this host. With --compare-model or --compare-embeddings it applies to the
    /// compared model.
    #[arg(long, value_name = "PLACEMENT", conflicts_with = "kernels")]
    pub compare_weights: Option<String>,
    /// Order of the ternary codes in memory: `auto` (what the kernels read fastest: trits16 for
    /// the AVX-512 VNNI kernel without AMX batches, else row-major), `row-major` (bitnet.cpp's
    /// I2_S order, as in the file), `lanes16` (16 rows per 64-byte line) or `trits16` (the same
    /// lines with five codes per byte: 0.8x the bytes). Every kernel reads all three; the ones
    /// it has no kernel for through a per-task repack.
    #[arg(
        long,
        value_enum,
        default_value_t = LayoutArg::Auto,
        value_name = "LAYOUT",
        conflicts_with = "kernels"
    )]
    pub layout: LayoutArg,
    /// Also measure with the ternary codes in this layout (see --layout), repetitions
    /// interleaved with the main run's, and report the ratios. With --compare-model,
    /// --compare-embeddings or --compare-params it applies to the compared side.
    #[arg(long, value_enum, value_name = "LAYOUT", conflicts_with = "kernels")]
    pub compare_layout: Option<LayoutArg>,
    /// How the lm_head (the token embedding, F16 in bitnet.cpp's files) is kept in memory:
    /// `auto` (packed where the lm_head kernel is AVX-512 and the CPU has VBMI, else as stored),
    /// `as-stored` (the file's bytes) or `packed` (each F16's high byte through a 6- or 7-bit
    /// code table, the low byte as it is: the exact values in 14 or 15 bits; Q8_0 and Q6_K
    /// embeddings stay as stored).
    #[arg(
        long,
        value_enum,
        default_value_t = LmHeadArg::Auto,
        value_name = "LAYOUT",
        conflicts_with = "kernels"
    )]
    pub lm_head: LmHeadArg,
    /// Also measure with the lm_head in this layout (see --lm-head), repetitions interleaved
    /// with the main run's, and report the ratios. With another --compare-* flag it applies to
    /// the compared side.
    #[arg(long, value_enum, value_name = "LAYOUT", conflicts_with = "kernels")]
    pub compare_lm_head: Option<LmHeadArg>,
    /// Also measure with these kernel parameters (`key=value,...` over --params, see
    /// --list-params), repetitions interleaved with the main configuration's, and report the
    /// ratios. With --compare-model or --compare-embeddings they apply to the compared model.
    #[arg(long, value_name = "K=V,...", conflicts_with = "kernels")]
    pub compare_params: Option<String>,
    /// Also run this llama-bench (a bitnet.cpp or llama.cpp build) on the same model file once
    /// per repetition, interleaved with perfd's, with the same --pp, --tg and thread count, and
    /// report perfd's ÷ its median tokens/s. The file must be one it reads (I2_S for bitnet.cpp;
    /// TQ2_0 under architecture `bitnet` for llama.cpp, see `perfd model write`).
    #[arg(long, value_name = "LLAMA_BENCH", conflicts_with_all = ["kernels", "compare_embeddings", "compare_model", "compare_weights", "compare_layout", "compare_lm_head", "compare_params", "compare_kv_cache"])]
    pub compare_llama_bench: Option<PathBuf>,
    /// Seconds one run of the --compare-llama-bench peer may take; past them it is killed and
    /// the benchmark fails, naming the peer's command.
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    pub peer_timeout: u64,
    /// Prompt tokens per prefill run.
    #[arg(long, default_value_t = 128)]
    pub pp: usize,
    /// Tokens generated per decode run.
    #[arg(long, default_value_t = 128)]
    pub tg: usize,
    /// Timed repetitions of prefill + decode.
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Show where decode time goes, per operation.
    #[arg(long)]
    pub profile: bool,
    /// Print the `bitnet-perfd/bench-report/v1` JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Run one configuration, `key=value,...` (see --list-params). Kernel suite default: every
    /// supported ISA; model suite default: the fastest ISA. The tuner passes candidates through
    /// PERFD_PARAMS, so a harness script that runs `perfd bench` needs no change.
    #[arg(long, value_name = "K=V,...", env = "PERFD_PARAMS")]
    pub params: Option<String>,
    /// Print the tunable parameter space of this host and exit (PERFD_LIST_PARAMS=1: how the
    /// tuner asks a harness for its space).
    #[arg(long, env = "PERFD_LIST_PARAMS", value_parser = clap::builder::BoolishValueParser::new())]
    pub list_params: bool,
    /// Cross-validate against the scalar reference first (kernels on seeded ragged shapes; for a
    /// model also logits and greedy tokens); a failure exits with status 2 (PERFD_CROSSVAL=1:
    /// how the tuner's guard asks a harness).
    #[arg(long, env = "PERFD_CROSSVAL", value_parser = clap::builder::BoolishValueParser::new())]
    pub crossval: bool,
    /// With --crossval: compare with a reference set of another engine's logits instead of
    /// benchmarking (a directory with MANIFEST.json, like ../shared/fixtures/bitnetcpp).
    #[arg(long, value_name = "DIR", requires = "crossval")]
    pub against: Option<PathBuf>,
    /// With --against: exact (f64 attention), fast (the benchmarked f32 attention) or ggml
    /// (bitnet.cpp's F16 rounding points).
    #[arg(long, default_value = "exact", requires = "against")]
    pub numerics: String,
    /// Greedy steps of the model-level cross-validation.
    #[arg(long, default_value_t = 32)]
    pub crossval_steps: usize,
    /// Kernel suite: GEMV shapes as ROWSxCOLS, comma-separated; default: the four 2B-4T shapes.
    #[arg(long, value_name = "MxK,...")]
    pub shapes: Option<String>,
    /// Kernel suite: where the weights live: cache, dram, or both (comma-separated).
    #[arg(long, default_value = "cache,dram")]
    pub residency: String,
    /// Kernel suite: timed samples per measurement.
    #[arg(long, default_value_t = 11)]
    pub samples: usize,
    /// Kernel suite: minimum duration of one sample, in milliseconds.
    #[arg(long, default_value_t = 40)]
    pub sample_ms: u64,
    /// Average cores other processes may keep busy before the run is marked noisy.
    #[arg(long, default_value_t = 0.25)]
    pub noise_limit_cores: f64,
    /// Most memory (MiB) one bandwidth measurement may hold: STREAM's three arrays, or the
    /// DRAM-streaming kernel working set. Default: 4x the last-level cache, capped at 1 GiB and a
    /// quarter of the available memory. The report states the sizes used.
    #[arg(long, value_name = "MIB")]
    pub bandwidth_mib: Option<u64>,
}

/// `--lm-head` / `--compare-lm-head` of `perfd bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LmHeadArg {
    /// What the configured lm_head kernel reads fastest.
    Auto,
    /// The file's bytes.
    AsStored,
    /// F16 packed losslessly into 14 or 15 bits per weight; Q6_K with each block's values
    /// regrouped for the AVX-512 kernel (the same bytes).
    Packed,
}

/// `--layout` / `--compare-layout` of `perfd bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    /// What the configured kernels read fastest.
    Auto,
    /// bitnet.cpp's I2_S order.
    RowMajor,
    /// 16 rows per 64-byte line.
    Lanes16,
    /// 16 rows per 64-byte line, five codes per byte (0.8x the bytes).
    Trits16,
}
