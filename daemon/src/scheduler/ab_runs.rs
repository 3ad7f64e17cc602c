//! Runs the interleaved A/B: baseline (A) and candidate (B) harnesses alternately, ABAB…, each in
//! its commit's worktree (the baseline's is rebuilt when it was pruned).

use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::unix_now;
use crate::config::{Config, RegressionSection, RepositorySection};
use crate::report::Phase;
use crate::runner::child_process::CommandSpec;
use crate::runner::harness::run_report;
use crate::runner::mainline::Mainline;
use crate::runner::run_failure::RunFailure;
use crate::state::DaemonState;
use crate::verdict::ab_confirm::{
    decide, AbDecision, AbPolicy, AbResult, CLEAR_ALPHA, CONFIRM_FRACTION, MIN_PAIRS,
};
use crate::verdict::ab_metric::AbMetric;

/// File marking a worktree whose build succeeded.
pub const BUILT_MARKER: &str = ".perfd-built";

async fn harness_metric(
    state: &DaemonState,
    config: &Config,
    repo: &RepositorySection,
    worktree: &Path,
    log: &Path,
    metric: AbMetric,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<f64, String> {
    // Both sides run with the profile in use: the A/B compares builds, not parameters.
    let params = super::profile_in_use::adopted_params(state, config);
    let mut spec = CommandSpec {
        cwd: Some(worktree.to_path_buf()),
        timeout: Duration::from_secs(repo.harness_timeout_secs),
        capture_stdout: true,
        log: log.to_path_buf(),
        owner: state.marker.owner(),
        ..super::profile_in_use::harness_command("A/B harness", repo, params.as_deref())
    };
    spec.env.push((
        "PERFD_CACHE_DIR".into(),
        crate::state_dir::models(&config.state_dir())
            .display()
            .to_string(),
    ));
    let (report, _) = run_report(&spec, shutdown, &state.heartbeat)
        .await
        .map_err(|e| e.to_string())?;
    let phase = Phase::of_metric(&config.regression.metric);
    metric.value(&report, &phase).ok_or_else(|| {
        format!(
            "A/B harness report has no {phase} phase or no read bandwidth ({})",
            metric.name()
        )
    })
}

/// Makes sure `commit` has a built worktree; returns its path.
pub async fn built_worktree(
    state: &DaemonState,
    repo: &RepositorySection,
    mainline: &Mainline,
    commit: &str,
    log: &Path,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<std::path::PathBuf, RunFailure> {
    let timeout = Duration::from_secs(repo.fetch_timeout_secs);
    let dir = mainline
        .worktree(commit, log, timeout, shutdown, &state.heartbeat)
        .await
        .map_err(RunFailure::FetchFailed)?;
    if !dir.join(BUILT_MARKER).exists() {
        super::run_once::build(state, repo, &dir, log, shutdown)
            .await
            .map_err(|e| RunFailure::BuildFailed(format!("build of {commit}: {e}")))?;
    }
    Ok(dir)
}

/// Runs interleaved pairs until `decide` settles the question or `ab_pairs` pairs were added,
/// with `pooled` pairs carried over from the previous inconclusive commit.
#[allow(clippy::too_many_arguments)]
pub async fn run_pairs(
    state: &DaemonState,
    config: &Config,
    repo: &RepositorySection,
    baseline: &str,
    candidate: &str,
    pooled: &[(f64, f64)],
    sigma_history: Option<f64>,
    metric: AbMetric,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<AbResult, String> {
    let state_dir = config.state_dir();
    let mainline = Mainline::new(&repo.url, &repo.branch, &state_dir);
    let log = crate::state_dir::logs(&state_dir).join(format!("ab-{}.log", unix_now() as u64));
    let a = built_worktree(state, repo, &mainline, baseline, &log, shutdown)
        .await
        .map_err(|e| e.to_string())?;
    let b = built_worktree(state, repo, &mainline, candidate, &log, shutdown)
        .await
        .map_err(|e| e.to_string())?;
    let policy = ab_policy(&config.regression);
    let mut pairs = Vec::new();
    loop {
        let va = harness_metric(state, config, repo, &a, &log, metric, shutdown).await?;
        let vb = harness_metric(state, config, repo, &b, &log, metric, shutdown).await?;
        pairs.push((va, vb));
        let mut r = decide(baseline, &pairs, pooled, sigma_history, &policy);
        r.metric = metric;
        if r.decision != AbDecision::Inconclusive || pairs.len() >= policy.max_pairs_per_commit {
            return Ok(r);
        }
    }
}

/// The A/B policy of a configuration.
pub fn ab_policy(cfg: &RegressionSection) -> AbPolicy {
    AbPolicy {
        min_effect: cfg.min_effect,
        confirm_fraction: CONFIRM_FRACTION,
        alpha: cfg.alpha,
        clear_alpha: CLEAR_ALPHA,
        min_pairs: MIN_PAIRS,
        max_pairs_per_commit: cfg.ab_pairs,
        max_pooled: cfg.ab_max_pooled,
    }
}
