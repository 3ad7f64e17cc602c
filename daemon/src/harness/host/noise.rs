//! Noise guard: how much CPU other processes used while a benchmark ran.
//!
//! On a shared machine the main source of drift is someone else's work on our cores. We read every
//! process's accumulated CPU time before and after, excluding our own process, and express the
//! difference as cores kept busy on average.

pub use crate::report::noise::NoiseVerdict;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// CPU time of every process but ours at one instant.
pub struct CpuSnapshot {
    at: std::time::Instant,
    others_ms: u64,
}

fn others_cpu_ms() -> u64 {
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().with_cpu(),
    );
    let me = Pid::from_u32(std::process::id());
    sys.processes()
        .iter()
        // Threads appear as tasks; their time is already in their process, and ours are not noise.
        .filter(|(pid, p)| **pid != me && p.thread_kind().is_none())
        .map(|(_, p)| p.accumulated_cpu_time())
        .sum()
}

impl CpuSnapshot {
    /// Takes a snapshot now.
    pub fn take() -> Self {
        Self {
            at: std::time::Instant::now(),
            others_ms: others_cpu_ms(),
        }
    }

    /// Average cores other processes kept busy since this snapshot.
    pub fn others_busy_cores_since(&self) -> f64 {
        let wall = self.at.elapsed().as_secs_f64();
        let used = others_cpu_ms().saturating_sub(self.others_ms) as f64 / 1000.0;
        if wall > 0.0 {
            used / wall
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_child_process_is_seen() {
        let snap = CpuSnapshot::take();
        // Another process spinning while we look: it must still be alive at the second snapshot.
        let mut spinner = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .expect("spawn sh");
        std::thread::sleep(std::time::Duration::from_millis(600));
        let busy = snap.others_busy_cores_since();
        let _ = spinner.kill();
        let _ = spinner.wait();
        assert!(busy > 0.2, "other processes' CPU not seen: {busy}");
        assert!(NoiseVerdict::judge(busy, 0.1).noisy);
        assert!(!NoiseVerdict::judge(busy, 64.0).noisy);
    }
}
