//! Standard process metrics (`process_*`), read from /proc via sysinfo.

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::family::{Family, Kind};

/// Builds the process families; `None` when the OS does not tell (counted as a collector error).
pub fn collect() -> Option<Vec<Family>> {
    let pid = Pid::from_u32(std::process::id());
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        false,
        ProcessRefreshKind::nothing().with_cpu().with_memory(),
    );
    let p = sys.process(pid)?;
    let mut cpu = Family::new(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        Kind::Counter,
        Some("seconds"),
    );
    cpu.push(vec![], p.accumulated_cpu_time() as f64 / 1000.0);
    let mut rss = Family::new(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        Kind::Gauge,
        Some("bytes"),
    );
    rss.push(vec![], p.memory() as f64);
    let mut vsz = Family::new(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        Kind::Gauge,
        Some("bytes"),
    );
    vsz.push(vec![], p.virtual_memory() as f64);
    let mut start = Family::new(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        Kind::Gauge,
        Some("seconds"),
    );
    start.push(vec![], p.start_time() as f64);
    let mut out = vec![cpu, rss, vsz, start];
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let mut open = Family::new(
            "process_open_fds",
            "Number of open file descriptors.",
            Kind::Gauge,
            None,
        );
        open.push(vec![], fds.count() as f64);
        out.push(open);
    }
    Some(out)
}
