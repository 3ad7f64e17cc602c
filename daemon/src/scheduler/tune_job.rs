//! A tuning job inside the daemon: `perfd tune --json` as a child process (under the child guard,
//! like every benchmark), on perfd's own kernels in embedded mode or on the repository's harness
//! at the newest benchmarked commit. The child records the job and any adopted profile in the
//! store; the daemon reads its report back, updates the gates of the run that triggered it and
//! proposes the profile upstream.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::unix_now;
use crate::config::Config;
use crate::harness::backend::{resolve_for_daemon, Backend};
use crate::runner::child_process::{self, CommandSpec};
use crate::runner::harness::self_exe;
use crate::runner::mainline::Mainline;
use crate::state::DaemonState;
use crate::tune_queue::TuneRequest;
use crate::tuner::TuneReport;

use super::ab_runs::built_worktree;

/// Model key of the profile in repository mode (one harness per daemon).
pub const REPOSITORY_MODEL_KEY: &str = "repository";

/// Time a job may take beyond its search budget: writing and loading the model, the guard's
/// reference generation, the adoption A/B.
const JOB_OVERHEAD_SECS: u64 = 900;

/// Why a tuning job produced no report.
#[derive(Debug, thiserror::Error)]
pub enum TuneJobError {
    /// The perfd binary or the harness's worktree is not available.
    #[error("{0}")]
    Setup(String),
    /// The tuning child failed.
    #[error("{0}")]
    Child(String),
}

/// The model key and the arguments that select the model (embedded mode).
pub fn embedded_model(config: &Config) -> (String, Vec<String>) {
    let b = &config.benchmark;
    match &b.model {
        Some(m) => (
            crate::tuner::profile::model_key(&b.preset, Some(m)),
            vec!["--model".into(), m.display().to_string()],
        ),
        None => (b.preset.clone(), vec!["--preset".into(), b.preset.clone()]),
    }
}

/// The newest successful run (its id and commit), for repository mode.
fn newest_success(state: &DaemonState) -> Option<(i64, String)> {
    let s = state.store.lock();
    let row = s.last_success().ok().flatten()?;
    Some((row.id, row.record.commit))
}

/// The `perfd tune` arguments of `[tuner]`, for the state directory and the trigger.
fn tune_args(config: &Config, state_dir: &std::path::Path, trigger: &str) -> Vec<String> {
    let t = &config.tuner;
    [
        "tune",
        "--json",
        "--state-dir",
        &state_dir.display().to_string(),
        "--objective",
        &t.objective,
        "--budget-secs",
        &t.budget_secs.to_string(),
        "--max-evals",
        &t.max_evals.to_string(),
        "--min-gain",
        &t.min_gain.to_string(),
        "--alpha",
        &t.alpha.to_string(),
        "--adoption-pairs",
        &t.adoption_pairs.to_string(),
        "--crossval-steps",
        &t.crossval_steps.to_string(),
        "--trigger",
        trigger,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Why an embedded tuning job cannot run, if it cannot: the in-process tuner searches the CPU
/// kernel parameters, and a profile of those would be refused by a benchmark on the GPU.
pub fn embedded_tuning_refused(config: &Config) -> Option<String> {
    if config.repository.is_some() || resolve_for_daemon(&config.benchmark.backend) == Backend::Cpu
    {
        return None;
    }
    Some(
        "the embedded tuner searches CPU kernel parameters, but benchmark.backend runs the \
         benchmark on the GPU (cuda): set benchmark.backend = \"cpu\" to tune the CPU kernels, \
         or tune the CUDA launch parameters through a [repository] harness (perfd bench \
         --list-params with PERFD_BACKEND=cuda lists them)"
            .into(),
    )
}

/// Runs one job; returns the child's report.
pub async fn run(
    state: &DaemonState,
    config: &Config,
    request: &TuneRequest,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<TuneReport, TuneJobError> {
    if let Some(why) = embedded_tuning_refused(config) {
        return Err(TuneJobError::Setup(why));
    }
    let exe = self_exe().map_err(|e| TuneJobError::Setup(format!("cannot locate perfd: {e}")))?;
    let state_dir = config.state_dir();
    let mut args = tune_args(config, &state_dir, &request.trigger);
    let log = crate::state_dir::logs(&state_dir).join(format!("tune-{}.log", unix_now() as u64));
    let t = &config.tuner;
    let mut timeout = t.budget_secs + JOB_OVERHEAD_SECS;
    let cwd: PathBuf = match &config.repository {
        None => {
            args.extend(embedded_model(config).1);
            args.extend([
                "--cache-dir".into(),
                crate::state_dir::models(&state_dir).display().to_string(),
            ]);
            state_dir.clone()
        }
        Some(repo) => {
            let (_, commit) = newest_success(state).ok_or_else(|| {
                TuneJobError::Setup("no successful run yet: nothing to tune on".into())
            })?;
            let mainline = Mainline::new(&repo.url, &repo.branch, &state_dir);
            let worktree = built_worktree(state, repo, &mainline, &commit, &log, shutdown)
                .await
                .map_err(|e| TuneJobError::Setup(e.to_string()))?;
            args.extend([
                "--harness".into(),
                repo.harness_command.clone(),
                "--harness-cwd".into(),
                worktree.display().to_string(),
                "--harness-timeout-secs".into(),
                repo.harness_timeout_secs.to_string(),
                "--model-key".into(),
                REPOSITORY_MODEL_KEY.into(),
            ]);
            if !t.space.is_empty() {
                let space: Vec<String> = t
                    .space
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.join("|")))
                    .collect();
                args.extend(["--space".into(), space.join(";")]);
            }
            // Each harness run may take its whole timeout; a job runs many.
            timeout = timeout.saturating_add(repo.harness_timeout_secs.saturating_mul(4));
            worktree
        }
    };
    let spec = CommandSpec {
        label: "tuner".into(),
        program: exe,
        args,
        cwd: Some(cwd),
        timeout: Duration::from_secs(timeout.min(crate::config::MAX_DURATION_SECS)),
        capture_stdout: true,
        log,
        watch_noise: false,
        env: vec![(
            "PERFD_CACHE_DIR".into(),
            crate::state_dir::models(&state_dir).display().to_string(),
        )],
        owner: state.marker.owner(),
    };
    tracing::info!(trigger = %request.trigger, log = %spec.log.display(), "tuning job started");
    let r = child_process::run(&spec, shutdown, &state.heartbeat)
        .await
        .map_err(|e| TuneJobError::Child(format!("cannot start the tuner: {e}")))?;
    if !r.success() {
        return Err(TuneJobError::Child(format!(
            "{} (log: {})",
            r.describe("the tuner", spec.timeout),
            spec.log.display()
        )));
    }
    serde_json::from_slice(&r.stdout).map_err(|e| {
        TuneJobError::Child(format!(
            "the tuner printed no tune report ({e}); log: {}",
            spec.log.display()
        ))
    })
}

/// The run a job's outcome belongs to: the request's, else the newest successful one.
pub fn target_run(state: &DaemonState, request: &TuneRequest) -> Option<i64> {
    request
        .run_id
        .or_else(|| newest_success(state).map(|(id, _)| id))
}

/// Queues a job when the run's verdicts call for one (`[tuner] on`), unless a job on this host
/// finished within the cooldown: a breach the tuner could not fix must not start a loop.
pub fn on_judgement(
    state: &DaemonState,
    config: &Config,
    run_id: i64,
    j: &super::judge::Judgement,
) {
    let on = |k: &str| config.tuner.on.iter().any(|o| o == k);
    let trigger = if j.confirmed_regression && on("regression") {
        "regression".to_string()
    } else if !j.breached.is_empty() && on("slo") {
        format!("slo:{}", j.breached.join(","))
    } else {
        return;
    };
    let last = state.store.lock().last_tuning_job_finished(&state.host.id);
    match last {
        Ok(Some(at)) if unix_now() - at < config.tuner.cooldown_secs as f64 => {
            tracing::info!(trigger = %trigger, cooldown_secs = config.tuner.cooldown_secs, "tuning not started: a job on this host finished within the cooldown");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the last tuning job; not starting one now");
            return;
        }
        _ => {}
    }
    let request = TuneRequest {
        group_key: Some(format!("verdict:{trigger}")),
        trigger: trigger.clone(),
        run_id: Some(run_id),
    };
    match state.tune_queue.request(request) {
        Ok(()) => {
            tracing::info!(trigger = %trigger, run = run_id, "tuning job queued by the run's verdicts")
        }
        Err(e) => tracing::info!(trigger = %trigger, reason = %e, "tuning job not queued"),
    }
}

/// Runs every queued job, one at a time, and hands each outcome on.
pub async fn run_queued(state: &DaemonState, shutdown: &mut watch::Receiver<bool>) {
    while let Some(request) = state.tune_queue.start_next() {
        if *shutdown.borrow() {
            state.tune_queue.finished();
            break;
        }
        let config = state.config();
        let started_at = unix_now();
        match run(state, &config, &request, shutdown).await {
            Ok(report) => {
                tracing::info!(trigger = %request.trigger, outcome = %report.outcome, change = %report.job.before.diff_text(&report.job.after), why = %report.job.why, evaluations = report.job.evaluations, rejected = report.job.rejected.len(), "tuning job finished");
                if let Some(id) = target_run(state, &request) {
                    if let Err(e) = super::judge::regate_after_tuning(state, &config, id, &report) {
                        tracing::error!(run = id, error = %e, "cannot update the gates with the tuning outcome");
                    }
                }
                if report.job.adopted {
                    super::tune_proposal::propose(state, &config, &report);
                }
            }
            Err(e) => {
                tracing::error!(trigger = %request.trigger, error = %e, "tuning job failed");
                record_failure(state, &config, &request, started_at, &e.to_string());
            }
        }
        state.tune_queue.finished();
    }
}

/// A job that produced no report is still a job: counted as failed, with the reason.
fn record_failure(
    state: &DaemonState,
    config: &Config,
    request: &TuneRequest,
    started_at: f64,
    why: &str,
) {
    let model = match &config.repository {
        None => embedded_model(config).0,
        Some(_) => REPOSITORY_MODEL_KEY.to_string(),
    };
    let job = crate::store::NewTuningJob {
        started_at,
        finished_at: unix_now(),
        host_id: state.host.id.clone(),
        model,
        objective: config.tuner.objective.clone(),
        trigger: request.trigger.clone(),
        outcome: "failed".into(),
        evaluations: 0,
        rejected: 0,
        gain: None,
        before_params: String::new(),
        after_params: String::new(),
        outcome_json: serde_json::json!({ "error": why }).to_string(),
        profile_toml: None,
    };
    let stored = state.store.lock().record_tuning_job(&job);
    if let Err(e) = stored {
        tracing::error!(error = %e, "cannot record the failed tuning job");
    }
}

#[cfg(test)]
mod embedded_backend_tests {
    use super::*;

    #[test]
    fn the_embedded_tuner_refuses_a_gpu_benchmark_with_the_reason() {
        let mut config = Config::default();
        config.benchmark.backend = "cpu".into();
        assert_eq!(embedded_tuning_refused(&config), None);
        config.benchmark.backend = "cuda".into();
        let why = embedded_tuning_refused(&config).expect("refused");
        assert!(
            why.contains("benchmark.backend") && why.contains("cuda"),
            "{why}"
        );
    }
}
