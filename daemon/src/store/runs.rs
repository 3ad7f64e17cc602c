//! Benchmark runs: insert (with samples, atomically) and queries.

use rusqlite::{params, OptionalExtension, Row};

use super::{Store, StoreError};
use crate::run::{NewRun, RunRecord, RunRow, RunStatus};

const COLUMNS: &str = "id, started_at, finished_at, commit_sha, branch, source, status, reason, host_id, noisy, attempts, params, kernel_ids, decode_tps, prefill_tps";

fn row(r: &Row<'_>) -> rusqlite::Result<RunRow> {
    let status: String = r.get(6)?;
    Ok(RunRow {
        id: r.get(0)?,
        record: RunRecord {
            started_at: r.get(1)?,
            finished_at: r.get(2)?,
            commit: r.get(3)?,
            branch: r.get(4)?,
            source: r.get(5)?,
            status: RunStatus::parse(&status).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    6,
                    rusqlite::types::Type::Text,
                    format!("unknown status `{status}`").into(),
                )
            })?,
            reason: r.get(7)?,
            host_id: r.get(8)?,
            noisy: r.get(9)?,
            attempts: r.get(10)?,
            params: r.get(11)?,
            kernel_ids: r.get(12)?,
            decode_tps: r.get(13)?,
            prefill_tps: r.get(14)?,
        },
    })
}

impl Store {
    /// Records a run and its samples in one transaction; returns the stored row.
    pub fn insert_run(&mut self, run: &NewRun) -> Result<RunRow, StoreError> {
        let path = self.path.clone();
        let err = |source| super::classify(&path, source);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT INTO runs (started_at, finished_at, commit_sha, branch, source, status, reason, host_id, noisy,
                attempts, params, kernel_ids, decode_tps, prefill_tps, report_json, kernels_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
                run.started_at,
                run.finished_at,
                run.commit,
                run.branch,
                run.source,
                run.status.name(),
                run.reason,
                run.host_id,
                run.noisy,
                run.attempts,
                run.params,
                run.kernel_ids,
                run.decode_tps,
                run.prefill_tps,
                run.report_json,
                run.kernels_json
            ],
        )
        .map_err(err)?;
        let id = tx.last_insert_rowid();
        {
            let mut stmt = tx
                .prepare("INSERT INTO samples (run_id, series, idx, value) VALUES (?1, ?2, ?3, ?4)")
                .map_err(err)?;
            for (series, values) in &run.samples {
                for (i, v) in values.iter().enumerate() {
                    stmt.execute(params![id, series, i as i64, v])
                        .map_err(err)?;
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(RunRow {
            id,
            record: run.record.clone(),
        })
    }

    /// The newest `limit` runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([limit as i64], row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// One run by id.
    pub fn run(&self, id: i64) -> Result<Option<RunRow>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM runs WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The stored report JSON of a run (model report, kernel report).
    pub fn reports(&self, id: i64) -> Result<(Option<String>, Option<String>), StoreError> {
        self.conn
            .query_row(
                "SELECT report_json, kernels_json FROM runs WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map(|o| o.unwrap_or((None, None)))
            .map_err(|e| self.err(e))
    }

    /// The newest run of `commit` that did not end in cancellation.
    pub fn last_run_of_commit(&self, commit: &str) -> Result<Option<RunRow>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM runs WHERE commit_sha = ?1 AND status NOT IN ('cancelled', 'interrupted') ORDER BY id DESC LIMIT 1"),
                [commit],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The newest successful run.
    pub fn last_success(&self) -> Result<Option<RunRow>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM runs WHERE status = 'success' ORDER BY id DESC LIMIT 1"
                ),
                [],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Number of runs per status.
    pub fn counts_by_status(&self) -> Result<Vec<(RunStatus, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT status, COUNT(*) FROM runs GROUP BY status")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in rows {
            let (s, n) = r.map_err(|e| self.err(e))?;
            if let Some(status) = RunStatus::parse(&s) {
                out.push((status, n as u64));
            }
        }
        Ok(out)
    }

    /// Samples of one series of a run.
    pub fn samples(&self, run_id: i64, series: &str) -> Result<Vec<f64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT value FROM samples WHERE run_id = ?1 AND series = ?2 ORDER BY idx")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run_id, series], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(commit: &str, status: RunStatus, tps: Option<f64>) -> NewRun {
        NewRun {
            record: RunRecord {
                started_at: 1.0,
                finished_at: 2.0,
                commit: commit.into(),
                branch: "main".into(),
                source: "repository".into(),
                status,
                reason: None,
                host_id: "h".into(),
                noisy: false,
                attempts: 1,
                params: None,
                kernel_ids: None,
                decode_tps: tps,
                prefill_tps: None,
            },
            report_json: Some("{}".into()),
            kernels_json: None,
            samples: vec![("decode_tps".into(), vec![1.0, 2.0, 3.0])],
        }
    }

    #[test]
    fn insert_query_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        {
            let mut s = Store::open(&path).unwrap();
            s.insert_run(&run("a", RunStatus::Success, Some(10.0)))
                .unwrap();
            s.insert_run(&run("b", RunStatus::Timeout, None)).unwrap();
            s.insert_run(&run("b", RunStatus::Cancelled, None)).unwrap();
        }
        let s = Store::open(&path).unwrap();
        let runs = s.runs(10).unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].status, RunStatus::Cancelled);
        assert_eq!(s.last_success().unwrap().unwrap().commit, "a");
        assert_eq!(
            s.last_run_of_commit("b").unwrap().unwrap().status,
            RunStatus::Timeout
        );
        assert_eq!(
            s.samples(runs[2].id, "decode_tps").unwrap(),
            vec![1.0, 2.0, 3.0]
        );
        let mut counts = s.counts_by_status().unwrap();
        counts.sort_by_key(|c| c.0.name());
        assert_eq!(counts.len(), 3);
        s.quick_check().unwrap();
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        Store::open(&path).unwrap();
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
