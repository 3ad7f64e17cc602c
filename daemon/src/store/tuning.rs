//! The tuner's tables: guard reports and timed pairs (so a restarted job resumes without
//! measuring again), finished jobs, and adopted profiles. Evidence is kept as JSON text; the
//! store does not know the tuner's types.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

/// A finished tuning job, to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTuningJob {
    /// Unix seconds.
    pub started_at: f64,
    /// Unix seconds.
    pub finished_at: f64,
    /// Host fingerprint id.
    pub host_id: String,
    /// Model tuned on.
    pub model: String,
    /// Objective.
    pub objective: String,
    /// What started it (`manual`, `slo:NAME`, `regression`, `alert:NAME`).
    pub trigger: String,
    /// `adopted`, `kept` or `failed`.
    pub outcome: String,
    /// Configurations guarded.
    pub evaluations: u64,
    /// Candidates the guard rejected.
    pub rejected: u64,
    /// Gain of the decisive A/B.
    pub gain: Option<f64>,
    /// Profile before.
    pub before_params: String,
    /// Profile after.
    pub after_params: String,
    /// The whole outcome as JSON.
    pub outcome_json: String,
    /// The adopted profile as TOML, when one was adopted.
    pub profile_toml: Option<String>,
}

/// Totals over every recorded job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TuningTotals {
    /// Jobs per outcome.
    pub outcomes: Vec<(String, u64)>,
    /// Configurations guarded.
    pub evaluations: u64,
    /// Candidates rejected by the guard.
    pub rejected: u64,
}

/// The profile in force for one model and objective of a host, with the gain that adopted it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileInForce {
    /// Model key.
    pub model: String,
    /// Objective.
    pub objective: String,
    /// `k=v,...`.
    pub params: String,
    /// Unix seconds it was adopted.
    pub adopted_at: f64,
    /// Gain of the adoption A/B.
    pub gain: Option<f64>,
}

impl Store {
    /// The stored guard report of `params` in `scope` (JSON).
    pub fn tuning_guard(&self, scope: &str, params: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT report_json FROM tuning_guards WHERE scope = ?1 AND params = ?2",
                [scope, params],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Keeps a guard report.
    pub fn put_tuning_guard(
        &self,
        scope: &str,
        params: &str,
        pass: bool,
        report_json: &str,
        now: f64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO tuning_guards (scope, params, pass, report_json, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![scope, params, pass, report_json, now],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Stored `(incumbent, candidate)` values, in measurement order.
    pub fn tuning_pairs(
        &self,
        scope: &str,
        incumbent: &str,
        candidate: &str,
    ) -> Result<Vec<(f64, f64)>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT a, b FROM tuning_pairs WHERE scope = ?1 AND incumbent = ?2 AND candidate = ?3 ORDER BY idx",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([scope, incumbent, candidate], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.err(e))
    }

    /// Keeps one timed pair (appended after those stored).
    pub fn put_tuning_pair(
        &self,
        scope: &str,
        incumbent: &str,
        candidate: &str,
        pair: (f64, f64),
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO tuning_pairs (scope, incumbent, candidate, idx, a, b)
                 VALUES (?1, ?2, ?3, (SELECT COUNT(*) FROM tuning_pairs WHERE scope = ?1 AND incumbent = ?2 AND candidate = ?3), ?4, ?5)",
                params![scope, incumbent, candidate, pair.0, pair.1],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Records a finished job, and its adopted profile, in one transaction.
    pub fn record_tuning_job(&mut self, job: &NewTuningJob) -> Result<i64, StoreError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| classify(&self.path, e))?;
        tx.execute(
            "INSERT INTO tuning_jobs (started_at, finished_at, host_id, model, objective, trigger, outcome, evaluations, rejected, gain, before_params, after_params, outcome_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                job.started_at, job.finished_at, job.host_id, job.model, job.objective, job.trigger,
                job.outcome, job.evaluations as i64, job.rejected as i64, job.gain,
                job.before_params, job.after_params, job.outcome_json
            ],
        )
        .map_err(|e| classify(&self.path, e))?;
        let id = tx.last_insert_rowid();
        if let Some(toml) = &job.profile_toml {
            tx.execute(
                "INSERT INTO tuned_profiles (job_id, host_id, model, objective, params, adopted_at, profile_toml)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, job.host_id, job.model, job.objective, job.after_params, job.finished_at, toml],
            )
            .map_err(|e| classify(&self.path, e))?;
        }
        tx.commit().map_err(|e| classify(&self.path, e))?;
        Ok(id)
    }

    /// The parameters of the newest profile adopted for a host, model and objective.
    pub fn current_params(
        &self,
        host_id: &str,
        model: &str,
        objective: &str,
    ) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT params FROM tuned_profiles
                 WHERE host_id = ?1 AND model = ?2 AND objective = ?3 ORDER BY id DESC LIMIT 1",
                [host_id, model, objective],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The profile in force for each model and objective of a host (for `/metrics`: one query,
    /// no evidence documents read).
    pub fn profiles_in_force(&self, host_id: &str) -> Result<Vec<ProfileInForce>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT p.model, p.objective, p.params, p.adopted_at, j.gain
                 FROM tuned_profiles p JOIN tuning_jobs j ON j.id = p.job_id
                 WHERE p.host_id = ?1 AND p.id = (SELECT MAX(id) FROM tuned_profiles q
                   WHERE q.host_id = p.host_id AND q.model = p.model AND q.objective = p.objective)
                 ORDER BY p.model, p.objective",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([host_id], |r| {
                Ok(ProfileInForce {
                    model: r.get(0)?,
                    objective: r.get(1)?,
                    params: r.get(2)?,
                    adopted_at: r.get(3)?,
                    gain: r.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.err(e))
    }

    /// Jobs per outcome, and the sums of evaluations and rejected candidates.
    pub fn tuning_totals(&self) -> Result<TuningTotals, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT outcome, COUNT(*) FROM tuning_jobs GROUP BY outcome")
            .map_err(|e| self.err(e))?;
        let outcomes = st
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        let (evals, rejected): (i64, i64) = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(evaluations), 0), COALESCE(SUM(rejected), 0) FROM tuning_jobs",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))?;
        Ok(TuningTotals {
            outcomes,
            evaluations: evals as u64,
            rejected: rejected as u64,
        })
    }
}

use super::classify;

impl Store {
    /// When the newest tuning job on `host_id` finished (cooldowns).
    pub fn last_tuning_job_finished(&self, host_id: &str) -> Result<Option<f64>, StoreError> {
        self.conn
            .query_row(
                "SELECT MAX(finished_at) FROM tuning_jobs WHERE host_id = ?1",
                [host_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }
}
