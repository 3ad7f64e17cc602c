//! A child's process group as recorded on disk while it runs: leader pid, its start time and the
//! boot it happened in, so that a later start can kill what a dead daemon left behind without
//! ever mistaking a recycled pid for it.

use std::path::Path;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// A process group as recorded: leader pid, its start time (clock ticks since boot) and the boot
/// it happened in, so a recycled pid is never mistaken for ours.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildGroup {
    pgid: i32,
    start_ticks: u64,
    boot_id: String,
}

impl ChildGroup {
    /// The group led by `pid`, as the kernel describes it now.
    pub fn of(pid: u32) -> Option<Self> {
        Some(Self {
            pgid: i32::try_from(pid).ok()?,
            start_ticks: start_ticks(pid)?,
            boot_id: boot_id()?,
        })
    }

    /// Writes the record to `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            format!("{} {} {}\n", self.pgid, self.start_ticks, self.boot_id),
        )
    }

    fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut f = text.split_whitespace();
        Some(Self {
            pgid: f.next()?.parse().ok()?,
            start_ticks: f.next()?.parse().ok()?,
            boot_id: f.next()?.to_string(),
        })
    }

    /// Removes the record at `path` (the child was reaped).
    pub fn forget(path: &Path) {
        remove_marker(path);
    }
}

/// Removes a marker file; one that is already gone is fine, any other failure is logged (a
/// stale marker only makes the next start report a run it did not need to).
pub(super) fn remove_marker(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove marker file");
        }
    }
}

/// Kills the group recorded at `path` if it is still ours; says what happened.
pub fn take(path: &Path) -> String {
    let Some(g) = ChildGroup::read(path) else {
        return "no child was running".into();
    };
    ChildGroup::forget(path);
    if boot_id().as_deref() != Some(g.boot_id.as_str()) {
        return "its children ended with the reboot".into();
    }
    // The leader's pid, if alive, must be the process we started (same start time).
    if let Ok(pgid) = u32::try_from(g.pgid) {
        if let Some(t) = start_ticks(pgid) {
            if t != g.start_ticks {
                return "its child is gone (the pid now belongs to another process)".into();
            }
        }
    }
    // The pid cannot be reused while the group has members, so a live group is ours.
    match killpg(Pid::from_raw(g.pgid), Signal::SIGKILL) {
        Ok(()) => format!(
            "its leftover children (process group {}) were killed",
            g.pgid
        ),
        Err(_) => "its children had already exited".into(),
    }
}

/// Start time of `pid` in clock ticks since boot (`/proc/PID/stat` field 22).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after its closing ')' do not.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_pid_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("child-group");
        let mut g = ChildGroup::of(std::process::id()).unwrap();
        g.start_ticks += 1;
        g.write(&path).unwrap();
        assert!(take(&path).contains("another process"));
        assert!(!path.exists());
    }
}
