//! Verdicts per run (SLOs, regression assessment, A/B, gates) and the baseline query.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::run::BaselineRun;

/// Verdicts stored with a run (JSON evidence, as shown in gates and the API).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredVerdicts {
    /// SLO verdicts.
    pub slo: Option<serde_json::Value>,
    /// Regression assessment.
    pub regression: Option<serde_json::Value>,
    /// A/B confirmation.
    pub ab: Option<serde_json::Value>,
    /// A regression was confirmed.
    pub confirmed_regression: bool,
    /// Kept out of later baselines (a confirmed regression, or an A/B still inconclusive).
    #[serde(default)]
    pub baseline_excluded: bool,
    /// Gate outcomes.
    pub gates: Option<serde_json::Value>,
}

impl Store {
    /// Records the verdicts of run `run_id` (replacing earlier ones).
    pub fn put_verdicts(&mut self, run_id: i64, v: &StoredVerdicts) -> Result<(), StoreError> {
        let j = |x: &Option<serde_json::Value>| x.as_ref().map(|v| v.to_string());
        self.conn
            .execute(
                "INSERT OR REPLACE INTO verdicts (run_id, slo_json, regression_json, ab_json, confirmed_regression, gates_json, baseline_excluded)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![run_id, j(&v.slo), j(&v.regression), j(&v.ab), v.confirmed_regression, j(&v.gates), v.baseline_excluded || v.confirmed_regression],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The verdicts of a run.
    pub fn verdicts(&self, run_id: i64) -> Result<Option<StoredVerdicts>, StoreError> {
        let parse = |s: Option<String>| s.and_then(|t| serde_json::from_str(&t).ok());
        self.conn
            .query_row(
                "SELECT slo_json, regression_json, ab_json, confirmed_regression, gates_json, baseline_excluded FROM verdicts WHERE run_id = ?1",
                [run_id],
                |r| {
                    Ok(StoredVerdicts {
                        slo: parse(r.get(0)?),
                        regression: parse(r.get(1)?),
                        ab: parse(r.get(2)?),
                        confirmed_regression: r.get(3)?,
                        gates: parse(r.get(4)?),
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
                 ORDER BY r.id DESC LIMIT 200",
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
}
