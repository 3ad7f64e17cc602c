//! One scheduler tick: decide whether to benchmark, run fetch → worktree → build → harness (with
//! noise retries), and record the outcome — success or failure — in the store before anything
//! else sees it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::unix_now;
use crate::config::{Config, RepositorySection};
use crate::harness::backend::{resolve_for_daemon, Backend};
use crate::health::Problem;
use crate::report::{BenchReport, Phase};
use crate::run::RecordedRun;
use crate::runner::child_process::{self, CommandSpec};
use crate::runner::harness::{embedded_kernel_args, embedded_model_args, run_report, self_exe};
use crate::runner::mainline::Mainline;
use crate::runner::run_failure::RunFailure;
use crate::runner::run_marker::InProgress;
use crate::state::{DaemonState, RunningInfo};
use crate::store::{NewRun, RunRecord, RunStatus};

/// What a run is about, before it has an outcome.
struct RunContext {
    started_at: f64,
    commit: String,
    branch: String,
    source: &'static str,
    log_dir: PathBuf,
}

impl RunContext {
    fn log(&self, step: &str) -> PathBuf {
        self.log_dir
            .join(format!("run-{}-{}.log", self.started_at as u64, step))
    }

    /// The run as failed for `why`.
    fn failed(&self, state: &DaemonState, why: RunFailure) -> NewRun {
        self.outcome(state, why.status(), Some(why.to_string()))
    }

    fn outcome(&self, state: &DaemonState, status: RunStatus, reason: Option<String>) -> NewRun {
        NewRun {
            record: RunRecord {
                started_at: self.started_at,
                finished_at: unix_now(),
                commit: self.commit.clone(),
                branch: self.branch.clone(),
                source: self.source.into(),
                status,
                reason,
                host_id: state.host.id.clone(),
                noisy: false,
                attempts: 1,
                params: None,
                kernel_ids: None,
                decode_tps: None,
                prefill_tps: None,
            },
            report_json: None,
            kernels_json: None,
            samples: Vec::new(),
        }
    }
}

fn set_step(state: &DaemonState, ctx: &RunContext, step: &str) {
    state.published.set_running(Some(RunningInfo {
        commit: ctx.commit.clone(),
        step: step.into(),
        started_at: ctx.started_at,
    }));
    let marker = InProgress {
        started_at: ctx.started_at,
        commit: ctx.commit.clone(),
        branch: ctx.branch.clone(),
        source: ctx.source.into(),
        step: step.into(),
    };
    if let Err(e) = state.marker.set(&marker) {
        tracing::warn!(error = %e, "cannot write the run-in-progress marker; a crash now would not be reported");
    }
}

/// Stores `run` and updates counters and the latest result; returns the stored run with its
/// reports (the value judging takes). The store is written first: nothing is exported that is
/// not on disk. When the store cannot write, the run goes to the spool (retried every tick),
/// the failure is counted and `/readyz` says why.
pub(super) fn record(
    state: &DaemonState,
    run: NewRun,
    reports: Option<(Option<BenchReport>, Option<BenchReport>)>,
) -> Option<RecordedRun> {
    let stored = state.store.lock().insert_run(&run);
    state.marker.clear();
    state.published.set_running(None);
    match stored {
        Ok(row) => {
            state.health.clear(Problem::Store);
            tracing::info!(run = row.id, commit = %row.commit, status = row.status.name(), reason = ?row.reason, "run recorded");
            let (report, kernels) = reports.unwrap_or_default();
            let run = RecordedRun {
                row,
                report,
                kernels,
            };
            recorded(state, &run);
            Some(run)
        }
        Err(e) => {
            state
                .health
                .store_failed(format!("the history store cannot write: {e}"));
            match state.spool.keep(&run) {
                Ok(path) => {
                    tracing::error!(error = %e, spool = %path.display(), "cannot store the run; kept in the spool until the store writes again")
                }
                Err(io) => {
                    tracing::error!(error = %e, spool_error = %io, "cannot store the run nor spool it to disk; kept in memory until the store writes again")
                }
            }
            None
        }
    }
}

/// Counters and the latest result follow a run that reached the store.
fn recorded(state: &DaemonState, run: &RecordedRun) {
    state.published.recorded(run);
}

/// Moves spooled runs into the store once it writes again; returns the runs stored.
fn drain_spool(state: &DaemonState) -> Vec<RecordedRun> {
    if state.spool.is_empty() {
        return Vec::new();
    }
    let (rows, err) = state.spool.drain(|run| state.store.lock().insert_run(run));
    // A spooled run kept its reports as JSON: parse them once, here.
    let runs: Vec<RecordedRun> = rows
        .into_iter()
        .map(|(row, run)| {
            let parse = |j: &Option<String>| {
                j.as_deref()
                    .and_then(|t| serde_json::from_str::<BenchReport>(t).ok())
            };
            RecordedRun {
                report: parse(&run.report_json),
                kernels: parse(&run.kernels_json),
                row,
            }
        })
        .collect();
    for run in &runs {
        tracing::info!(run = run.row.id, commit = %run.row.commit, "spooled run stored");
        recorded(state, run);
    }
    match err {
        Some(e) => state
            .health
            .store_failed(format!("the history store cannot write: {e}")),
        None => state.health.clear(Problem::Store),
    }
    runs
}

/// Records the run a dead daemon left unfinished (found at start-up) as interrupted.
pub fn record_interrupted(state: &DaemonState) {
    let Some((run, children)) = state.marker.take_stale() else {
        return;
    };
    tracing::warn!(commit = %run.commit, step = %run.step, "the previous perfd died during a run; {children}");
    let reason = format!(
        "perfd stopped unexpectedly during the {} step (killed, crashed or the host went down); {children}",
        run.step
    );
    let ctx = RunContext {
        started_at: run.started_at,
        commit: run.commit,
        branch: run.branch,
        source: if run.source == "repository" {
            "repository"
        } else {
            "embedded"
        },
        log_dir: PathBuf::new(),
    };
    record(
        state,
        ctx.outcome(state, RunStatus::Interrupted, Some(reason)),
        None,
    );
}

/// One tick of the scheduler.
pub async fn tick(state: &DaemonState, shutdown: &mut watch::Receiver<bool>) {
    let config = state.config();
    let state_dir = config.state_dir();
    let log_dir = crate::state_dir::logs(&state_dir);
    if let Err(e) = std::fs::create_dir_all(&log_dir) {
        tracing::error!(error = %e, dir = %log_dir.display(), "cannot create log directory; skipping tick");
        return;
    }
    let mut recorded = drain_spool(state);
    let outcome = match &config.repository {
        None => {
            let ctx = RunContext {
                started_at: unix_now(),
                commit: env!("PERFD_GIT_COMMIT").into(),
                branch: "embedded".into(),
                source: "embedded",
                log_dir,
            };
            embedded_run(state, &config, &ctx, &state_dir, shutdown).await
        }
        Some(repo) => repository_tick(state, &config, repo, &state_dir, log_dir, shutdown).await,
    };
    recorded.extend(outcome);
    judge_runs(state, &config, recorded, shutdown).await;
}

/// Judges what earlier ticks could not, then `recorded` (normally this tick's one run): verdicts,
/// A/B, gates, tuning triggers. A store failure leaves the run for the next call, never a verdict.
pub async fn judge_runs(
    state: &DaemonState,
    config: &Config,
    recorded: Vec<RecordedRun>,
    shutdown: &mut watch::Receiver<bool>,
) {
    let mut runs = load_unjudged(state);
    runs.extend(recorded);
    for run in runs {
        let id = run.row.id;
        match super::judge::after_run(state, config, &run, shutdown).await {
            Ok(j) => {
                // The store took the verdicts: a store problem is over unless runs still wait in
                // the spool (the next drain clears it then).
                if state.spool.is_empty() {
                    state.health.clear(Problem::Store);
                }
                super::tune_job::on_judgement(state, config, id, &j)
            }
            Err(e) => {
                tracing::error!(run = id, error = %e, "cannot judge the run now; retrying at the next tick");
                state.health.store_failed(format!(
                    "the history store failed while judging run {id}: {e}"
                ));
                state.unjudged.retry(id);
            }
        }
    }
}

/// The runs whose judgement failed earlier, read back from the store (still queued when the
/// store cannot give them back).
fn load_unjudged(state: &DaemonState) -> Vec<RecordedRun> {
    let mut runs = Vec::new();
    for id in state.unjudged.take() {
        let found = state.store.with(|s| {
            s.run(id)
                .map(|row| row.and_then(|row| crate::state::recorded_from_store(s, row)))
        });
        match found {
            Ok(Some(run)) => runs.push(run),
            Ok(None) => tracing::warn!(run = id, "a run waiting to be judged is no longer stored"),
            Err(e) => {
                tracing::error!(run = id, error = %e, "cannot read a run waiting to be judged; retrying at the next tick");
                state.unjudged.retry(id);
            }
        }
    }
    runs
}

async fn embedded_run(
    state: &DaemonState,
    config: &Config,
    ctx: &RunContext,
    state_dir: &Path,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<RecordedRun> {
    let exe = match self_exe() {
        Ok(e) => e,
        Err(e) => {
            let why = RunFailure::Setup(format!("cannot locate the perfd binary: {e}"));
            return record(state, ctx.failed(state, why), None);
        }
    };
    // The adopted tuning profile (CPU kernel parameters: the embedded tuner searches those)
    // replaces the configured parameters of a CPU benchmark.
    let mut bench = config.benchmark.clone();
    if resolve_for_daemon(&bench.backend) == Backend::Cpu {
        if let Some(p) = super::profile_in_use::adopted_params(state, config) {
            bench.params = p;
        }
    }
    let b = &bench;
    let env = vec![(
        "PERFD_CACHE_DIR".to_string(),
        crate::state_dir::models(state_dir).display().to_string(),
    )];
    let model = CommandSpec {
        label: "harness".into(),
        program: exe.clone(),
        args: embedded_model_args(b),
        cwd: Some(state_dir.to_path_buf()),
        timeout: Duration::from_secs(b.timeout_secs),
        capture_stdout: true,
        log: ctx.log("harness"),
        watch_noise: true,
        env: env.clone(),
        owner: state.marker.owner(),
    };
    let kernels = CommandSpec {
        label: "kernel harness".into(),
        args: embedded_kernel_args(b),
        log: ctx.log("kernels"),
        ..model.clone()
    };
    harness_with_retries(state, config, ctx, &model, Some(&kernels), shutdown).await
}

async fn repository_tick(
    state: &DaemonState,
    config: &Config,
    repo: &RepositorySection,
    state_dir: &Path,
    log_dir: PathBuf,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<RecordedRun> {
    let mut ctx = RunContext {
        started_at: unix_now(),
        commit: "unknown".into(),
        branch: repo.branch.clone(),
        source: "repository",
        log_dir,
    };
    let hb = &state.heartbeat;
    let mainline = Mainline::new(&repo.url, &repo.branch, state_dir);
    set_step(state, &ctx, "fetch");
    let fetch_timeout = Duration::from_secs(repo.fetch_timeout_secs);
    let head = match mainline
        .fetch_head(&ctx.log("fetch"), fetch_timeout, shutdown, hb)
        .await
    {
        Ok(h) => h,
        Err(reason) => return mainline_failed(state, &ctx, shutdown, reason),
    };
    ctx.commit = head;
    let last = state
        .store
        .lock()
        .last_run_of_commit(&ctx.commit)
        .ok()
        .flatten();
    if let Some(last) = last {
        let rebench = config.schedule.rebench_interval_secs;
        let due = rebench > 0 && unix_now() - last.finished_at >= rebench as f64;
        if !due {
            tracing::debug!(commit = %ctx.commit, "mainline unchanged; nothing to do");
            state.published.set_running(None);
            state.marker.clear();
            return None;
        }
    }
    tracing::info!(commit = %ctx.commit, branch = %repo.branch, "benchmarking mainline commit");
    set_step(state, &ctx, "worktree");
    let worktree = match mainline
        .worktree(&ctx.commit, &ctx.log("fetch"), fetch_timeout, shutdown, hb)
        .await
    {
        Ok(w) => w,
        Err(reason) => return mainline_failed(state, &ctx, shutdown, reason),
    };
    set_step(state, &ctx, "build");
    if let Err(why) = build(state, repo, &worktree, &ctx.log("build"), shutdown).await {
        return record(state, ctx.failed(state, why), None);
    }
    let params = super::profile_in_use::adopted_params(state, config);
    let mut harness = CommandSpec {
        cwd: Some(worktree),
        timeout: Duration::from_secs(repo.harness_timeout_secs),
        capture_stdout: true,
        log: ctx.log("harness"),
        watch_noise: true,
        owner: state.marker.owner(),
        ..super::profile_in_use::harness_command("harness", repo, params.as_deref())
    };
    harness.env.push((
        "PERFD_CACHE_DIR".into(),
        crate::state_dir::models(state_dir).display().to_string(),
    ));
    harness_with_retries(state, config, &ctx, &harness, None, shutdown).await
}

/// Builds the worktree at its commit; marks it built, so an A/B reuses the build.
pub(super) async fn build(
    state: &DaemonState,
    repo: &RepositorySection,
    worktree: &Path,
    log: &Path,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), RunFailure> {
    let spec = CommandSpec {
        cwd: Some(worktree.to_path_buf()),
        timeout: Duration::from_secs(repo.build_timeout_secs),
        log: log.to_path_buf(),
        owner: state.marker.owner(),
        ..CommandSpec::shell("build", &repo.build_command)
    };
    let r = child_process::run(&spec, shutdown, &state.heartbeat)
        .await
        .map_err(|e| RunFailure::BuildFailed(format!("cannot start the build: {e}")))?;
    if !r.success() {
        return Err(RunFailure::of_child(
            &r,
            "build",
            spec.timeout,
            format!(" (log: {})", spec.log.display()),
            RunFailure::BuildFailed,
        ));
    }
    if let Err(e) = std::fs::write(worktree.join(super::ab_runs::BUILT_MARKER), "") {
        // The marker only spares an A/B a rebuild of this commit.
        tracing::warn!(error = %e, worktree = %worktree.display(), "cannot mark the worktree as built");
    }
    Ok(())
}

/// Records a failed fetch or checkout: cancelled when perfd is stopping, else fetch_failed.
fn mainline_failed(
    state: &DaemonState,
    ctx: &RunContext,
    shutdown: &watch::Receiver<bool>,
    reason: String,
) -> Option<RecordedRun> {
    let why = if *shutdown.borrow() {
        RunFailure::Cancelled(reason)
    } else {
        RunFailure::FetchFailed(reason)
    };
    record(state, ctx.failed(state, why), None)
}

/// Runs the harness (and optional kernel harness), retrying noisy attempts; records the outcome.
async fn harness_with_retries(
    state: &DaemonState,
    config: &Config,
    ctx: &RunContext,
    model: &CommandSpec,
    kernels: Option<&CommandSpec>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<RecordedRun> {
    let hb = &state.heartbeat;
    let attempts = config.noise.max_retries + 1;
    for attempt in 1..=attempts {
        set_step(state, ctx, "harness");
        let (report, mut noise) = match run_report(model, shutdown, hb).await {
            Ok(x) => x,
            Err(why) => return record(state, ctx.failed(state, why), None),
        };
        let mut kernel_report = None;
        if let Some(k) = kernels {
            set_step(state, ctx, "kernels");
            match run_report(k, shutdown, hb).await {
                Ok((rep, n)) => {
                    noise = noise.max(n);
                    kernel_report = Some(rep);
                }
                Err(why) => return record(state, ctx.failed(state, why), None),
            }
        }
        let noisy = noise > config.noise.limit_cores;
        if noisy && attempt < attempts {
            tracing::warn!(
                attempt,
                other_busy_cores = noise,
                limit = config.noise.limit_cores,
                "noisy run; retrying"
            );
            continue;
        }
        let mut run = ctx.outcome(state, RunStatus::Success, None);
        if noisy {
            run.reason = Some(format!(
                "noisy: other processes used {noise:.2} cores (limit {:.2}) on all {attempts} attempts",
                config.noise.limit_cores
            ));
        }
        run.noisy = noisy;
        run.attempts = attempt;
        run.params = Some(report.params.clone());
        let mut ids = report.kernel_ids.clone();
        if let Some(k) = &kernel_report {
            ids.extend(
                k.kernel_ids
                    .iter()
                    .filter(|i| !report.kernel_ids.contains(i))
                    .cloned(),
            );
        }
        run.kernel_ids = Some(ids.join(","));
        run.decode_tps = report.phase_tps(&Phase::Decode);
        run.prefill_tps = report.phase_tps(&Phase::Prefill);
        run.samples = report.samples();
        if let Some(k) = &kernel_report {
            run.samples.extend(k.samples());
        }
        run.report_json = serde_json::to_string(&report).ok();
        run.kernels_json = kernel_report
            .as_ref()
            .and_then(|k| serde_json::to_string(k).ok());
        return record(state, run, Some((Some(report), kernel_report)));
    }
    None
}
