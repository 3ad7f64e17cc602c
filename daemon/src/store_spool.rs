//! Finished runs the history store could not take (disk full, database locked or damaged) wait
//! here: one JSON file each in `STATE_DIR/spool/`, or in memory when even that file cannot be
//! written. They are retried into the store at every scheduler tick, oldest first, so a finished
//! run is never lost while perfd lives, and survives a restart when its file was written.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::store::{NewRun, RunRow, StoreError};

/// The spool of one state directory (a handle: the in-memory queue is private).
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    memory: Mutex<Vec<NewRun>>,
}

impl Spool {
    /// The spool in `dir` (created on first use).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            memory: Mutex::new(Vec::new()),
        }
    }

    fn memory(&self) -> MutexGuard<'_, Vec<NewRun>> {
        // Pushes and removals are single operations: a poisoned queue is still consistent.
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `run` until the store takes it: in a file when one can be written (returned), else
    /// in memory (the error says why the file could not be).
    pub fn keep(&self, run: &NewRun) -> Result<PathBuf, std::io::Error> {
        match self.write_file(run) {
            Ok(p) => Ok(p),
            Err(e) => {
                self.memory().push(run.clone());
                Err(e)
            }
        }
    }

    fn write_file(&self, run: &NewRun) -> Result<PathBuf, std::io::Error> {
        std::fs::create_dir_all(&self.dir)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = self.dir.join(format!("run-{stamp:024}.json"));
        let partial = path.with_extension("json.partial");
        let json = serde_json::to_vec(run).map_err(std::io::Error::other)?;
        // Written whole, then renamed: a crash leaves a complete file or a `.partial` one.
        std::fs::write(&partial, json)?;
        std::fs::rename(&partial, &path)?;
        Ok(path)
    }

    /// Runs waiting (files and memory).
    pub fn len(&self) -> usize {
        self.files().len() + self.memory().len()
    }

    /// Nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Moves waiting runs into the store with `insert`, oldest first, and returns each stored row
    /// with its run (whose reports the caller parses once).
    /// Stops at the first store error (returned with the rows stored before it); what is left
    /// waits for the next call. A file that is not a run is renamed `*.unreadable` and logged.
    pub fn drain(
        &self,
        mut insert: impl FnMut(&NewRun) -> Result<RunRow, StoreError>,
    ) -> (Vec<(RunRow, NewRun)>, Option<StoreError>) {
        let mut stored = Vec::new();
        loop {
            let Some(run) = self.memory().first().cloned() else {
                break;
            };
            match insert(&run) {
                Ok(row) => {
                    self.memory().remove(0);
                    stored.push((row, run));
                }
                Err(e) => return (stored, Some(e)),
            }
        }
        for path in self.files() {
            let run = match read_run(&path) {
                Ok(r) => r,
                Err(why) => {
                    let bad = path.with_extension("json.unreadable");
                    tracing::error!(file = %path.display(), "spooled run is unreadable ({why}); kept as {}", bad.display());
                    if let Err(e) = std::fs::rename(&path, &bad) {
                        tracing::error!(error = %e, "cannot rename the unreadable spool file");
                    }
                    continue;
                }
            };
            match insert(&run) {
                Ok(row) => {
                    if let Err(e) = std::fs::remove_file(&path) {
                        // Stored but still on disk: the next drain would store it twice.
                        tracing::error!(file = %path.display(), error = %e, "stored a spooled run but cannot remove its file");
                        let done = path.with_extension("json.stored");
                        if std::fs::rename(&path, &done).is_err() {
                            return (stored, None);
                        }
                    }
                    stored.push((row, run));
                }
                Err(e) => return (stored, Some(e)),
            }
        }
        (stored, None)
    }
}

fn read_run(path: &Path) -> Result<NewRun, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RunRecord, RunStatus, Store};

    fn run(commit: &str) -> NewRun {
        NewRun {
            record: RunRecord {
                started_at: 1.0,
                finished_at: 2.0,
                commit: commit.into(),
                branch: "main".into(),
                source: "embedded".into(),
                status: RunStatus::Success,
                reason: None,
                host_id: "h".into(),
                noisy: false,
                attempts: 1,
                params: None,
                kernel_ids: None,
                decode_tps: Some(3.0),
                prefill_tps: None,
            },
            report_json: Some("{}".into()),
            kernels_json: None,
            samples: vec![("decode_tps".into(), vec![3.0])],
        }
    }

    #[test]
    fn kept_runs_reach_the_store_in_order_once_it_writes() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"));
        spool.keep(&run("a")).unwrap();
        spool.keep(&run("b")).unwrap();
        assert_eq!(spool.len(), 2);
        // The store refuses: nothing is lost.
        let (rows, err) = spool.drain(|_| {
            Err(StoreError::Corrupt {
                path: "x".into(),
                detail: "refused".into(),
            })
        });
        assert!(rows.is_empty() && err.is_some());
        assert_eq!(spool.len(), 2);
        let mut store = Store::open(&dir.path().join("h.sqlite")).unwrap();
        let (rows, err) = spool.drain(|r| store.insert_run(r));
        assert!(err.is_none());
        let commits: Vec<_> = rows.iter().map(|(r, _)| r.commit.as_str()).collect();
        assert_eq!(commits, ["a", "b"]);
        assert!(spool.is_empty());
        assert_eq!(store.runs(10).unwrap().len(), 2);
    }

    #[test]
    fn an_unwritable_spool_keeps_the_run_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        // The spool directory's place is taken by a file: no spool file can be written.
        let blocked = dir.path().join("spool");
        std::fs::write(&blocked, "").unwrap();
        let spool = Spool::new(blocked);
        assert!(spool.keep(&run("a")).is_err());
        assert_eq!(spool.len(), 1);
        let mut store = Store::open(&dir.path().join("h.sqlite")).unwrap();
        let (rows, err) = spool.drain(|r| store.insert_run(r));
        assert!(err.is_none());
        assert_eq!(rows.len(), 1);
        assert!(spool.is_empty());
    }

    #[test]
    fn an_unreadable_file_is_set_aside_not_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().join("spool");
        std::fs::create_dir_all(&spool_dir).unwrap();
        std::fs::write(spool_dir.join("run-1.json"), "{not json").unwrap();
        let spool = Spool::new(spool_dir.clone());
        let (rows, err) = spool.drain(|_| unreachable!("nothing readable to insert"));
        assert!(rows.is_empty() && err.is_none());
        assert!(spool_dir.join("run-1.json.unreadable").exists());
    }
}
