//! `perfd child-guard` (hidden): the first program of every benchmark child. It asks the kernel
//! to SIGKILL it when the daemon dies (`PR_SET_PDEATHSIG`, kept across exec), then lowers its
//! priority and execs the real command in its place: same pid, same process group, so a daemon
//! killed with SIGKILL cannot leave a benchmark running beside the next one. Grandchildren are
//! not covered by the signal; the next daemon start kills the recorded process group for them.

use std::os::unix::process::CommandExt;

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;

use crate::cli::ChildGuardArgs;

/// Runs the guard: returns only on failure (success replaces this process).
pub fn run(args: &ChildGuardArgs) -> Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("set the parent-death signal")?;
    // The daemon may have died between fork and prctl: then nobody would ever kill us.
    if nix::unistd::getppid().as_raw() != args.parent {
        bail!(
            "perfd (pid {}) exited before its child started",
            args.parent
        );
    }
    let Some((program, rest)) = args.command.split_first() else {
        bail!("child-guard: no command given");
    };
    let err = std::process::Command::new("nice")
        .args(["-n", &args.nice.to_string()])
        .arg(program)
        .args(rest)
        .exec();
    Err(err).with_context(|| format!("exec {program}"))
}
