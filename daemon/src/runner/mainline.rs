//! The tracked mainline: a mirror clone in the state directory, fetched each tick, and one
//! detached worktree per benchmarked commit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use super::child_process::{self, CommandSpec};
use super::heartbeat::Heartbeat;

/// Worktrees kept (older ones are removed to bound disk use).
const KEEP_WORKTREES: usize = 3;

/// A repository mirror and its worktrees.
#[derive(Debug, Clone)]
pub struct Mainline {
    url: String,
    branch: String,
    mirror: PathBuf,
    worktrees: PathBuf,
}

/// Runs git with `args`; stdout when it succeeds, a reason when it does not.
async fn git(
    args: &[&str],
    cwd: Option<&Path>,
    log: &Path,
    timeout: Duration,
    shutdown: &mut watch::Receiver<bool>,
    hb: &Heartbeat,
) -> Result<String, String> {
    let spec = CommandSpec {
        label: "git".into(),
        program: "git".into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        cwd: cwd.map(Path::to_path_buf),
        timeout,
        capture_stdout: true,
        log: log.to_path_buf(),
        watch_noise: false,
        env: Vec::new(),
        // git ends by itself (or by its timeout); only benchmark children need the guard.
        owner: None,
    };
    let r = child_process::run(&spec, shutdown, hb)
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if r.success() {
        Ok(String::from_utf8_lossy(&r.stdout).trim().to_string())
    } else {
        Err(format!(
            "`git {}`: {} (see {})",
            args.join(" "),
            r.describe("git", timeout),
            log.display()
        ))
    }
}

impl Mainline {
    /// The mainline of `url`/`branch`, kept under `state_dir`.
    pub fn new(url: &str, branch: &str, state_dir: &Path) -> Self {
        Self {
            url: url.into(),
            branch: branch.into(),
            mirror: crate::state_dir::mirror(state_dir),
            worktrees: crate::state_dir::worktrees(state_dir),
        }
    }

    /// Fetches (cloning on first use) and returns the branch head's commit id.
    pub async fn fetch_head(
        &self,
        log: &Path,
        timeout: Duration,
        shutdown: &mut watch::Receiver<bool>,
        hb: &Heartbeat,
    ) -> Result<String, String> {
        let mirror = self.mirror.display().to_string();
        if !self.mirror.join("HEAD").exists() {
            git(
                &["clone", "--mirror", "--quiet", &self.url, &mirror],
                None,
                log,
                timeout,
                shutdown,
                hb,
            )
            .await?;
        } else {
            git(
                &["--git-dir", &mirror, "remote", "update", "--prune"],
                None,
                log,
                timeout,
                shutdown,
                hb,
            )
            .await?;
        }
        let rev = format!("refs/heads/{}^{{commit}}", self.branch);
        git(
            &[
                "--git-dir",
                &mirror,
                "rev-parse",
                "--verify",
                "--quiet",
                &rev,
            ],
            None,
            log,
            timeout,
            shutdown,
            hb,
        )
        .await
        .map_err(|_| format!("branch `{}` does not exist in {}", self.branch, self.url))
    }

    /// A detached worktree at `commit` (reused when it exists).
    pub async fn worktree(
        &self,
        commit: &str,
        log: &Path,
        timeout: Duration,
        shutdown: &mut watch::Receiver<bool>,
        hb: &Heartbeat,
    ) -> Result<PathBuf, String> {
        let dir = self.worktrees.join(commit);
        if dir.join(".git").exists() {
            return Ok(dir);
        }
        std::fs::create_dir_all(&self.worktrees)
            .map_err(|e| format!("create {}: {e}", self.worktrees.display()))?;
        let mirror = self.mirror.display().to_string();
        let path = dir.display().to_string();
        // A leftover directory from an interrupted add would make git refuse.
        let _ = std::fs::remove_dir_all(&dir);
        let _ = git(
            &["--git-dir", &mirror, "worktree", "prune"],
            None,
            log,
            timeout,
            shutdown,
            hb,
        )
        .await;
        git(
            &[
                "--git-dir",
                &mirror,
                "worktree",
                "add",
                "--detach",
                "--force",
                &path,
                commit,
            ],
            None,
            log,
            timeout,
            shutdown,
            hb,
        )
        .await?;
        self.prune_worktrees(commit, log, timeout, shutdown, hb)
            .await;
        Ok(dir)
    }

    /// Removes all but the newest worktrees (best effort: disk use, not correctness).
    async fn prune_worktrees(
        &self,
        keep: &str,
        log: &Path,
        timeout: Duration,
        shutdown: &mut watch::Receiver<bool>,
        hb: &Heartbeat,
    ) {
        let Ok(entries) = std::fs::read_dir(&self.worktrees) else {
            return;
        };
        let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name() != keep)
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        dirs.sort();
        let excess = dirs.len().saturating_sub(KEEP_WORKTREES - 1);
        let mirror = self.mirror.display().to_string();
        for (_, d) in dirs.into_iter().take(excess) {
            let p = d.display().to_string();
            // Pruning old worktrees is housekeeping: one that cannot go now goes next time.
            let _ = git(
                &["--git-dir", &mirror, "worktree", "remove", "--force", &p],
                None,
                log,
                timeout,
                shutdown,
                hb,
            )
            .await;
        }
    }
}
