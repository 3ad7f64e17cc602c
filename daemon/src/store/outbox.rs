//! The gate outbox: every post is written here first and retried until GitHub accepts it;
//! nothing is lost on restart or crash.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be posted (or retried).
    Pending,
    /// GitHub accepted it.
    Posted,
    /// Recorded only: no credentials, or dry run configured.
    DryRun,
    /// Replaced by a newer entry for the same gate and commit before it was posted.
    Superseded,
}

impl OutboxState {
    /// Stored and shown name.
    pub fn name(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Posted => "posted",
            OutboxState::DryRun => "dry_run",
            OutboxState::Superseded => "superseded",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "posted" => OutboxState::Posted,
            "dry_run" => OutboxState::DryRun,
            "superseded" => OutboxState::Superseded,
            _ => OutboxState::Pending,
        }
    }
}

/// One thing to post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// Run it belongs to.
    pub run_id: i64,
    /// `gate` or `ledger`.
    pub kind: String,
    /// Gate name (or `ledger`).
    pub name: String,
    /// Commit.
    pub commit: String,
    /// What to post (JSON).
    pub payload: serde_json::Value,
    /// State.
    pub state: OutboxState,
    /// Attempts so far.
    pub attempts: u32,
    /// Unix time of the next attempt.
    pub next_attempt_at: f64,
    /// Last failure, in words.
    pub last_error: Option<String>,
    /// GitHub id once posted.
    pub remote_id: Option<String>,
}

const COLS: &str = "id, run_id, kind, name, commit_sha, payload_json, state, attempts, next_attempt_at, last_error, remote_id";

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let payload: String = r.get(5)?;
    let state: String = r.get(6)?;
    Ok(OutboxEntry {
        id: r.get(0)?,
        run_id: r.get(1)?,
        kind: r.get(2)?,
        name: r.get(3)?,
        commit: r.get(4)?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        state: OutboxState::parse(&state),
        attempts: r.get(7)?,
        next_attempt_at: r.get(8)?,
        last_error: r.get(9)?,
        remote_id: r.get(10)?,
    })
}

impl Store {
    /// Queues a post; an older pending entry for the same kind, name and commit is superseded,
    /// and for the ledger every older pending edit (it is one comment: only its newest state may
    /// be written, never an older one replayed after it).
    pub fn enqueue(
        &mut self,
        run_id: i64,
        kind: &str,
        name: &str,
        commit: &str,
        payload: &serde_json::Value,
        now: f64,
    ) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "UPDATE gate_outbox SET state = 'superseded' WHERE state = 'pending' AND kind = ?1 AND name = ?2 AND (commit_sha = ?3 OR kind = 'ledger')",
            params![kind, name, commit],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO gate_outbox (run_id, created_at, kind, name, commit_sha, payload_json, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?2)",
            params![run_id, now, kind, name, commit, payload.to_string()],
        )
        .map_err(err)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(err)?;
        Ok(id)
    }

    /// Pending entries due at `now`, oldest first.
    pub fn due(&self, now: f64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLS} FROM gate_outbox WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2"))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![now, limit as i64], entry)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every entry of a run (or all when `run_id` is None), newest first.
    pub fn outbox(
        &self,
        run_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLS} FROM gate_outbox WHERE ?1 IS NULL OR run_id = ?1 ORDER BY id DESC LIMIT ?2"))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run_id, limit as i64], entry)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Marks an entry done (posted or recorded as a dry run).
    pub fn outbox_done(
        &self,
        id: i64,
        state: OutboxState,
        remote_id: Option<&str>,
        now: f64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE gate_outbox SET state = ?2, remote_id = ?3, posted_at = ?4, last_error = NULL WHERE id = ?1",
                params![id, state.name(), remote_id, now],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Records a failed attempt and when to try again.
    pub fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: f64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE gate_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
                params![id, error, next_attempt_at],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Entries per state.
    pub fn outbox_counts(&self) -> Result<Vec<(OutboxState, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM gate_outbox GROUP BY state")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    OutboxState::parse(&r.get::<_, String>(0)?),
                    r.get::<_, i64>(1)? as u64,
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}
