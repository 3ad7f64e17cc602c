//! Verdicts per run (SLOs, regression assessment, A/B, gates) and the baseline query.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::run::BaselineRun;
use crate::verdict::ab_confirm::AbResult;
use crate::verdict::gate::GateOutcome;
use crate::verdict::regression::Assessment;
use crate::verdict::slo::SloVerdict;

/// Verdicts stored with a run: the evidence shown in gates, the API and the status page, typed.
/// Each is kept as JSON text in its own column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredVerdicts {
    /// SLO verdicts.
    pub slo: Vec<SloVerdict>,
    /// Regression assessment.
    pub regression: Option<Assessment>,
    /// A/B confirmation.
    pub ab: Option<AbResult>,
    /// A regression was confirmed.
    pub confirmed_regression: bool,
    /// Kept out of later baselines (a confirmed regression, or an A/B still inconclusive).
    #[serde(default)]
    pub baseline_excluded: bool,
    /// Gate outcomes (repository mode).
    pub gates: Vec<GateOutcome>,
}

/// A JSON column as its type; evidence written by a perfd with another shape is reported and
/// left out (the row itself stays).
fn column<T: serde::de::DeserializeOwned>(
    run_id: i64,
    what: &str,
    text: Option<String>,
) -> Option<T> {
    let text = text?;
    match serde_json::from_str(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(run = run_id, column = what, error = %e, "stored verdict evidence has another shape; shown as absent");
            None
        }
    }
}

impl Store {
    /// Records the verdicts of run `run_id` (replacing earlier ones).
    pub fn put_verdicts(&mut self, run_id: i64, v: &StoredVerdicts) -> Result<(), StoreError> {
        let json = |x: Result<String, serde_json::Error>| x.ok();
        let slo = json(serde_json::to_string(&v.slo));
        let regression = v
            .regression
            .as_ref()
            .and_then(|a| json(serde_json::to_string(a)));
        let ab = v.ab.as_ref().and_then(|a| json(serde_json::to_string(a)));
        let gates = json(serde_json::to_string(&v.gates));
        self.conn
            .execute(
                "INSERT OR REPLACE INTO verdicts (run_id, slo_json, regression_json, ab_json, confirmed_regression, gates_json, baseline_excluded)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![run_id, slo, regression, ab, v.confirmed_regression, gates, v.baseline_excluded || v.confirmed_regression],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The verdicts of a run.
    pub fn verdicts(&self, run_id: i64) -> Result<Option<StoredVerdicts>, StoreError> {
        self.conn
            .query_row(
                "SELECT slo_json, regression_json, ab_json, confirmed_regression, gates_json, baseline_excluded FROM verdicts WHERE run_id = ?1",
                [run_id],
                |r| {
                    Ok(StoredVerdicts {
                        slo: column(run_id, "slo", r.get(0)?).unwrap_or_default(),
                        regression: column(run_id, "regression", r.get(1)?),
                        ab: column(run_id, "ab", r.get(2)?),
                        confirmed_regression: r.get(3)?,
                        gates: column(run_id, "gates", r.get(4)?).unwrap_or_default(),
                        baseline_excluded: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The newest `n` good runs for the baseline: successful, not noisy, not a confirmed
    /// regression, same host and branch, another commit; one run per commit, newest first.
    pub fn baseline_runs(
        &self,
        host_id: &str,
        branch: &str,
        exclude_commit: &str,
        series: &str,
        n: usize,
    ) -> Result<Vec<BaselineRun>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.id, r.commit_sha FROM runs r LEFT JOIN verdicts v ON v.run_id = r.id
                 WHERE r.status = 'success' AND r.noisy = 0 AND COALESCE(v.baseline_excluded, 0) = 0
                   AND r.host_id = ?1 AND r.branch = ?2 AND r.commit_sha != ?3
                 ORDER BY r.id DESC LIMIT 1000",
            )
            .map_err(|e| self.err(e))?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![host_id, branch, exclude_commit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut out: Vec<BaselineRun> = Vec::new();
        for (id, commit) in rows {
            if out.len() == n {
                break;
            }
            if out.iter().any(|b| b.commit == commit) {
                continue;
            }
            let samples = self.samples(id, series)?;
            if let Some(m) = crate::stats::Summary::of(samples.clone()) {
                out.push(BaselineRun {
                    run_id: id,
                    commit,
                    median: m.median,
                    samples,
                });
            }
        }
        Ok(out)
    }

    /// Returns runs kept out of the baseline by an inconclusive A/B to it, once the question
    /// they were part of was cleared (a confirmed regression never returns). Keeping them out
    /// for good would bias the baseline towards the runs that happened to measure high.
    pub fn readmit_to_baseline(&mut self, run_ids: &[i64]) -> Result<usize, StoreError> {
        let mut n = 0;
        for id in run_ids {
            n += self
                .conn
                .execute(
                    "UPDATE verdicts SET baseline_excluded = 0 WHERE run_id = ?1 AND confirmed_regression = 0",
                    params![id],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(n)
    }
}
