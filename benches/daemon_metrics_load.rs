//! Daemon overhead, measured on the real binary (`cargo bench --bench daemon_metrics_load`):
//! idle CPU and RSS between runs, then `/metrics` latency at a fixed 200 requests/s from loopback
//! while a benchmark runs (the daemon competes with the harness for the cores).
//!
//! `PERFD_LOAD_PRESET` picks the benchmarked preset (default 2b4t), `PERFD_LOAD_SECS` the load
//! duration (default 20).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn wait(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let preset = std::env::var("PERFD_LOAD_PRESET").unwrap_or_else(|_| "2b4t".into());
    let secs: u64 = std::env::var("PERFD_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("perfd.toml");
    let body = |interval: u64| {
        format!(
            "[daemon]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n[schedule]\ninterval_secs = {interval}\n[benchmark]\npreset = \"{preset}\"\nreps = 3\n",
            dir.path().join("state").display()
        )
    };
    std::fs::write(&config, body(86_400)).unwrap();
    let log = dir.path().join("daemon.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut addr = String::new();
    wait("listen address", 30, || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(at) = text.find("address=") {
            addr = text[at + 8..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
        }
        !addr.is_empty()
    });
    println!("waiting for the first {preset} benchmark run to finish (the model is written on first use)...");
    wait("first run", 900, || {
        get(&addr, "/api/v1/runs")
            .map(|b| b.contains("\"status\": \"success\""))
            .unwrap_or(false)
    });
    std::thread::sleep(Duration::from_secs(2));

    let idle_secs = 30;
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(Duration::from_secs(idle_secs));
    let ticks_per_sec = 100.0; // Linux USER_HZ
    let cpu = (cpu_ticks(pid) - c0) as f64 / ticks_per_sec / t0.elapsed().as_secs_f64();
    let rss_kib = proc_field(pid, "status", "VmRSS:").unwrap_or(0);
    println!(
        "idle daemon over {idle_secs} s: CPU {:.3} % of one core, RSS {:.1} MB",
        100.0 * cpu,
        rss_kib as f64 / 1024.0
    );

    // Start a benchmark run now (SIGHUP reloads the config and triggers a tick), then load /metrics.
    Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    wait("benchmark running", 60, || {
        get(&addr, "/metrics")
            .map(|m| m.contains("bitnet_bench_running 1"))
            .unwrap_or(false)
    });
    let rate = 200.0;
    let total = (rate * secs as f64) as usize;
    let start = Instant::now();
    let mut lat = Vec::with_capacity(total);
    let mut errors = 0;
    let mut during_run = 0;
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let t = Instant::now();
        match get(&addr, "/metrics") {
            Ok(body) if body.starts_with("HTTP/1.1 200") => {
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                during_run += usize::from(body.contains("bitnet_bench_running 1"));
            }
            _ => errors += 1,
        }
    }
    let achieved = lat.len() as f64 / start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    println!(
        "/metrics at {rate:.0} req/s for {secs} s ({achieved:.0} req/s achieved, {during_run}/{} while a benchmark ran, {errors} errors): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
}
