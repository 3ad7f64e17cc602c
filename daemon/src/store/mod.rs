//! The history database: SQLite in WAL mode in the state directory. Every run is written in one
//! transaction, so a crash or SIGKILL at any point leaves either the whole run or none of it.

mod migrations;
mod outbox;
mod runs;
mod verdicts;

pub use outbox::{OutboxEntry, OutboxState};
pub use runs::{NewRun, RunRow, RunStatus};
pub use verdicts::StoredVerdicts;

use std::path::Path;

use rusqlite::Connection;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("history database {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer perfd.
    #[error("history database {path} has schema version {found}; this perfd knows up to {known}")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
}

/// An open history database.
pub struct Store {
    conn: Connection,
    path: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let err = |source| StoreError::Sqlite {
            path: shown.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        // WAL: readers (the HTTP API) never block the writer, and a crash mid-write rolls back.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        let mut store = Self { conn, path: shown };
        migrations::apply(&mut store.conn, &store.path)?;
        Ok(store)
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs SQLite's integrity check; `Ok(())` when the database is consistent.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))
    }
}
