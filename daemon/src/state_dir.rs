//! The state directory's layout: every file and folder perfd keeps there, named in one place.

use std::path::{Path, PathBuf};

/// The run in progress (what it is about, its step): found at start-up after a crash.
pub const RUN_MARKER: &str = "run-in-progress.json";
/// The process group the current child leads (killed at start-up when a crash left it).
pub const CHILD_GROUP: &str = "child-group";

/// The history database (SQLite, WAL).
pub fn history_db(state_dir: &Path) -> PathBuf {
    state_dir.join("history.sqlite")
}

/// The lock that keeps a second daemon off the same state directory.
pub fn lock_file(state_dir: &Path) -> PathBuf {
    state_dir.join("perfd.lock")
}

/// Finished runs waiting for the store.
pub fn spool(state_dir: &Path) -> PathBuf {
    state_dir.join("spool")
}

/// Logs of builds, harness runs, A/B runs and tuning jobs.
pub fn logs(state_dir: &Path) -> PathBuf {
    state_dir.join("logs")
}

/// Synthetic model files (`PERFD_CACHE_DIR` of the harness children).
pub fn models(state_dir: &Path) -> PathBuf {
    state_dir.join("models")
}

/// Adopted tuning profiles, as TOML.
pub fn profiles(state_dir: &Path) -> PathBuf {
    state_dir.join("profiles")
}

/// The mirror of the tracked repository.
pub fn mirror(state_dir: &Path) -> PathBuf {
    state_dir.join("repo.git")
}

/// Worktrees of benchmarked commits.
pub fn worktrees(state_dir: &Path) -> PathBuf {
    state_dir.join("worktrees")
}
