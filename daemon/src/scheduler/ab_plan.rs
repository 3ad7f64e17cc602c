//! What a commit's A/B starts from: the figure it compares, the design the host's history
//! allows, the history in that figure, and the evidence an earlier inconclusive A/B left open.

use crate::config::Config;
use crate::report::{BenchReport, Phase};
use crate::run::{BaselineRun, RecordedRun, RunStatus};
use crate::store::{RunRow, Store, StoreError};
use crate::verdict::ab_confirm::{
    choose_design, process_sigma, AbDecision, AbDesign, AbResult, AbRuns,
};
use crate::verdict::ab_metric::{resolve, AbMetric};
use crate::verdict::ab_session::AbPlan;
use crate::verdict::regression::Assessment;

/// Runs of the host's history whose reports decide the A/B metric (`auto`).
const METRIC_HISTORY_RUNS: usize = 20;

/// Evidence an inconclusive A/B of the previous commit left open.
#[derive(Debug, Clone)]
pub struct Carried {
    /// Its baseline commit.
    pub baseline: String,
    /// The figure its runs measured.
    pub metric: AbMetric,
    /// Its design.
    pub design: AbDesign,
    /// Its runs, pooled ones included.
    pub runs: AbRuns,
    /// The runs (ids) whose A/Bs it pooled, that one included.
    pub from: Vec<i64>,
    /// The baseline build measured below its history: the next A/B is paired, from scratch.
    pub baseline_level_moved: bool,
}

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
    Ok(ab
        .filter(|a| a.decision == AbDecision::Inconclusive)
        .map(|a| {
            let mut from = a.pooled_from.clone();
            from.push(previous.id);
            Carried {
                baseline: a.baseline_commit.clone(),
                metric: a.metric,
                design: a.design,
                runs: a.all_runs(),
                from,
                baseline_level_moved: a.baseline_level_moved,
            }
        }))
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
    phase: &Phase,
) -> Result<Vec<f64>, StoreError> {
    if metric == AbMetric::TokensPerSecond {
        return Ok(history.iter().map(|b| b.median).collect());
    }
    let mut out = Vec::with_capacity(history.len());
    for b in history {
        if let Some(v) = report_of(s, b.run_id)?.and_then(|r| metric.value(&r, phase)) {
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
    let phase = Phase::of_metric(&config.regression.metric);
    let metric = resolve(
        &config.regression.ab_metric,
        &recent_reports(s, &run.row)?,
        &phase,
    );
    let values = history_values(s, history, metric, &phase)?;
    let sigma_history = process_sigma(&values);
    let design = match &carried {
        Some(c) if c.baseline_level_moved => AbDesign::Paired,
        _ => choose_design(&values),
    };
    let own_run = run.report.as_ref().and_then(|r| metric.value(r, &phase));
    let mut plan = AbPlan {
        baseline_commit: assessment.reference_commit.clone(),
        design,
        history: values,
        sigma_history,
        metric,
        ..AbPlan::default()
    };
    if let Some(c) = carried {
        // A continuation: the run was not selected for being low, so it is evidence too, and
        // the open question keeps its baseline.
        plan.baseline_commit = c.baseline;
        plan.own_run = own_run;
        plan.pooled_from = c.from;
        if c.metric == metric && c.design == design && !c.baseline_level_moved {
            plan.pooled = c.runs;
        }
    }
    Ok(plan)
}
