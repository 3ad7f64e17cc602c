//! Noise guard for a child process: CPU time used during its run by every other process on the
//! host — excluding the child's whole process tree and the daemon itself.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// Tracks one child's run.
pub struct NoiseWatch {
    sys: System,
    root: Pid,
    me: Pid,
    tree: HashSet<Pid>,
    start_ms: HashMap<Pid, u64>,
    started: Instant,
}

fn refresh(sys: &mut System) {
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().with_cpu(),
    );
}

impl NoiseWatch {
    /// Starts watching; `root` is the child's pid.
    pub fn start(root: u32) -> Self {
        let mut sys = System::new();
        refresh(&mut sys);
        let start_ms = sys
            .processes()
            .iter()
            .filter(|(_, p)| p.thread_kind().is_none())
            .map(|(pid, p)| (*pid, p.accumulated_cpu_time()))
            .collect();
        let mut w = Self {
            sys,
            root: Pid::from_u32(root),
            me: Pid::from_u32(std::process::id()),
            tree: HashSet::from([Pid::from_u32(root)]),
            start_ms,
            started: Instant::now(),
        };
        w.collect_tree();
        w
    }

    /// Adds the child's current descendants to its tree (call periodically: they may be short-lived).
    pub fn sample(&mut self) {
        refresh(&mut self.sys);
        self.collect_tree();
    }

    fn collect_tree(&mut self) {
        let mut grew = true;
        while grew {
            grew = false;
            for (pid, p) in self.sys.processes() {
                if !self.tree.contains(pid) && p.parent().is_some_and(|pp| self.tree.contains(&pp))
                {
                    self.tree.insert(*pid);
                    grew = true;
                }
            }
        }
        self.tree.insert(self.root);
    }

    /// Average cores that processes outside the child's tree kept busy since `start`.
    pub fn finish(mut self) -> f64 {
        self.sample();
        let wall = self.started.elapsed().as_secs_f64();
        let used_ms: u64 = self
            .sys
            .processes()
            .iter()
            .filter(|(pid, p)| {
                p.thread_kind().is_none() && **pid != self.me && !self.tree.contains(pid)
            })
            .map(|(pid, p)| {
                p.accumulated_cpu_time()
                    .saturating_sub(*self.start_ms.get(pid).unwrap_or(&0))
            })
            .sum();
        if wall > 0.0 {
            used_ms as f64 / 1000.0 / wall
        } else {
            0.0
        }
    }
}
