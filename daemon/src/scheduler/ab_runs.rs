//! Runs a commit's A/B: baseline (A) and candidate (B) harness processes in the order the
//! session asks for, each in its commit's worktree (the baseline's is rebuilt when it was pruned).

use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::unix_now;
use crate::config::{Config, RegressionSection, RepositorySection};
use crate::runner::child_process::CommandSpec;
use crate::runner::harness::run_report;
use crate::runner::mainline::Mainline;
use crate::runner::run_failure::RunFailure;
use crate::state::DaemonState;
use crate::verdict::ab_confirm::{AbPolicy, AbResult, BETA};
use crate::verdict::ab_metric::AbMetric;
use crate::verdict::ab_session::{AbPlan, AbSession, Side};

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
    let tracked = config.regression.tracked_metric();
    metric.value(&report, &tracked).ok_or_else(|| {
        format!(
            "A/B harness report has no {tracked} figure or no read bandwidth ({})",
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

/// Runs one commit's sequential A/B: the session says which build runs next, each in its
/// commit's worktree, until it is settled or the commit's share of runs is spent.
pub async fn run_session(
    state: &DaemonState,
    config: &Config,
    repo: &RepositorySection,
    plan: AbPlan,
    candidate: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<AbResult, String> {
    let state_dir = config.state_dir();
    let mainline = Mainline::new(&repo.url, &repo.branch, &state_dir);
    let log = crate::state_dir::logs(&state_dir).join(format!("ab-{}.log", unix_now() as u64));
    let metric = plan.metric;
    let baseline = plan.baseline_commit.clone();
    let mut session = AbSession::new(plan, ab_policy(&config.regression));
    // The baseline's worktree is only built when the session asks for a baseline run.
    let mut a = None;
    let b = built_worktree(state, repo, &mainline, candidate, &log, shutdown)
        .await
        .map_err(|e| e.to_string())?;
    while let Some(side) = session.next() {
        let dir = match side {
            Side::Candidate => b.clone(),
            Side::Baseline => match &a {
                Some(dir) => dir,
                None => a.insert(
                    built_worktree(state, repo, &mainline, &baseline, &log, shutdown)
                        .await
                        .map_err(|e| e.to_string())?,
                ),
            }
            .clone(),
        };
        let value = harness_metric(state, config, repo, &dir, &log, metric, shutdown).await?;
        session.record(side, value);
    }
    Ok(session.result())
}

/// The A/B policy of a configuration.
pub fn ab_policy(cfg: &RegressionSection) -> AbPolicy {
    AbPolicy {
        min_effect: cfg.min_effect,
        alpha: cfg.alpha,
        beta: BETA,
        runs_per_commit: cfg.ab_runs,
        max_runs_per_commit: cfg.ab_max_runs,
        max_pooled: cfg.ab_max_pooled,
    }
}
