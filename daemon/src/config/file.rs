//! Configuration structs; field docs are the reference for `daemon/systemd/perfd.toml.example`.

use std::path::PathBuf;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Process-level settings.
    #[serde(default)]
    pub daemon: DaemonSection,
    /// When to benchmark.
    #[serde(default)]
    pub schedule: ScheduleSection,
    /// What the embedded benchmark runs (used when no repository is configured).
    #[serde(default)]
    pub benchmark: BenchmarkSection,
    /// The mainline to track; absent = embedded default (benchmark perfd's own kernels).
    pub repository: Option<RepositorySection>,
    /// Interference guard.
    #[serde(default)]
    pub noise: NoiseSection,
    /// Absolute objectives judged on every run.
    #[serde(default)]
    pub slo: SloSection,
    /// Regression detection against the baseline, with A/B confirmation.
    #[serde(default)]
    pub regression: RegressionSection,
    /// Where gates are posted; absent = dry run (what would be posted is recorded).
    pub github: Option<GithubSection>,
    /// Automatic tuning: triggers, budget, the Alertmanager webhook, the proposed profile file.
    #[serde(default)]
    pub tuner: TunerSection,
}

/// `[tuner]`: when and how the daemon tunes kernel parameters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TunerSection {
    /// Verdicts that start a tuning job: `slo` (a breached SLO), `regression` (a confirmed one).
    /// Empty: only alerts and `perfd tune` start jobs.
    pub on: Vec<String>,
    /// What a job maximises: `decode`, `prefill` or `kernel:ROWSxCOLS` (embedded mode only).
    pub objective: String,
    /// Wall-clock budget of one job, in seconds.
    pub budget_secs: u64,
    /// Most configurations one job cross-validates and times.
    pub max_evals: usize,
    /// After a job on this host, verdicts start no other for this long (alerts still can).
    pub cooldown_secs: u64,
    /// Smallest gain (fraction) the adoption A/B must show.
    pub min_gain: f64,
    /// Significance level of the adoption A/B.
    pub alpha: f64,
    /// Interleaved pairs of the adoption A/B.
    pub adoption_pairs: usize,
    /// Greedy steps of each candidate's model cross-validation.
    pub crossval_steps: usize,
    /// File holding the bearer token Alertmanager sends to `/api/v1/alerts` (else the systemd
    /// credential `webhook-token`; with neither, the webhook is disabled).
    pub webhook_token_file: Option<PathBuf>,
    /// Path of the profile file a tuning pull request adds (`{host}`: the host fingerprint id).
    pub profile_path: String,
    /// Propose adopted profiles as a pull request (repository mode with GitHub App credentials).
    pub pull_request: bool,
    /// The space of a harness other than perfd's (`threads = ["1", "2"]`); empty: asked from the
    /// harness (`PERFD_LIST_PARAMS=1`, i.e. `perfd bench --list-params --json`).
    pub space: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for TunerSection {
    fn default() -> Self {
        Self {
            on: vec!["slo".into(), "regression".into()],
            objective: "decode".into(),
            budget_secs: 600,
            max_evals: 60,
            cooldown_secs: 3600,
            min_gain: 0.01,
            alpha: 0.01,
            adoption_pairs: 8,
            crossval_steps: 32,
            webhook_token_file: None,
            profile_path: "perf/profiles/{host}.toml".into(),
            pull_request: true,
            space: Default::default(),
        }
    }
}

impl TunerSection {
    /// The webhook's bearer token: the configured file, else the systemd credential; None when
    /// neither is set up. An unreadable or empty configured file is an error.
    pub fn webhook_token(&self) -> Result<Option<String>, String> {
        let path = match &self.webhook_token_file {
            Some(p) => p.clone(),
            None => match std::env::var_os("CREDENTIALS_DIRECTORY") {
                Some(d) if PathBuf::from(&d).join("webhook-token").exists() => {
                    PathBuf::from(d).join("webhook-token")
                }
                _ => return Ok(None),
            },
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the webhook token {}: {e}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!(
                "the webhook token file {} is empty",
                path.display()
            ));
        }
        Ok(Some(token.to_string()))
    }
}

/// `[slo]`: absolute objectives; an absent key is not judged.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SloSection {
    /// Decode tokens/sec must be at least this.
    pub decode_tokens_per_second_min: Option<f64>,
    /// Prefill tokens/sec must be at least this.
    pub prefill_tokens_per_second_min: Option<f64>,
    /// Generating 128 tokens must take at most this many seconds.
    pub generation_128_seconds_max: Option<f64>,
    /// Every measured kernel must stream at least this many bytes/sec.
    pub kernel_bandwidth_bytes_per_second_min: Option<f64>,
    /// Decode must reach at least this fraction of its roofline, each repetition against the
    /// read pass right after it (the median; CPU runs): host-independent, and steady on a host
    /// whose bandwidth drifts.
    pub decode_same_window_roofline_ratio_min: Option<f64>,
    /// Decode tokens/sec after a KV cache filled to a depth must be at least this, per depth
    /// (`{ 3968 = 15.0 }`; TOML keys are strings, so the depths are parsed when validated).
    pub context_decode_tokens_per_second_min: std::collections::BTreeMap<String, f64>,
}

impl Default for SloSection {
    fn default() -> Self {
        Self {
            decode_tokens_per_second_min: None,
            prefill_tokens_per_second_min: None,
            generation_128_seconds_max: Some(10.0),
            kernel_bandwidth_bytes_per_second_min: None,
            decode_same_window_roofline_ratio_min: None,
            context_decode_tokens_per_second_min: Default::default(),
        }
    }
}

/// `[regression]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegressionSection {
    /// Metric judged: `decode_tps`, `prefill_tps`, or `decode_tps_at_N` (decode after N cached
    /// positions, one of `[benchmark] context_positions`).
    pub metric: String,
    /// Good mainline runs (same host) forming the baseline.
    pub baseline_runs: usize,
    /// Smallest drop (fraction) the A/B must show to confirm a regression.
    pub min_effect: f64,
    /// Drop vs baseline (fraction) that makes a run suspect and triggers an A/B (0 = any drop:
    /// between-process drift of ~3 % hides small steps in single runs; the A/B is the arbiter).
    pub suspicion_effect: f64,
    /// Mann-Whitney p-value at or below which the drop counts as suspect.
    pub suspicion_p: f64,
    /// A run is suspect only when it falls this many between-process σ (estimated from the
    /// baseline host's own recent runs) below the baseline.
    pub suspicion_sigmas: f64,
    /// Harness runs one commit's A/B may add on a host with between-process σ ≤ 1 % (it stops
    /// earlier once decided); the share grows with σ², up to `ab_max_runs`.
    pub ab_runs: usize,
    /// Harness runs one commit's A/B may add on a noisy host.
    pub ab_max_runs: usize,
    /// Runs per side carried over from earlier inconclusive commits against the same baseline.
    pub ab_max_pooled: usize,
    /// Good runs of the host's history used as baseline evidence and for its σ.
    pub history_runs: usize,
    /// Error rate of an A/B confirming a drop of min_effect/2, per sequence (its other error,
    /// clearing a drop of 1.5 × min_effect, is 5 %).
    pub alpha: f64,
    /// What each A/B pair compares: `tokens_per_second`, `per_read_bandwidth` (tokens/s per GB/s
    /// of read bandwidth measured in the same process: cancels the host's bandwidth drift), or
    /// `auto` (per host, whichever spread less over its recent runs).
    pub ab_metric: String,
    /// p-value threshold of change-point detection.
    pub change_point_max_p: f64,
}

impl Default for RegressionSection {
    fn default() -> Self {
        Self {
            metric: "decode_tps".into(),
            baseline_runs: 5,
            min_effect: 0.02,
            suspicion_effect: 0.0,
            suspicion_p: 0.5,
            suspicion_sigmas: 1.3,
            ab_runs: 7,
            ab_max_runs: 32,
            ab_max_pooled: 200,
            history_runs: 100,
            alpha: 0.0002,
            ab_metric: "auto".into(),
            change_point_max_p: 0.001,
        }
    }
}

/// `[github]`: gate checks and the ledger.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSection {
    /// `owner/name` of the repository the gates are posted to.
    pub repository: String,
    /// API base URL (GitHub Enterprise: `https://HOST/api/v3`).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// GitHub App id (check runs need an App).
    pub app_id: Option<u64>,
    /// The App's installation id on the repository.
    pub installation_id: Option<u64>,
    /// PEM private key of the App (default: `$CREDENTIALS_DIRECTORY/github-app-key`).
    pub private_key_file: Option<PathBuf>,
    /// Personal token file for the commit-status fallback (default: `$PERFD_GITHUB_TOKEN` or
    /// `$CREDENTIALS_DIRECTORY/github-token`).
    pub token_file: Option<PathBuf>,
    /// Issue or pull request whose perfd comment holds the ledger section.
    pub ledger_issue: Option<u64>,
    /// Appended to gate names when several hosts post to one repository (e.g. `avx512`).
    #[serde(default)]
    pub check_suffix: String,
    /// Record what would be posted without posting.
    #[serde(default)]
    pub dry_run: bool,
}

fn default_api_url() -> String {
    "https://api.github.com".into()
}

/// `[daemon]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSection {
    /// Directory for the history database, worktrees and logs. Default: `$STATE_DIRECTORY`
    /// (systemd), else `/var/lib/perfd` as root, else `~/.local/state/bitnet-perfd`.
    pub state_dir: Option<PathBuf>,
    /// Address of the HTTP listener (`/metrics`, health, API, status page).
    pub listen: String,
}

impl Default for DaemonSection {
    fn default() -> Self {
        Self {
            state_dir: None,
            listen: "127.0.0.1:9464".into(),
        }
    }
}

/// `[schedule]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSection {
    /// Seconds between scheduler ticks (each tick checks the mainline).
    pub interval_secs: u64,
    /// Re-benchmark an unchanged commit after this many seconds (0 = never).
    pub rebench_interval_secs: u64,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        Self {
            interval_secs: 3600,
            rebench_interval_secs: 86_400,
        }
    }
}

/// `[benchmark]`: the embedded harness (`perfd bench --json`) run as a child process.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BenchmarkSection {
    /// Where the harness runs: `cpu`, `cuda` or `auto` (CUDA when a driver, NVRTC and a device
    /// are usable; the daemon says once at startup which it chose and why).
    pub backend: String,
    /// Synthetic model preset (`tiny`, `2b4t`) when `model` is not set.
    pub preset: String,
    /// A bitnet.cpp GGUF model file to benchmark instead of the preset.
    pub model: Option<PathBuf>,
    /// Prompt tokens per prefill run.
    pub prompt_tokens: usize,
    /// Tokens generated per decode run.
    pub gen_tokens: usize,
    /// Timed repetitions.
    pub reps: usize,
    /// Kernel parameters `k=v,...` (see `perfd bench --list-params`); empty = defaults.
    pub params: String,
    /// Kill the harness after this many seconds.
    pub timeout_secs: u64,
    /// Most memory (MiB) one bandwidth measurement may hold (STREAM arrays, DRAM-streaming
    /// kernel working set); absent = 4× the LLC, capped at 1 GiB and a quarter of free memory.
    pub bandwidth_memory_mib: Option<u64>,
    /// Cache depths at which each run also decodes `gen_tokens` tokens (`perfd bench --ctx`),
    /// exported per depth: long-context decode, where attention reads the KV cache. CPU only.
    pub context_positions: Vec<usize>,
}

impl Default for BenchmarkSection {
    fn default() -> Self {
        Self {
            backend: "auto".into(),
            preset: "2b4t".into(),
            model: None,
            prompt_tokens: 128,
            gen_tokens: 128,
            reps: 5,
            params: String::new(),
            timeout_secs: 1800,
            bandwidth_memory_mib: None,
            context_positions: Vec::new(),
        }
    }
}

/// `[repository]`: benchmark each new mainline commit of a codebase.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositorySection {
    /// Git URL or local path of the repository.
    pub url: String,
    /// Branch whose head is the mainline.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Shell command building the harness in the commit's worktree.
    #[serde(default = "default_build_command")]
    pub build_command: String,
    /// Kill the build after this many seconds.
    #[serde(default = "default_build_timeout")]
    pub build_timeout_secs: u64,
    /// Shell command printing one `bitnet-perfd/bench-report/v1` document on stdout.
    #[serde(default = "default_harness_command")]
    pub harness_command: String,
    /// Kill the harness after this many seconds.
    #[serde(default = "default_harness_timeout")]
    pub harness_timeout_secs: u64,
    /// Kill `git fetch` after this many seconds.
    #[serde(default = "default_fetch_timeout")]
    pub fetch_timeout_secs: u64,
}

fn default_branch() -> String {
    "main".into()
}
fn default_build_command() -> String {
    "cargo build --release --bin perfd".into()
}
fn default_build_timeout() -> u64 {
    3600
}
fn default_harness_command() -> String {
    "target/release/perfd bench --json".into()
}
fn default_harness_timeout() -> u64 {
    1800
}
fn default_fetch_timeout() -> u64 {
    300
}

/// `[noise]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseSection {
    /// Average cores other processes may keep busy during a run before it counts as noisy.
    pub limit_cores: f64,
    /// Noisy runs are retried this many times; the last attempt is stored marked noisy.
    pub max_retries: u32,
}

impl Default for NoiseSection {
    fn default() -> Self {
        Self {
            limit_cores: 0.25,
            max_retries: 2,
        }
    }
}

impl Config {
    /// The state directory this configuration resolves to.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(d) = &self.daemon.state_dir {
            return d.clone();
        }
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(d) = env("STATE_DIRECTORY") {
            // systemd may pass several, colon-separated; ours is the first.
            let first = d
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string();
            return PathBuf::from(first);
        }
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/var/lib/perfd");
        }
        env("XDG_STATE_HOME")
            .map(|d| d.join("bitnet-perfd"))
            .or_else(|| env("HOME").map(|h| h.join(".local/state/bitnet-perfd")))
            .unwrap_or_else(|| std::env::temp_dir().join("bitnet-perfd-state"))
    }
}

impl RegressionSection {
    /// The figure `metric` names. Validated at load; a configuration built without
    /// `config::load` that names none follows decode tokens/s.
    pub fn tracked_metric(&self) -> crate::report::TrackedMetric {
        use crate::report::{Phase, TrackedMetric};
        TrackedMetric::parse(&self.metric).unwrap_or(TrackedMetric::Phase(Phase::Decode))
    }
}
