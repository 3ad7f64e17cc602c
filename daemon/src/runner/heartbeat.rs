//! Scheduler progress, as seen by the systemd watchdog: the scheduler beats while it works or
//! waits on a child; a loop that stops beating stops the watchdog pings and systemd restarts us.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::clock::unix_now;

/// Time of the scheduler's last sign of life.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat(Arc<AtomicU64>);

impl Heartbeat {
    /// Records progress now.
    pub fn beat(&self) {
        self.0.store(unix_now() as u64, Ordering::Relaxed);
    }

    /// Seconds since the last beat.
    pub fn age_secs(&self) -> u64 {
        (unix_now() as u64).saturating_sub(self.0.load(Ordering::Relaxed))
    }
}
