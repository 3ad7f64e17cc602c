//! Shared helpers for end-to-end tests of the real `perfd` daemon: start it on an ephemeral
//! loopback port, talk HTTP, wait for conditions, stop it with signals.
#![allow(dead_code)]

pub mod fake_github;
pub mod github_mocks;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Path of the perfd binary under test.
pub fn perfd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_perfd")
}

/// The Python interpreter that `python3` on PATH runs, by its own path: a harness started
/// hundreds of times then skips version-manager shims (pyenv's costs ~60 ms a start).
pub fn python3() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("run python3");
    assert!(out.status.success(), "python3 -c: {out:?}");
    let path = String::from_utf8(out.stdout).expect("python3's path in UTF-8");
    let path = path.trim();
    assert!(Path::new(path).is_absolute(), "sys.executable = {path:?}");
    path.to_string()
}

/// A running daemon.
pub struct Daemon {
    pub child: Child,
    pub addr: String,
    pub log: PathBuf,
    pub state_dir: PathBuf,
    pub config: PathBuf,
}

/// Writes `config` (with listen and state_dir filled in) into `dir` and starts the daemon.
pub fn start(dir: &Path, config_body: &str) -> Daemon {
    let state_dir = dir.join("state");
    let config = dir.join("perfd.toml");
    let text = format!(
        "[daemon]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\n{config_body}",
        state_dir.display()
    );
    std::fs::write(&config, text).unwrap();
    start_with(dir, &config, &state_dir)
}

/// Starts the daemon on an existing config file.
pub fn start_with(dir: &Path, config: &Path, state_dir: &Path) -> Daemon {
    let log = dir.join(format!(
        "daemon-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let child = Command::new(perfd_bin())
        .args(["run", "--config", config.to_str().unwrap()])
        .env("PERFD_BIN", perfd_bin())
        .env("PERFD_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start perfd run");
    let addr = wait_for(Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&log).ok()?;
        let at = text.find("address=")?;
        let rest = &text[at + "address=".len()..];
        Some(rest.split_whitespace().next()?.to_string())
    })
    .unwrap_or_else(|| {
        panic!(
            "daemon did not report its address; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    Daemon {
        child,
        addr,
        log,
        state_dir: state_dir.to_path_buf(),
        config: config.to_path_buf(),
    }
}

impl Daemon {
    /// GET `path`; (status, headers, body).
    pub fn get(&self, path: &str) -> (u16, String, String) {
        http_get(&self.addr, path, None)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs from `/api/v1/runs`.
    pub fn runs(&self) -> Vec<serde_json::Value> {
        let (status, _, body) = self.get("/api/v1/runs?limit=100");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["runs"].as_array().unwrap().clone()
    }

    /// Waits until `pred` holds for the run list; panics with the log after `secs`.
    pub fn wait_runs(
        &self,
        secs: u64,
        what: &str,
        pred: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        wait_for(Duration::from_secs(secs), || {
            let runs = self.runs();
            pred(&runs).then_some(runs)
        })
        .unwrap_or_else(|| {
            panic!(
                "timed out waiting for {what}; runs: {:#?}\nlog:\n{}",
                self.runs(),
                self.log()
            )
        })
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// SIGTERM and wait; returns the exit status (panics after `secs`).
    pub fn stop(mut self, secs: u64) -> ExitStatus {
        self.signal("TERM");
        let status = wait_for(Duration::from_secs(secs), || {
            self.child.try_wait().ok().flatten()
        });
        match status {
            Some(s) => s,
            None => {
                let _ = self.child.kill();
                panic!("daemon did not stop within {secs} s; log:\n{}", self.log())
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `f` every 100 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A minimal HTTP/1.1 GET (Connection: close); (status, raw headers, body).
pub fn http_get(addr: &str, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to daemon");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// Runs `promtool check metrics` on `text`; (success, output).
pub fn promtool_check_metrics(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is missing: run scripts/setup.sh --test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Whether any process's command line contains `marker`.
pub fn process_running(marker: &str) -> bool {
    Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs git in `dir` and panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "perfd test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "perfd test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git repository fixture whose harness runs the real `perfd bench --json --preset tiny`.
pub fn fixture_repo(dir: &Path, harness: &str) -> PathBuf {
    let repo = dir.join("upstream");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("bench.sh"), harness).unwrap();
    std::fs::write(
        repo.join("build.sh"),
        "echo building; echo built > built.txt\n",
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "initial"]);
    repo
}

/// The harness script of the fixture: perfd's own tiny benchmark (PERFD_BIN is set by `start`).
pub const TINY_HARNESS: &str =
    "exec \"$PERFD_BIN\" bench --json --preset tiny --pp 8 --tg 8 --reps 3 --bandwidth-mib 48\n";

/// A minimal HTTP/1.1 POST with `Expect: 100-continue` (the body is sent only when the server asks
/// for it, so a refusal by size or auth arrives without a reset); (status, body).
pub fn http_post(addr: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to daemon");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let mut sent = false;
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if !sent && text.starts_with("HTTP/1.1 100") && text.contains("\r\n\r\n") {
            sent = true;
            raw.clear();
            s.write_all(body).unwrap();
        }
    }
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}
