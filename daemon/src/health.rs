//! Readiness by cause: what currently keeps the daemon from doing its job. `/readyz` answers 503
//! with the reasons while any holds; the store's failures are also counted for `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A reason the daemon is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Problem {
    /// The history store cannot write; finished runs wait in the spool.
    Store,
    /// The scheduler stopped; no more runs will happen until a restart.
    Scheduler,
}

/// Shared readiness state (a small handle: the map is private).
#[derive(Debug, Default)]
pub struct Health {
    started: AtomicBool,
    stopping: AtomicBool,
    problems: Mutex<BTreeMap<Problem, String>>,
    store_errors: AtomicU64,
}

impl Health {
    fn problems(&self) -> MutexGuard<'_, BTreeMap<Problem, String>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts).
        self.problems.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Startup finished (config, store, listener).
    pub fn set_started(&self) {
        self.started.store(true, Ordering::Relaxed);
    }

    /// Shutdown began.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Records `problem` with its reason (replacing an older reason).
    pub fn fail(&self, problem: Problem, reason: impl Into<String>) {
        self.problems().insert(problem, reason.into());
    }

    /// `problem` no longer holds.
    pub fn clear(&self, problem: Problem) {
        self.problems().remove(&problem);
    }

    /// A store operation failed: counted, and the daemon is not ready until a write succeeds.
    pub fn store_failed(&self, reason: impl Into<String>) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
        self.fail(Problem::Store, reason);
    }

    /// Store operations failed since start.
    pub fn store_errors(&self) -> u64 {
        self.store_errors.load(Ordering::Relaxed)
    }

    /// `Ok` when ready, else every reason, one per line.
    pub fn readiness(&self) -> Result<(), String> {
        if !self.started.load(Ordering::Relaxed) {
            return Err("starting".into());
        }
        if self.stopping.load(Ordering::Relaxed) {
            return Err("stopping".into());
        }
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.values().cloned().collect::<Vec<_>>().join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_started_and_without_problems() {
        let h = Health::default();
        assert_eq!(h.readiness(), Err("starting".into()));
        h.set_started();
        assert_eq!(h.readiness(), Ok(()));
        h.store_failed("database is locked");
        h.fail(Problem::Scheduler, "scheduler stopped");
        assert_eq!(
            h.readiness(),
            Err("database is locked\nscheduler stopped".into())
        );
        assert_eq!(h.store_errors(), 1);
        h.clear(Problem::Store);
        h.clear(Problem::Scheduler);
        assert_eq!(h.readiness(), Ok(()));
        h.set_stopping();
        assert_eq!(h.readiness(), Err("stopping".into()));
    }
}
