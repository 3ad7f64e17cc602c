//! One scheduler tick: decide whether to benchmark, run fetch → worktree → build → harness (with
//! noise retries), and record the outcome — success or failure — in the store before anything
//! else sees it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{Config, RepositorySection};
use crate::health::Problem;
use crate::report::{BenchReport, Phase};
use crate::runner::child_process::{self, CommandSpec, Ending};
use crate::runner::harness::{embedded_kernel_args, embedded_model_args, run_report, self_exe};
use crate::runner::heartbeat::unix_now;
use crate::runner::mainline::Mainline;
use crate::runner::run_marker::InProgress;
use crate::state::{DaemonState, LatestRun, RunningInfo};
use crate::store::{NewRun, RunRecord, RunRow, RunStatus};

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
    if let Ok(mut r) = state.running.lock() {
        *r = Some(RunningInfo {
            commit: ctx.commit.clone(),
            step: step.into(),
            started_at: ctx.started_at,
        });
    }
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

/// Stores `run` and updates counters and the latest result; returns the stored row. The store
/// is written first: nothing is exported that is not on disk. When the store cannot write, the
/// run goes to the spool (retried every tick), the failure is counted and `/readyz` says why.
pub(super) fn record(
    state: &DaemonState,
    run: NewRun,
    reports: Option<(Option<BenchReport>, Option<BenchReport>)>,
) -> Option<RunRow> {
    let stored = state
        .store
        .lock()
        .map_err(|_| "store lock poisoned".to_string())
        .and_then(|mut s| s.insert_run(&run).map_err(|e| e.to_string()));
    state.marker.clear();
    if let Ok(mut r) = state.running.lock() {
        *r = None;
    }
    match stored {
        Ok(row) => {
            state.health.clear(Problem::Store);
            tracing::info!(run = row.id, commit = %row.commit, status = row.status.name(), reason = ?row.reason, "run recorded");
            recorded(state, &row, reports);
            Some(row)
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
fn recorded(
    state: &DaemonState,
    row: &RunRow,
    reports: Option<(Option<BenchReport>, Option<BenchReport>)>,
) {
    if let Ok(mut c) = state.counts.lock() {
        *c.entry(row.status).or_default() += 1;
    }
    if row.status != RunStatus::Success {
        return;
    }
    let (report, kernels) = match reports {
        Some(r) => r,
        // A run from the spool: its reports are in the row's stored JSON.
        None => match state
            .store
            .lock()
            .ok()
            .and_then(|s| crate::state::stored_reports(&s, row.id))
        {
            Some(r) => r,
            None => return,
        },
    };
    if let Ok(mut l) = state.latest.write() {
        *l = Some(LatestRun {
            row: row.clone(),
            report,
            kernels,
        });
    }
}

/// Moves spooled runs into the store once it writes again; returns the rows stored.
fn drain_spool(state: &DaemonState) -> Vec<RunRow> {
    if state.spool.is_empty() {
        return Vec::new();
    }
    let (rows, err) = state.spool.drain(|run| {
        state
            .store
            .lock()
            .map_err(|_| crate::store::StoreError::Corrupt {
                path: "history".into(),
                detail: "store lock poisoned".into(),
            })
            .and_then(|mut s| s.insert_run(run))
    });
    for row in &rows {
        tracing::info!(run = row.id, commit = %row.commit, "spooled run stored");
        recorded(state, row, None);
    }
    match err {
        Some(e) => state
            .health
            .store_failed(format!("the history store cannot write: {e}")),
        None => state.health.clear(Problem::Store),
    }
    rows
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
    let log_dir = state_dir.join("logs");
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
    // Judge what earlier ticks could not, then what this tick recorded (normally one run):
    // verdicts, A/B, gates. A store failure leaves the run for the next tick, never a verdict.
    let mut ids = state.unjudged.take();
    ids.extend(recorded.iter().map(|r| r.id));
    for id in ids {
        match super::judge::after_run(state, &config, id, shutdown).await {
            Ok(j) => super::tune_job::on_judgement(state, &config, id, &j),
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

async fn embedded_run(
    state: &DaemonState,
    config: &Config,
    ctx: &RunContext,
    state_dir: &Path,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<RunRow> {
    let exe = match self_exe() {
        Ok(e) => e,
        Err(e) => {
            return record(
                state,
                ctx.outcome(
                    state,
                    RunStatus::HarnessFailed,
                    Some(format!("cannot locate the perfd binary: {e}")),
                ),
                None,
            );
        }
    };
    // The adopted tuning profile replaces the configured parameters.
    let mut bench = config.benchmark.clone();
    if let Some(p) = super::profile_in_use::adopted_params(state, config) {
        bench.params = p;
    }
    let b = &bench;
    let env = vec![(
        "PERFD_CACHE_DIR".to_string(),
        state_dir.join("models").display().to_string(),
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
) -> Option<RunRow> {
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
        .ok()
        .and_then(|s| s.last_run_of_commit(&ctx.commit).ok().flatten());
    if let Some(last) = last {
        let rebench = config.schedule.rebench_interval_secs;
        let due = rebench > 0 && unix_now() - last.finished_at >= rebench as f64;
        if !due {
            tracing::debug!(commit = %ctx.commit, "mainline unchanged; nothing to do");
            if let Ok(mut r) = state.running.lock() {
                *r = None;
            }
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
    let build_timeout = Duration::from_secs(repo.build_timeout_secs);
    let build = CommandSpec {
        cwd: Some(worktree.clone()),
        timeout: build_timeout,
        log: ctx.log("build"),
        owner: state.marker.owner(),
        ..CommandSpec::shell("build", &repo.build_command)
    };
    match child_process::run(&build, shutdown, hb).await {
        Ok(r) if r.success() => {
            let _ = std::fs::write(worktree.join(super::ab_runs::BUILT_MARKER), "");
        }
        Ok(r) => {
            let status = match r.ending {
                Ending::TimedOut => RunStatus::Timeout,
                Ending::Cancelled => RunStatus::Cancelled,
                _ => RunStatus::BuildFailed,
            };
            let reason = format!(
                "{} (log: {})",
                r.describe("build", build_timeout),
                build.log.display()
            );
            return record(state, ctx.outcome(state, status, Some(reason)), None);
        }
        Err(e) => {
            return record(
                state,
                ctx.outcome(
                    state,
                    RunStatus::BuildFailed,
                    Some(format!("cannot start the build: {e}")),
                ),
                None,
            );
        }
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
        state_dir.join("models").display().to_string(),
    ));
    harness_with_retries(state, config, &ctx, &harness, None, shutdown).await
}

/// Records a failed fetch or checkout: cancelled when perfd is stopping, else fetch_failed.
fn mainline_failed(
    state: &DaemonState,
    ctx: &RunContext,
    shutdown: &watch::Receiver<bool>,
    reason: String,
) -> Option<RunRow> {
    let status = if *shutdown.borrow() {
        RunStatus::Cancelled
    } else {
        RunStatus::FetchFailed
    };
    record(state, ctx.outcome(state, status, Some(reason)), None)
}

/// Runs the harness (and optional kernel harness), retrying noisy attempts; records the outcome.
async fn harness_with_retries(
    state: &DaemonState,
    config: &Config,
    ctx: &RunContext,
    model: &CommandSpec,
    kernels: Option<&CommandSpec>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<RunRow> {
    let hb = &state.heartbeat;
    let attempts = config.noise.max_retries + 1;
    for attempt in 1..=attempts {
        set_step(state, ctx, "harness");
        let (report, mut noise) = match run_report(model, shutdown, hb).await {
            Ok(x) => x,
            Err((status, reason)) => {
                return record(state, ctx.outcome(state, status, Some(reason)), None);
            }
        };
        let mut kernel_report = None;
        if let Some(k) = kernels {
            set_step(state, ctx, "kernels");
            match run_report(k, shutdown, hb).await {
                Ok((rep, n)) => {
                    noise = noise.max(n);
                    kernel_report = Some(rep);
                }
                Err((status, reason)) => {
                    return record(state, ctx.outcome(state, status, Some(reason)), None);
                }
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
