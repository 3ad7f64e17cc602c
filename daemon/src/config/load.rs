//! Parsing and validation. Syntax, type and unknown-key errors come from the TOML parser with a
//! byte span; value errors come from our checks. Both are reported as `key (line N): message`.

use std::fmt;
use std::path::Path;

use bitnet_kernels::model::Preset;
use bitnet_kernels::KernelConfig;

use super::file::Config;

/// Longest duration any `*_secs` key accepts (one year): far beyond any sensible schedule or
/// timeout, and far below what would overflow the scheduler's clock arithmetic.
pub const MAX_DURATION_SECS: u64 = 365 * 86_400;

/// Where `perfd run` and `perfd check-config` look when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/perfd/perfd.toml";

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// Dotted key (`schedule.interval_secs`), or `(file)` for whole-file problems.
    pub key: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{} (line {l}): {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// Every problem found in one file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors {
    /// The file, for messages.
    pub path: String,
    /// The problems, in file order where known.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration {}:", self.path)?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Line of `key` (dotted `section.name`) in `text`, from the TOML parser's spans.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (_, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part)?;
        if parts.peek().is_none() {
            return Some(line_of_offset(text, value.span().start));
        }
        match value.get_ref() {
            toml::de::DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    None
}

/// The key a parser error is about: the `[section]` and `key =` around its span.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    // The section is the last header up to and including the error's own line.
    let section = text[..line_end]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let line = &text[line_start..line_end];
    let name = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string());
    match (section, name) {
        (Some(s), Some(n)) if !n.starts_with('[') => format!("{s}.{n}"),
        (Some(s), _) => s,
        (None, Some(n)) => n,
        (None, None) => "(file)".into(),
    }
}

/// Parses and validates configuration text; `path` is only used in messages.
pub fn parse(text: &str, path: &str) -> Result<Config, ConfigErrors> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        ConfigErrors {
            path: path.into(),
            errors: vec![ConfigError {
                key: key_at(text, offset),
                line: e.span().map(|s| line_of_offset(text, s.start)),
                message: e.message().trim().to_string(),
            }],
        }
    })?;
    let errors = validate(&config)
        .into_iter()
        .map(|(key, message)| ConfigError {
            line: line_of_key(text, &key),
            key,
            message,
        })
        .collect::<Vec<_>>();
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors {
            path: path.into(),
            errors,
        })
    }
}

/// Reads and validates a configuration file.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        path: shown.clone(),
        errors: vec![ConfigError {
            key: "(file)".into(),
            line: None,
            message: format!("cannot read: {e}"),
        }],
    })?;
    parse(&text, &shown)
}

/// Value checks the type system cannot express; each error is (dotted key, message).
/// The `[tuner]` section's problems.
fn validate_tuner(t: &crate::config::TunerSection, repository: bool) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    let mut err = |k: &str, m: String| errs.push((format!("tuner.{k}"), m));
    for on in &t.on {
        if on != "slo" && on != "regression" {
            err("on", format!("`{on}` is not slo or regression"));
        }
    }
    match t.objective.parse::<crate::tuner::Objective>() {
        Err(e) => err("objective", e),
        Ok(crate::tuner::Objective::Kernel { .. }) if repository => err(
            "objective",
            "a repository's harness is tuned on decode or prefill".into(),
        ),
        Ok(_) => {}
    }
    if !(1..=MAX_DURATION_SECS).contains(&t.budget_secs) {
        err(
            "budget_secs",
            format!("{} is outside 1..={MAX_DURATION_SECS}", t.budget_secs),
        );
    }
    if t.cooldown_secs > MAX_DURATION_SECS {
        err(
            "cooldown_secs",
            format!("{} is above {MAX_DURATION_SECS}", t.cooldown_secs),
        );
    }
    if !(2..=10_000).contains(&t.max_evals) {
        err("max_evals", format!("{} is outside 2..=10000", t.max_evals));
    }
    if !(t.min_gain.is_finite() && (0.0..1.0).contains(&t.min_gain)) {
        err("min_gain", format!("{} is outside [0, 1)", t.min_gain));
    }
    if !(t.alpha > 0.0 && t.alpha < 0.5) {
        err("alpha", format!("{} is outside (0, 0.5)", t.alpha));
    }
    if !(3..=200).contains(&t.adoption_pairs) {
        err(
            "adoption_pairs",
            format!("{} is outside 3..=200", t.adoption_pairs),
        );
    }
    if !(1..=512).contains(&t.crossval_steps) {
        err(
            "crossval_steps",
            format!("{} is outside 1..=512", t.crossval_steps),
        );
    }
    if t.profile_path.trim().is_empty()
        || t.profile_path.starts_with('/')
        || t.profile_path.contains("..")
    {
        err(
            "profile_path",
            format!(
                "`{}` is not a relative path inside the repository",
                t.profile_path
            ),
        );
    }
    for (name, values) in &t.space {
        if values.is_empty() {
            err(
                &format!("space.{name}"),
                "must list at least one value".into(),
            );
        }
    }
    if let Err(e) = t.webhook_token() {
        err("webhook_token_file", e);
    }
    errs
}

fn validate(c: &Config) -> Vec<(String, String)> {
    let mut errs = validate_tuner(&c.tuner, c.repository.is_some());
    let mut err = |k: &str, m: String| errs.push((k.to_string(), m));
    validate_daemon_and_schedule(c, &mut err);
    validate_benchmark(c, &mut err);
    validate_repository(c, &mut err);
    validate_noise_and_slo(c, &mut err);
    validate_regression(c, &mut err);
    validate_github(c, &mut err);
    errs
}

/// Problems of `[daemon]` and `[schedule]`, and every duration's bound.
fn validate_daemon_and_schedule(c: &Config, err: &mut impl FnMut(&str, String)) {
    if c.daemon.listen.parse::<std::net::SocketAddr>().is_err() {
        err(
            "daemon.listen",
            format!(
                "`{}` is not an address like 127.0.0.1:9464",
                c.daemon.listen
            ),
        );
    }
    if c.schedule.interval_secs == 0 {
        err("schedule.interval_secs", "must be at least 1 second".into());
    }
    let mut durations = vec![
        ("schedule.interval_secs", c.schedule.interval_secs),
        (
            "schedule.rebench_interval_secs",
            c.schedule.rebench_interval_secs,
        ),
        ("benchmark.timeout_secs", c.benchmark.timeout_secs),
    ];
    if let Some(r) = &c.repository {
        durations.extend([
            ("repository.build_timeout_secs", r.build_timeout_secs),
            ("repository.harness_timeout_secs", r.harness_timeout_secs),
            ("repository.fetch_timeout_secs", r.fetch_timeout_secs),
        ]);
    }
    for (k, v) in durations {
        if v > MAX_DURATION_SECS {
            err(
                k,
                format!("{v} s is above the maximum of {MAX_DURATION_SECS} s (one year)"),
            );
        }
    }
}

/// Problems of `[benchmark]`.
fn validate_benchmark(c: &Config, err: &mut impl FnMut(&str, String)) {
    let b = &c.benchmark;
    if !crate::harness::backend::BACKENDS.contains(&b.backend.as_str()) {
        err(
            "benchmark.backend",
            format!("`{}` is not one of auto, cpu, cuda", b.backend),
        );
    }
    if b.model.is_none() {
        if let Err(e) = b.preset.parse::<Preset>() {
            err("benchmark.preset", e);
        }
    }
    for (k, v) in [
        ("benchmark.prompt_tokens", b.prompt_tokens),
        ("benchmark.gen_tokens", b.gen_tokens),
        ("benchmark.reps", b.reps),
    ] {
        if v == 0 {
            err(k, "must be at least 1".into());
        }
    }
    if b.timeout_secs == 0 {
        err("benchmark.timeout_secs", "must be at least 1".into());
    }
    if let Some(m) = b.bandwidth_memory_mib {
        let min = crate::harness::stream_bandwidth::MIN_MEMORY_CAP_MIB;
        if !(min..=1 << 20).contains(&m) {
            err(
                "benchmark.bandwidth_memory_mib",
                format!("{m} is outside {min}..=1048576 MiB"),
            );
        }
    }
    if !b.params.trim().is_empty() {
        if let Err(e) = KernelConfig::default().with_params(&b.params) {
            err("benchmark.params", e.to_string());
        }
    }
    if !b.context_positions.is_empty() && b.backend == "cuda" {
        err(
            "benchmark.context_positions",
            "decode at a cache depth runs on the CPU backend only; remove it or use backend \"cpu\" or \"auto\"".into(),
        );
    }
    // A preset's context is known here (a model file's only once the run loads it).
    let context = b
        .model
        .is_none()
        .then(|| b.preset.parse::<Preset>().ok())
        .flatten()
        .map(|p| p.hparams().context);
    for &n in &b.context_positions {
        match context {
            _ if n == 0 => err(
                "benchmark.context_positions",
                "every depth must be at least 1".into(),
            ),
            Some(c) if n + b.gen_tokens > c => err(
                "benchmark.context_positions",
                format!(
                    "{n} + gen_tokens {} exceeds the {} preset's context of {c}",
                    b.gen_tokens, b.preset
                ),
            ),
            _ => {}
        }
    }
}

/// Problems of `[repository]`.
fn validate_repository(c: &Config, err: &mut impl FnMut(&str, String)) {
    if let Some(r) = &c.repository {
        if r.url.trim().is_empty() {
            err("repository.url", "must not be empty".into());
        }
        if r.branch.trim().is_empty() || r.branch.starts_with('-') || r.branch.contains("..") {
            err(
                "repository.branch",
                format!("`{}` is not a usable branch name", r.branch),
            );
        }
        for (k, v) in [
            ("repository.build_command", &r.build_command),
            ("repository.harness_command", &r.harness_command),
        ] {
            if v.trim().is_empty() {
                err(k, "must not be empty".into());
            }
        }
        for (k, v) in [
            ("repository.build_timeout_secs", r.build_timeout_secs),
            ("repository.harness_timeout_secs", r.harness_timeout_secs),
            ("repository.fetch_timeout_secs", r.fetch_timeout_secs),
        ] {
            if v == 0 {
                err(k, "must be at least 1".into());
            }
        }
    }
}

/// Why a figure after `n` cached positions would never be measured: the embedded benchmark
/// decodes at exactly `[benchmark] context_positions` (in repository mode the harness command
/// decides, so nothing is said). An objective on it would only ever read "not measured".
fn unmeasured_depth(c: &Config, n: usize) -> Option<String> {
    (c.repository.is_none() && !c.benchmark.context_positions.contains(&n)).then(|| {
        format!(
            "the benchmark does not decode after {n} positions: add {n} to [benchmark] context_positions"
        )
    })
}

/// Problems of `[noise]` and `[slo]`.
fn validate_noise_and_slo(c: &Config, err: &mut impl FnMut(&str, String)) {
    if !(c.noise.limit_cores.is_finite() && c.noise.limit_cores >= 0.0) {
        err(
            "noise.limit_cores",
            format!("{} is not a non-negative number", c.noise.limit_cores),
        );
    }
    for (k, v) in [
        (
            "slo.decode_tokens_per_second_min",
            c.slo.decode_tokens_per_second_min,
        ),
        (
            "slo.prefill_tokens_per_second_min",
            c.slo.prefill_tokens_per_second_min,
        ),
        (
            "slo.generation_128_seconds_max",
            c.slo.generation_128_seconds_max,
        ),
        (
            "slo.kernel_bandwidth_bytes_per_second_min",
            c.slo.kernel_bandwidth_bytes_per_second_min,
        ),
    ] {
        if v.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
            err(k, "must be a positive number".into());
        }
    }
    if let Some(r) = c.slo.decode_same_window_roofline_ratio_min {
        if !(r.is_finite() && r > 0.0 && r <= 1.0) {
            err(
                "slo.decode_same_window_roofline_ratio_min",
                format!("{r} is not a fraction in (0, 1]"),
            );
        }
    }
    for (depth, &v) in &c.slo.context_decode_tokens_per_second_min {
        let key = format!("slo.context_decode_tokens_per_second_min.{depth}");
        match depth.parse::<usize>() {
            Err(_) => err(
                &key,
                format!("`{depth}` is not a cache depth (a whole number of positions)"),
            ),
            Ok(n) => {
                if let Some(e) = unmeasured_depth(c, n) {
                    err(&key, e);
                }
            }
        }
        if !(v.is_finite() && v > 0.0) {
            err(&key, "must be a positive number".into());
        }
    }
    if c.noise.max_retries > 10 {
        err(
            "noise.max_retries",
            format!("{} is above the maximum of 10", c.noise.max_retries),
        );
    }
}

/// Problems of `[regression]`.
fn validate_regression(c: &Config, err: &mut impl FnMut(&str, String)) {
    let g = &c.regression;
    match crate::report::TrackedMetric::parse(&g.metric) {
        Err(e) => err("regression.metric", e),
        Ok(crate::report::TrackedMetric::DecodeAtContext(n)) => {
            if let Some(e) = unmeasured_depth(c, n) {
                err("regression.metric", e);
            }
        }
        Ok(_) => {}
    }
    if !["auto", "tokens_per_second", "per_read_bandwidth"].contains(&g.ab_metric.as_str()) {
        err(
            "regression.ab_metric",
            format!(
                "`{}` is not auto, tokens_per_second or per_read_bandwidth",
                g.ab_metric
            ),
        );
    }
    if g.baseline_runs == 0 {
        err("regression.baseline_runs", "must be at least 1".into());
    }
    if !(2..=100).contains(&g.ab_runs) {
        err(
            "regression.ab_runs",
            format!("{} is outside 2..=100", g.ab_runs),
        );
    }
    if !(g.ab_runs..=400).contains(&g.ab_max_runs) {
        err(
            "regression.ab_max_runs",
            format!("{} is outside ab_runs ({})..=400", g.ab_max_runs, g.ab_runs),
        );
    }
    if !(1..=1000).contains(&g.history_runs) {
        err(
            "regression.history_runs",
            format!("{} is outside 1..=1000", g.history_runs),
        );
    }
    if !(g.suspicion_sigmas.is_finite() && (0.0..=10.0).contains(&g.suspicion_sigmas)) {
        err(
            "regression.suspicion_sigmas",
            format!("{} is outside 0..=10", g.suspicion_sigmas),
        );
    }
    if !(2..=1000).contains(&g.ab_max_pooled) {
        err(
            "regression.ab_max_pooled",
            format!("{} is outside 2..=1000", g.ab_max_pooled),
        );
    }
    if !(g.suspicion_effect.is_finite() && (0.0..1.0).contains(&g.suspicion_effect)) {
        err(
            "regression.suspicion_effect",
            format!("{} is not a fraction in [0, 1)", g.suspicion_effect),
        );
    }
    for (k, v) in [
        ("regression.min_effect", g.min_effect),
        ("regression.suspicion_p", g.suspicion_p),
        ("regression.alpha", g.alpha),
        ("regression.change_point_max_p", g.change_point_max_p),
    ] {
        if !(v.is_finite() && v > 0.0 && v < 1.0) {
            err(k, format!("{v} is not a fraction between 0 and 1"));
        }
    }
}

/// Problems of `[github]`.
fn validate_github(c: &Config, err: &mut impl FnMut(&str, String)) {
    if let Some(gh) = &c.github {
        let parts: Vec<&str> = gh.repository.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
            err(
                "github.repository",
                format!("`{}` is not owner/name", gh.repository),
            );
        }
        if !(gh.api_url.starts_with("https://") || gh.api_url.starts_with("http://")) {
            err(
                "github.api_url",
                format!("`{}` is not an http(s) URL", gh.api_url),
            );
        }
        if gh.app_id.is_some() != gh.installation_id.is_some() {
            err(
                "github.installation_id",
                "app_id and installation_id go together".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_embedded_default() {
        let c = parse("", "t").unwrap();
        assert_eq!(c, Config::default());
        assert!(c.repository.is_none());
        assert_eq!(c.daemon.listen, "127.0.0.1:9464");
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let e = parse("[schedule]\ninterval_secs = 60\nintervall = 5\n", "t").unwrap_err();
        assert_eq!(e.errors.len(), 1);
        let err = &e.errors[0];
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("intervall"), "{err}");
        assert_eq!(err.key, "schedule.intervall");
    }

    #[test]
    fn wrong_type_and_bad_values_name_key_and_line() {
        let e = parse("[schedule]\ninterval_secs = \"soon\"\n", "t").unwrap_err();
        assert_eq!(
            (e.errors[0].key.as_str(), e.errors[0].line),
            ("schedule.interval_secs", Some(2))
        );
        let text = "[daemon]\nlisten = \"nowhere\"\n\n[schedule]\ninterval_secs = 0\n\n[benchmark]\npreset = \"7b\"\nparams = \"row_tile=3\"\n";
        let e = parse(text, "t").unwrap_err();
        let got: Vec<_> = e.errors.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(
            got,
            vec![
                ("daemon.listen", Some(2)),
                ("schedule.interval_secs", Some(5)),
                ("benchmark.preset", Some(8)),
                ("benchmark.params", Some(9)),
            ]
        );
        assert!(e.to_string().contains("benchmark.params (line 9)"));
    }

    #[test]
    fn huge_durations_are_refused_with_their_key() {
        let e = parse(
            "[schedule]\ninterval_secs = 9223372036854775807\n\n[repository]\nurl = \"/r\"\nfetch_timeout_secs = 99999999999\n",
            "t",
        )
        .unwrap_err();
        let got: Vec<_> = e.errors.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(
            got,
            vec![
                ("schedule.interval_secs", Some(2)),
                ("repository.fetch_timeout_secs", Some(6)),
            ]
        );
        assert!(parse("[schedule]\ninterval_secs = 31536000\n", "t").is_ok());
    }

    #[test]
    fn context_depths_must_fit_the_preset_and_run_on_the_cpu() {
        let c = parse("[benchmark]\ncontext_positions = [1024, 3968]\n", "t").unwrap();
        assert_eq!(c.benchmark.context_positions, vec![1024, 3968]);
        // 3968 + the default 128 generated tokens exceed 2b4t's 4096; 0 is no depth.
        for (text, says) in [
            (
                "[benchmark]\ncontext_positions = [4000]\n",
                "context of 4096",
            ),
            ("[benchmark]\ncontext_positions = [0]\n", "at least 1"),
            (
                "[benchmark]\npreset = \"tiny\"\ngen_tokens = 8\ncontext_positions = [300]\n",
                "context of 256",
            ),
            (
                "[benchmark]\nbackend = \"cuda\"\ncontext_positions = [64]\n",
                "CPU backend only",
            ),
        ] {
            let e = parse(text, "t").unwrap_err();
            assert_eq!(e.errors[0].key, "benchmark.context_positions", "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
        // A model file's context is only known when a run loads it.
        assert!(parse(
            "[benchmark]\nmodel = \"/m.gguf\"\ncontext_positions = [100000]\n",
            "t"
        )
        .is_ok());
    }

    #[test]
    fn context_slos_name_a_measured_depth() {
        let c = parse(
            "[benchmark]\ncontext_positions = [1024, 3968]\n[slo]\ncontext_decode_tokens_per_second_min = { 3968 = 15.5 }\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.slo.context_decode_tokens_per_second_min["3968"], 15.5);
        for (text, line, says) in [
            (
                "[benchmark]\ncontext_positions = [1024]\n[slo]\ncontext_decode_tokens_per_second_min = { 3968 = 15.0 }\n",
                4,
                "add 3968 to [benchmark] context_positions",
            ),
            (
                "[benchmark]\ncontext_positions = [1024]\n[slo]\n\n[slo.context_decode_tokens_per_second_min]\n1024 = -1\n",
                6,
                "positive",
            ),
            (
                "[slo.context_decode_tokens_per_second_min]\nlong = 3.0\n",
                2,
                "not a cache depth",
            ),
        ] {
            let e = parse(text, "t").unwrap_err();
            assert_eq!(e.errors.len(), 1, "{e}");
            assert!(
                e.errors[0]
                    .key
                    .starts_with("slo.context_decode_tokens_per_second_min."),
                "{e}"
            );
            assert_eq!(e.errors[0].line, Some(line), "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
        // A tracked repository's harness command decides which depths it measures.
        assert!(parse(
            "[repository]\nurl = \"/srv/b.git\"\n[slo]\ncontext_decode_tokens_per_second_min = { 4000 = 1.0 }\n",
            "t"
        )
        .is_ok());
    }

    #[test]
    fn the_roofline_slo_is_a_fraction() {
        let c = parse("[slo]\ndecode_same_window_roofline_ratio_min = 0.85\n", "t").unwrap();
        assert_eq!(c.slo.decode_same_window_roofline_ratio_min, Some(0.85));
        let e = parse("[slo]\ndecode_same_window_roofline_ratio_min = 90\n", "t").unwrap_err();
        assert_eq!(
            (e.errors[0].key.as_str(), e.errors[0].line),
            ("slo.decode_same_window_roofline_ratio_min", Some(2))
        );
        assert!(e.to_string().contains("fraction"), "{e}");
    }

    #[test]
    fn the_regression_metric_may_be_decode_at_a_measured_depth() {
        let c = parse(
            "[benchmark]\ncontext_positions = [64]\n[regression]\nmetric = \"decode_tps_at_64\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            c.regression.tracked_metric(),
            crate::report::TrackedMetric::DecodeAtContext(64)
        );
        for (text, says) in [
            (
                "[regression]\nmetric = \"decode_tps_at_64\"\n",
                "add 64 to [benchmark] context_positions",
            ),
            ("[regression]\nmetric = \"latency\"\n", "decode_tps_at_N"),
            (
                "[benchmark]\ncontext_positions = [64]\n[regression]\nmetric = \"decode_tps_at_064\"\n",
                "as `decode_tps_at_64`",
            ),
        ] {
            let e = parse(text, "t").unwrap_err();
            assert_eq!(e.errors[0].key, "regression.metric", "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn repository_section_defaults() {
        let c = parse("[repository]\nurl = \"/srv/bitnet.git\"\n", "t").unwrap();
        let r = c.repository.unwrap();
        assert_eq!(r.branch, "main");
        assert_eq!(r.harness_command, "target/release/perfd bench --json");
        let e = parse("[repository]\nurl = \"\"\nbranch = \"--evil\"\n", "t").unwrap_err();
        assert_eq!(e.errors.len(), 2);
        assert!(parse("[repository]\nbranch = \"main\"\n", "t")
            .unwrap_err()
            .to_string()
            .contains("url"));
    }
}
