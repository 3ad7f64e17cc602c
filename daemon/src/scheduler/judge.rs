//! After a run is recorded: SLOs, regression against the baseline, A/B confirmation of a
//! suspicion, then the gates and the ledger — written to the store (verdicts, outbox) before
//! anything is posted.

use tokio::sync::watch;

use crate::clock::unix_now;
use crate::config::Config;
use crate::gates::decide::{decide, GateInputs};
use crate::gates::outbox::LedgerPost;
use crate::report::BenchReport;
use crate::run::RecordedRun;
use crate::state::{DaemonState, LatestVerdicts};
use crate::store::{RunRow, RunStatus, Store, StoreError, StoredVerdicts};
use crate::verdict::ab_confirm::{AbDecision, AbResult};
use crate::verdict::ab_session::AbPlan;
use crate::verdict::regression::{assess, Assessment};
use crate::verdict::slo::{self, SloVerdict};

use super::ab_runs::run_session;

/// The command that reproduces a measurement, for gate bodies.
fn reproduce(config: &Config, commit: &str) -> String {
    match &config.repository {
        Some(r) => format!(
            "git clone {} bench && cd bench && git checkout {commit}\n{}\n{}",
            r.url, r.build_command, r.harness_command
        ),
        None => format!(
            "perfd {}",
            crate::runner::harness::embedded_model_args(&config.benchmark).join(" ")
        ),
    }
}

/// Why a run could not be judged now; it is judged again at the next tick. Never a verdict:
/// an empty baseline read from a failing store must not become "neutral: no baseline yet".
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// The history store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What judging a run concluded, for the tuner's triggers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judgement {
    /// A regression was confirmed by A/B.
    pub confirmed_regression: bool,
    /// SLOs the run breached, by name.
    pub breached: Vec<String>,
}

/// Judges run `run_id` and queues its gates (repository mode). A store failure is an error
/// (nothing was decided or queued).
pub async fn after_run(
    state: &DaemonState,
    config: &Config,
    run: &RecordedRun,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Judgement, JudgeError> {
    let (row, report) = (&run.row, run.report.as_ref());
    let run_id = row.id;
    // A cancelled or interrupted run is redone on the next start; a failed fetch has no commit
    // to judge.
    if matches!(
        row.status,
        RunStatus::Cancelled | RunStatus::Interrupted | RunStatus::FetchFailed
    ) {
        return Ok(Judgement::default());
    }
    let Verdicts {
        slos,
        assessment,
        ab,
    } = if row.status == RunStatus::Success {
        verdicts(state, config, run, shutdown).await?
    } else {
        Verdicts::default()
    };
    let confirmed = ab.as_ref().is_some_and(|a| a.confirmed);
    // An inconclusive A/B keeps the run out of the baseline too: its pairs carry over to the
    // next commit, and absorbing it would hide the step it may be.
    let baseline_excluded = ab
        .as_ref()
        .is_some_and(|a| a.decision != AbDecision::Cleared);
    let unmeasured = unmeasured(config, row, report);
    let gates = config.repository.as_ref().map(|_| {
        decide(&GateInputs {
            run: row,
            report,
            assessment: assessment.as_ref(),
            ab: ab.as_ref(),
            slos: &slos,
            reproduce: reproduce(config, &row.commit),
            suffix: config
                .github
                .as_ref()
                .map_or("", |g| g.check_suffix.as_str()),
            tuning: None,
            unmeasured: unmeasured.as_deref(),
        })
    });
    let stored = StoredVerdicts {
        slo: slos.clone(),
        regression: assessment.clone(),
        ab: ab.clone(),
        confirmed_regression: confirmed,
        baseline_excluded,
        gates: gates.clone().unwrap_or_default(),
    };
    {
        let mut s = state.store.lock();
        // Verdicts first: a failure here leaves nothing queued, and the whole judgement is
        // retried at the next tick.
        s.put_verdicts(run_id, &stored)?;
        if let Some(r) = ab.as_ref().filter(|r| r.decision == AbDecision::Cleared) {
            let n = s.readmit_to_baseline(&r.pooled_from)?;
            if n > 0 {
                tracing::info!(
                    runs = n,
                    "the open A/B question was cleared: its earlier runs rejoin the baseline"
                );
            }
        }
        if let Some(gates) = &gates {
            queue_gates(&mut s, config, row, gates)?;
        }
    }
    for g in gates.iter().flatten() {
        tracing::info!(gate = %g.name, conclusion = g.conclusion.name(), commit = %g.head_sha, evidence = %g.summary, "gate decided");
    }
    let breached = slos
        .iter()
        .filter(|v| v.ok == Some(false))
        .map(|v| v.slo.clone())
        .collect();
    state.published.set_verdicts(LatestVerdicts {
        slos,
        regression_ratio: assessment.as_ref().map(|a| {
            (
                a.metric.clone(),
                ab.as_ref().map_or(a.ratio, |x| x.median_ratio),
            )
        }),
        confirmed_regression: confirmed,
        gates: gates
            .iter()
            .flatten()
            .map(|g| (g.name.clone(), g.conclusion))
            .collect(),
    });
    state.outbox.wake();
    Ok(Judgement {
        confirmed_regression: confirmed,
        breached,
    })
}

/// Queues a run's gates and its ledger section in the outbox.
fn queue_gates(
    s: &mut Store,
    config: &Config,
    row: &crate::store::RunRow,
    gates: &[crate::gates::GateOutcome],
) -> Result<(), JudgeError> {
    let now = unix_now();
    for g in gates {
        match serde_json::to_value(g) {
            Ok(p) => {
                s.enqueue(row.id, "gate", &g.name, &g.head_sha, &p, now)?;
            }
            Err(e) => tracing::error!(error = %e, "cannot encode gate"),
        }
    }
    if let Some(issue) = config.github.as_ref().and_then(|g| g.ledger_issue) {
        let mut section = format!("### Performance — `{}`\n", row.commit);
        for g in gates {
            section.push_str(&format!(
                "- **{}**: {} — {}\n",
                g.name,
                g.conclusion.name(),
                g.summary
            ));
        }
        if let Some(g) = gates.last() {
            section.push('\n');
            section.push_str(&g.text);
        }
        let post = LedgerPost { issue, section };
        match serde_json::to_value(&post) {
            Ok(p) => {
                s.enqueue(row.id, "ledger", "ledger", &row.commit, &p, now)?;
            }
            Err(e) => tracing::error!(error = %e, "cannot encode the ledger section"),
        }
    }
    Ok(())
}

/// Decides run `run_id`'s gates again with the outcome of the tuning job it triggered (the
/// "Optimization Applied" evidence), and queues them: the outbox updates the same check runs.
pub fn regate_after_tuning(
    state: &DaemonState,
    config: &Config,
    run_id: i64,
    tuning: &crate::tuner::TuneReport,
) -> Result<(), JudgeError> {
    if config.repository.is_none() {
        return Ok(());
    }
    let mut s = state.store.lock();
    let (Some(row), Some(mut verdicts)) = (s.run(run_id)?, s.verdicts(run_id)?) else {
        return Ok(());
    };
    let (report, _) = s.reports(run_id)?;
    let report = report.and_then(|j| serde_json::from_str::<BenchReport>(&j).ok());
    let gates = decide(&GateInputs {
        run: &row,
        report: report.as_ref(),
        assessment: verdicts.regression.as_ref(),
        ab: verdicts.ab.as_ref(),
        slos: &verdicts.slo,
        reproduce: reproduce(config, &row.commit),
        suffix: config
            .github
            .as_ref()
            .map_or("", |g| g.check_suffix.as_str()),
        tuning: Some(tuning),
        unmeasured: unmeasured(config, &row, report.as_ref()).as_deref(),
    });
    verdicts.gates = gates.clone();
    s.put_verdicts(run_id, &verdicts)?;
    queue_gates(&mut s, config, &row, &gates)?;
    drop(s);
    for g in &gates {
        tracing::info!(gate = %g.name, conclusion = g.conclusion.name(), commit = %g.head_sha, evidence = %g.summary, "gate updated with the tuning outcome");
    }
    state.outbox.wake();
    Ok(())
}

/// The tracked `[regression] metric` when `row` succeeded but its report lacks that figure (a
/// harness that does not decode at the tracked depth): said in the gate instead of "no baseline".
fn unmeasured(config: &Config, row: &RunRow, report: Option<&BenchReport>) -> Option<String> {
    let tracked = config.regression.tracked_metric();
    let missing = row.status == RunStatus::Success
        && report.is_some_and(|r| tracked.tokens_per_second(r).is_none());
    missing.then(|| tracked.series())
}

/// The verdicts of a successful run.
#[derive(Debug, Default)]
struct Verdicts {
    slos: Vec<SloVerdict>,
    assessment: Option<Assessment>,
    ab: Option<AbResult>,
}

/// SLOs, the regression assessment against the baseline, and the A/B of a suspicion (or of a
/// commit that follows an inconclusive A/B: the evidence there is still open).
async fn verdicts(
    state: &DaemonState,
    config: &Config,
    run: &RecordedRun,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Verdicts, JudgeError> {
    let row = &run.row;
    let metric = config.regression.tracked_metric().series();
    let slos = slo::evaluate(&config.slo, run.report.as_ref(), run.kernels.as_ref());
    let (current, mut baseline, carried) = {
        let s = state.store.lock();
        let current = s.samples(row.id, &metric)?;
        // The baseline, and beyond it the host's recent history: its σ, and in the history
        // design the baseline evidence itself.
        let history = s.baseline_runs(
            &row.host_id,
            &row.branch,
            &row.commit,
            &metric,
            config
                .regression
                .baseline_runs
                .max(config.regression.history_runs),
        )?;
        let carried = super::ab_plan::carried(&s, row)?;
        (current, history, carried)
    };
    if current.is_empty() {
        tracing::warn!(run = row.id, metric = %metric, "the run has no samples of the tracked regression metric: its harness does not measure it (decode after N positions needs perfd bench --ctx N), so it is not judged for regressions");
    }
    let history_runs = baseline.clone();
    let history: Vec<f64> = baseline.iter().map(|b| b.median).collect();
    baseline.truncate(config.regression.baseline_runs);
    let assessment = assess(
        &config.regression,
        &metric,
        &row.commit,
        &current,
        baseline,
        &history,
    );
    let mut ab = None;
    if let (Some(a), Some(_)) = (assessment.as_ref(), &config.repository) {
        if a.suspected || carried.is_some() {
            // Only an A/B pays for reading the host's reports.
            let plan =
                super::ab_plan::plan(&state.store.lock(), config, run, a, &history_runs, carried)?;
            ab = confirm(state, config, plan, &row.commit, shutdown).await;
        }
    }
    Ok(Verdicts {
        slos,
        assessment,
        ab,
    })
}

/// One commit's A/B.
async fn confirm(
    state: &DaemonState,
    config: &Config,
    plan: AbPlan,
    commit: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<AbResult> {
    let repo = config.repository.as_ref()?;
    if plan.baseline_commit.is_empty() {
        return None;
    }
    tracing::info!(commit, baseline = %plan.baseline_commit, design = plan.design.name(), history = plan.history.len(), pooled = plan.pooled.candidate.len(), continued = plan.own_run.is_some(), sigma = ?plan.sigma_history, metric = plan.metric.name(), "confirming by sequential A/B");
    match run_session(state, config, repo, plan, commit, shutdown).await {
        Ok(r) => {
            tracing::info!(
                mean_ratio = r.mean_ratio,
                llr = r.llr,
                baseline_runs = r.runs.baseline.len(),
                candidate_runs = r.runs.candidate.len(),
                pooled = r.pooled.candidate.len(),
                decision = ?r.decision,
                baseline_level_moved = r.baseline_level_moved,
                "A/B done"
            );
            Some(r)
        }
        Err(reason) => {
            tracing::warn!(reason = %reason, "A/B confirmation could not run; the regression stays unconfirmed");
            None
        }
    }
}
