//! The history database: SQLite in WAL mode in the state directory. Every run is written in one
//! transaction, so a crash or SIGKILL at any point leaves either the whole run or none of it.

mod handle;
mod migrations;
mod outbox;
mod runs;
mod tuning;
mod verdicts;

pub use crate::run::{NewRun, RunRecord, RunRow, RunStatus};
pub use handle::StoreHandle;
pub use outbox::{OutboxEntry, OutboxState};
pub use tuning::{NewTuningJob, ProfileInForce, TuningTotals};
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
    /// The file is damaged (SQLite's quick check failed, or it is not a database at all).
    #[error("history database {path} is corrupt: {detail}")]
    Corrupt { path: String, detail: String },
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
        let err = |source| classify(&shown, source);
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
        store.quick_check()?;
        migrations::apply(&mut store.conn, &store.path)?;
        Ok(store)
    }

    /// Moves a corrupt database (and its WAL and shared-memory files) aside as
    /// `NAME.corrupt-UNIXTIME*`, so a fresh one can be created; returns the new name of the main
    /// file. Nothing is deleted: the old file stays for inspection or recovery (`sqlite3 .recover`).
    pub fn move_aside(path: &Path) -> std::io::Result<std::path::PathBuf> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "history.sqlite".into());
        let moved = path.with_file_name(format!("{name}.corrupt-{stamp}"));
        std::fs::rename(path, &moved)?;
        for suffix in ["-wal", "-shm"] {
            let side = path.with_file_name(format!("{name}{suffix}"));
            if side.exists() {
                std::fs::rename(
                    &side,
                    path.with_file_name(format!("{name}.corrupt-{stamp}{suffix}")),
                )?;
            }
        }
        Ok(moved)
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        classify(&self.path, source)
    }

    /// SQLite's quick check (page structure and b-trees, without the slow index cross-check):
    /// `Ok(())` when the database is sound, [`StoreError::Corrupt`] naming the first problem.
    pub fn quick_check(&self) -> Result<(), StoreError> {
        let first = self
            .conn
            .query_row("PRAGMA quick_check(1)", [], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        if first == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: first,
            })
        }
    }
}

/// A SQLite error as a store error: damage is [`StoreError::Corrupt`], everything else as is.
fn classify(path: &str, source: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match source.sqlite_error_code() {
        Some(DatabaseCorrupt | NotADatabase) => StoreError::Corrupt {
            path: path.into(),
            detail: source.to_string(),
        },
        _ => StoreError::Sqlite {
            path: path.into(),
            source,
        },
    }
}
