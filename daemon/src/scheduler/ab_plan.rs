//! What a commit's A/B starts from: the figure it compares, the design the host's history
//! allows, the history in that figure, and the evidence an earlier inconclusive A/B left open.

use crate::config::Config;
use crate::report::{BenchReport, TrackedMetric};
use crate::run::{BaselineRun, RecordedRun, RunStatus};
use crate::store::{RunRow, Store, StoreError};
use crate::verdict::ab_confirm::AbResult;
use crate::verdict::ab_metric::{resolve, AbMetric};
use crate::verdict::ab_session::{AbPlan, Carried};
use crate::verdict::regression::Assessment;

/// Runs of the host's history whose reports decide the A/B metric (`auto`).
const METRIC_HISTORY_RUNS: usize = 20;

/// The evidence to carry: that of the previous judged run of this branch and host, when its
/// A/B ended inconclusive.
pub fn carried(s: &Store, row: &RunRow) -> Result<Option<Carried>, StoreError> {
    let previous = s.runs(50)?.into_iter().find(|r| {
        r.id < row.id
            && r.branch == row.branch
            && r.host_id == row.host_id
            && r.status == RunStatus::Success
    });
    let Some(previous) = previous else {
        return Ok(None);
    };
    let ab: Option<AbResult> = s.verdicts(previous.id)?.and_then(|v| v.ab);
    Ok(ab.and_then(|a| Carried::of(&a, previous.id)))
}

/// The model reports of the host's recent successful runs on this branch (newest first).
fn recent_reports(s: &Store, row: &RunRow) -> Result<Vec<BenchReport>, StoreError> {
    let mut out = Vec::new();
    for r in s.runs(100)? {
        if out.len() >= METRIC_HISTORY_RUNS {
            break;
        }
        if r.branch != row.branch || r.host_id != row.host_id || r.status != RunStatus::Success {
            continue;
        }
        if let Some(rep) = report_of(s, r.id)? {
            out.push(rep);
        }
    }
    Ok(out)
}

fn report_of(s: &Store, run_id: i64) -> Result<Option<BenchReport>, StoreError> {
    let (report, _) = s.reports(run_id)?;
    Ok(report.and_then(|j| serde_json::from_str::<BenchReport>(&j).ok()))
}

/// The history's runs in the A/B's figure, newest first (runs without it are left out).
fn history_values(
    s: &Store,
    history: &[BaselineRun],
    metric: AbMetric,
    tracked: &TrackedMetric,
) -> Result<Vec<f64>, StoreError> {
    if metric == AbMetric::TokensPerSecond {
        return Ok(history.iter().map(|b| b.median).collect());
    }
    let mut out = Vec::with_capacity(history.len());
    for b in history {
        if let Some(v) = report_of(s, b.run_id)?.and_then(|r| metric.value(&r, tracked)) {
            out.push(v);
        }
    }
    Ok(out)
}

/// The plan of `run`'s A/B: a continuation of `carried` when there is one, else a fresh A/B
/// against the assessment's reference commit.
pub fn plan(
    s: &Store,
    config: &Config,
    run: &RecordedRun,
    assessment: &Assessment,
    history: &[BaselineRun],
    carried: Option<Carried>,
) -> Result<AbPlan, StoreError> {
    let tracked = config.regression.tracked_metric();
    // The run itself joins the check that every figure's read bandwidth was measured one way
    // (a new commit may change the read pass).
    let mut reports = recent_reports(s, &run.row)?;
    reports.extend(run.report.iter().cloned());
    let metric = resolve(&config.regression.ab_metric, &reports, &tracked);
    let values = history_values(s, history, metric, &tracked)?;
    let own_run = run.report.as_ref().and_then(|r| metric.value(r, &tracked));
    Ok(AbPlan::new(
        &assessment.reference_commit,
        values,
        metric,
        carried,
        own_run,
    ))
}
