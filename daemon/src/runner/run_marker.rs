//! The run in progress, on disk. `run-in-progress.json` says what the run is about and
//! `child-group` which process group its current child leads. A daemon killed mid-run (SIGKILL,
//! OOM killer, power loss) leaves them behind; the next start kills that group if it still lives
//! (its grandchildren outlive the parent-death signal of `perfd child-guard`) and records the run
//! as interrupted instead of letting it vanish.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::child_group::{self, remove_marker};
use super::child_process::ChildOwner;

/// File naming the run in progress.
const RUN_FILE: &str = crate::state_dir::RUN_MARKER;
/// File naming the process group of the child running now.
const CHILD_GROUP_FILE: &str = crate::state_dir::CHILD_GROUP;

/// What a run in progress is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InProgress {
    /// Unix seconds the run started.
    pub started_at: f64,
    /// Commit being benchmarked (`unknown` before the fetch).
    pub commit: String,
    /// Branch tracked.
    pub branch: String,
    /// `embedded` or `repository`.
    pub source: String,
    /// Step under way (`fetch`, `build`, `harness`, ...).
    pub step: String,
}

/// The marker files of one state directory.
#[derive(Debug, Clone)]
pub struct RunMarker {
    dir: PathBuf,
}

impl RunMarker {
    /// Markers in `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.to_path_buf(),
        }
    }

    /// Where children record their process group.
    pub fn child_group_file(&self) -> PathBuf {
        self.dir.join(CHILD_GROUP_FILE)
    }

    /// What ties children to this daemon: run through `perfd child-guard`, group recorded here.
    /// `None` (children still run, without the parent-death signal) when perfd cannot find its
    /// own binary.
    pub fn owner(&self) -> Option<ChildOwner> {
        match super::harness::self_exe() {
            Ok(perfd) => Some(ChildOwner {
                perfd,
                group_file: self.child_group_file(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot locate the perfd binary; children will not die with the daemon");
                None
            }
        }
    }

    /// Records (or updates) the run in progress. A marker that cannot be written only weakens
    /// crash reporting, so the run goes on; the error is returned for logging.
    pub fn set(&self, run: &InProgress) -> std::io::Result<()> {
        let path = self.dir.join(RUN_FILE);
        let partial = path.with_extension("json.partial");
        std::fs::write(
            &partial,
            serde_json::to_vec(run).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(partial, path)
    }

    /// The run was recorded: forget it.
    pub fn clear(&self) {
        remove_marker(&self.dir.join(RUN_FILE));
    }

    /// At start-up: the run a dead daemon left unfinished, if any, with what was done about its
    /// children (one line for the run's reason). Both markers are removed.
    pub fn take_stale(&self) -> Option<(InProgress, String)> {
        let group = child_group::take(&self.child_group_file());
        let path = self.dir.join(RUN_FILE);
        let run = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<InProgress>(&b).ok());
        remove_marker(&path);
        let run = run?;
        Some((run, group))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::child_group::ChildGroup;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_stale_group_is_killed_and_the_run_reported() {
        let dir = tempfile::tempdir().unwrap();
        let marker = RunMarker::new(dir.path());
        let run = InProgress {
            started_at: 5.0,
            commit: "abc".into(),
            branch: "main".into(),
            source: "repository".into(),
            step: "harness".into(),
        };
        marker.set(&run).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        ChildGroup::of(child.id())
            .unwrap()
            .write(&marker.child_group_file())
            .unwrap();
        let (found, what) = marker.take_stale().unwrap();
        assert_eq!(found, run);
        assert!(what.contains("killed"), "{what}");
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        assert!(marker.take_stale().is_none(), "markers are consumed");
    }
}
