//! A supervised child process: its own process group, stdin closed, stdout captured (bounded) or
//! logged, stderr logged, a timeout and a cancellation signal that both kill the whole group
//! (SIGTERM, then SIGKILL after a grace period), and a heartbeat while it runs.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use super::child_group::ChildGroup;
use super::heartbeat::Heartbeat;
use super::noise_watch::NoiseWatch;

/// Time a killed group gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// Niceness added to build and harness children. The daemon's CPU use is the same either way (a
/// scrape takes ~0.4 ms); this only lets it be scheduled promptly while a benchmark holds every
/// core: /metrics p99 at 200 req/s during a 2b4t run measured 6.0 ms at nice 0, 5.7 ms at +5 and
/// 4.4 ms at +15 (`cargo bench --bench daemon_metrics_load`). On an idle host it changes nothing.
pub const CHILD_NICE: u8 = 15;
/// Most stdout kept from a child (a bench report is a few hundred KiB).
const MAX_STDOUT: u64 = 64 << 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// Short name for logs and reasons (`build`, `harness`).
    pub label: String,
    /// Program.
    pub program: PathBuf,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Kill after this long.
    pub timeout: Duration,
    /// Keep stdout in memory (harness) rather than in the log (build).
    pub capture_stdout: bool,
    /// Log file for stderr (and stdout when not captured).
    pub log: PathBuf,
    /// Watch other processes' CPU use during the run.
    pub watch_noise: bool,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// The daemon that owns this child: when set, the child's group dies with it (`perfd
    /// child-guard`) and is recorded for the next start to clean up should the guard fail too.
    pub owner: Option<ChildOwner>,
}

/// What ties a child to the daemon that started it.
#[derive(Debug, Clone)]
pub struct ChildOwner {
    /// The perfd binary, run as `perfd child-guard` in front of the command.
    pub perfd: PathBuf,
    /// Where the child's process group is recorded while it runs.
    pub group_file: PathBuf,
}

impl CommandSpec {
    /// A shell command line run with `sh -c`.
    pub fn shell(label: &str, command: &str) -> Self {
        Self {
            label: label.into(),
            program: "sh".into(),
            args: vec!["-c".into(), command.into()],
            cwd: None,
            timeout: Duration::from_secs(3600),
            capture_stdout: false,
            log: PathBuf::from("/dev/null"),
            watch_noise: false,
            env: Vec::new(),
            owner: None,
        }
    }
}

/// How the child ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// Exited with this status code.
    Exited(i32),
    /// Killed by a signal it did not expect (number).
    Signalled(i32),
    /// Exceeded its timeout and was killed.
    TimedOut,
    /// The daemon is stopping; the child was killed.
    Cancelled,
}

/// The outcome of one child run.
#[derive(Debug, Clone)]
pub struct CommandResult {
    /// How it ended.
    pub ending: Ending,
    /// Captured stdout (empty when logged).
    pub stdout: Vec<u8>,
    /// Wall seconds.
    pub seconds: f64,
    /// Cores other processes kept busy meanwhile (when watched).
    pub other_busy_cores: Option<f64>,
}

impl CommandResult {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.ending == Ending::Exited(0)
    }

    /// A one-line description of a failure, for run reasons.
    pub fn describe(&self, label: &str, timeout: Duration) -> String {
        match &self.ending {
            Ending::Exited(c) => format!("{label} exited with status {c}"),
            Ending::Signalled(s) => format!("{label} was killed by signal {s}"),
            Ending::TimedOut => format!(
                "{label} exceeded its timeout of {} s and was killed",
                timeout.as_secs()
            ),
            Ending::Cancelled => format!("{label} was cancelled: perfd is stopping"),
        }
    }
}

fn kill_group(pgid: u32, sig: Signal) {
    // The group may already be gone; nothing to do then.
    let _ = killpg(Pid::from_raw(pgid as i32), sig);
}

/// Runs `spec` to completion, timeout or cancellation (`shutdown` turning true).
pub async fn run(
    spec: &CommandSpec,
    shutdown: &mut watch::Receiver<bool>,
    heartbeat: &Heartbeat,
) -> std::io::Result<CommandResult> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)?;
    // `nice` (coreutils) execs the program in place: same pid, same process group.
    // `perfd child-guard` instead leads the group and kills it when the daemon dies.
    let mut cmd = match &spec.owner {
        Some(owner) => {
            let mut c = tokio::process::Command::new(&owner.perfd);
            c.args([
                "child-guard",
                "--parent",
                &std::process::id().to_string(),
                "--nice",
                &CHILD_NICE.to_string(),
                "--",
            ]);
            c
        }
        None => {
            let mut c = tokio::process::Command::new("nice");
            c.args(["-n", &CHILD_NICE.to_string()]);
            c
        }
    };
    cmd.arg(&spec.program)
        .args(&spec.args)
        .stdin(Stdio::null())
        .stderr(log.try_clone()?)
        .process_group(0)
        .kill_on_drop(true);
    cmd.stdout(if spec.capture_stdout {
        Stdio::piped()
    } else {
        Stdio::from(log)
    });
    if let Some(d) = &spec.cwd {
        cmd.current_dir(d);
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    // The systemd protocol is the daemon's, not its children's.
    for k in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
        cmd.env_remove(k);
    }
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id().unwrap_or(0);
    let group_file = spec.owner.as_ref().map(|o| o.group_file.clone());
    if let Some(path) = &group_file {
        let written = ChildGroup::of(pid)
            .ok_or_else(|| std::io::Error::other("the child exited at once"))
            .and_then(|g| g.write(path));
        if let Err(e) = written {
            tracing::warn!(file = %path.display(), error = %e, "cannot record the child's process group; a crash would leave it for the OS to clean up");
        }
    }
    let reader = child.stdout.take().map(|out| {
        tokio::spawn(async move {
            let mut buf = Vec::new();
            // Bounded: a runaway harness cannot exhaust the daemon's memory.
            let _ = out.take(MAX_STDOUT).read_to_end(&mut buf).await;
            buf
        })
    });
    let mut noise = spec.watch_noise.then(|| NoiseWatch::start(pid));
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let ending = loop {
        tokio::select! {
            status = child.wait() => {
                let status = status?;
                break match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
                    (Some(c), _) => Ending::Exited(c),
                    (None, Some(s)) => Ending::Signalled(s),
                    (None, None) => Ending::Signalled(0),
                };
            }
            _ = tick.tick() => {
                heartbeat.beat();
                if let Some(n) = noise.as_mut() {
                    n.sample();
                }
            }
            _ = tokio::time::sleep_until(deadline) => break Ending::TimedOut,
            _ = shutdown.changed() => if *shutdown.borrow() { break Ending::Cancelled },
        }
    };
    if matches!(ending, Ending::TimedOut | Ending::Cancelled) {
        kill_group(pid, Signal::SIGTERM);
        if tokio::time::timeout(KILL_GRACE, child.wait())
            .await
            .is_err()
        {
            kill_group(pid, Signal::SIGKILL);
            // Reap it: after SIGKILL its exit status says nothing more than "killed".
            let _ = child.wait().await;
        }
        // Whatever the leader's children left behind goes too.
        kill_group(pid, Signal::SIGKILL);
    }
    if let Some(path) = &group_file {
        ChildGroup::forget(path);
    }
    let stdout = match reader {
        Some(r) => r.await.unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(CommandResult {
        ending,
        stdout,
        seconds: started.elapsed().as_secs_f64(),
        other_busy_cores: noise.map(NoiseWatch::finish),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cmd: &str, timeout_ms: u64, dir: &std::path::Path) -> CommandSpec {
        CommandSpec {
            timeout: Duration::from_millis(timeout_ms),
            capture_stdout: true,
            log: dir.join("log"),
            ..CommandSpec::shell("t", cmd)
        }
    }

    #[tokio::test]
    async fn captures_stdout_and_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let (_tx, mut rx) = watch::channel(false);
        let r = run(
            &spec("echo hello; echo err >&2; exit 3", 5000, dir.path()),
            &mut rx,
            &Heartbeat::default(),
        )
        .await
        .unwrap();
        assert_eq!(r.ending, Ending::Exited(3));
        assert_eq!(r.stdout, b"hello\n");
        assert!(std::fs::read_to_string(dir.path().join("log"))
            .unwrap()
            .contains("err"));
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("grandchild-alive");
        // A grandchild that would touch a file after 3 s unless killed with its group.
        let cmd = format!("(sleep 3; touch {}) & sleep 60", marker.display());
        let (_tx, mut rx) = watch::channel(false);
        let r = run(&spec(&cmd, 300, dir.path()), &mut rx, &Heartbeat::default())
            .await
            .unwrap();
        assert_eq!(r.ending, Ending::TimedOut);
        assert!(r.seconds < 10.0);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!marker.exists(), "grandchild survived the group kill");
    }

    #[tokio::test]
    async fn cancellation_stops_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = watch::channel(false);
        let h = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            tx.send(true).unwrap();
            tx
        });
        let r = run(
            &spec("sleep 60", 60_000, dir.path()),
            &mut rx,
            &Heartbeat::default(),
        )
        .await
        .unwrap();
        assert_eq!(r.ending, Ending::Cancelled);
        drop(h.await);
    }
}
