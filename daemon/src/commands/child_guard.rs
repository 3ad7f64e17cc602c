//! `perfd child-guard` (hidden): the first program of every benchmark child. It leads the
//! child's process group, runs the real command in it, and watches its own parent: when the
//! daemon dies (SIGKILL, OOM killer) the guard is re-parented, notices within a poll interval and
//! kills the whole group, grandchildren included (`sh -c` does not exec its last command, so a
//! parent-death signal on the direct child alone would leave the harness running). The command's
//! exit status, or the signal that ended it, becomes the guard's own, as soon as it ends: a thread
//! blocks in `wait` for it while the poll watches the parent (the poll used to gate both, which
//! added up to 200 ms to every child the daemon ran).

use std::process::Child;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::sys::signal::{killpg, raise, Signal};
use nix::unistd::{getpgrp, getppid};

use crate::cli::ChildGuardArgs;

/// How often the guard checks that the daemon is still its parent.
const POLL: Duration = Duration::from_millis(200);

/// Runs the command until it ends; exits like it (this function only returns on failure).
pub fn run(args: &ChildGuardArgs) -> Result<()> {
    // The daemon may have died before we got here: then nobody would ever stop the command.
    if getppid().as_raw() != args.parent {
        bail!(
            "perfd (pid {}) exited before its child started",
            args.parent
        );
    }
    let Some((program, rest)) = args.command.split_first() else {
        bail!("child-guard: no command given");
    };
    // The waiting thread starts before the command, so that a failure to start it leaves no
    // command running unwatched.
    let (hand_over, handed) = mpsc::channel::<Child>();
    let (ended, status) = mpsc::channel();
    std::thread::Builder::new()
        .name("child-wait".into())
        .spawn(move || {
            if let Ok(mut child) = handed.recv() {
                // The receiver only goes away when the guard exits, and then nobody needs the
                // status.
                let _ = ended.send(child.wait());
            }
        })
        .context("start the thread that waits for the command")?;
    let child = std::process::Command::new("nice")
        .args(["-n", &args.nice.to_string()])
        .arg(program)
        .args(rest)
        .spawn()
        .with_context(|| format!("start {program}"))?;
    if let Err(mpsc::SendError(mut child)) = hand_over.send(child) {
        // Cannot happen while the thread waits in `recv`; should it, the command must not be
        // left running with nobody to report it.
        child.kill().context("stop the command nobody waits for")?;
        bail!("child-guard: the thread waiting for the command had ended");
    }
    loop {
        let status = match status.recv_timeout(POLL) {
            Ok(waited) => Some(waited.context("wait for the command")?),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                bail!("child-guard: the thread waiting for the command ended without its status")
            }
        };
        if let Some(status) = status {
            if let Some(code) = status.code() {
                std::process::exit(code);
            }
            let sig = std::os::unix::process::ExitStatusExt::signal(&status)
                .and_then(|s| Signal::try_from(s).ok())
                .unwrap_or(Signal::SIGKILL);
            // The guard installs no handlers, so the signal ends it the same way.
            raise(sig).context("re-raise the command's signal")?;
            std::process::exit(128 + sig as i32);
        }
        if getppid().as_raw() != args.parent {
            // Orphaned: the daemon is gone. Everything in our group goes, us included.
            killpg(getpgrp(), Signal::SIGKILL).context("kill the orphaned process group")?;
        }
    }
}
