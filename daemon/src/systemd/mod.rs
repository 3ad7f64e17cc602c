//! systemd integration: readiness, stopping and the watchdog over `NOTIFY_SOCKET` (no-ops when
//! not started by systemd).

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::watch;

use crate::runner::heartbeat::Heartbeat;

/// Tells systemd startup is complete.
pub fn ready(status: &str) {
    // Outside systemd there is no socket to tell; under it a failed notify shows as a start
    // timeout in `systemctl status`, which says more than a log line here could.
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd we are shutting down.
pub fn stopping() {
    // As in `ready`: nothing to do about a notify that did not arrive.
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

/// Tells systemd we are reloading the configuration.
pub fn reloading() {
    // As in `ready`: nothing to do about a notify that did not arrive.
    let _ = sd_notify::notify(false, &[NotifyState::Reloading]);
}

/// Pings the watchdog at half its interval, but only while the scheduler's heartbeat is fresh:
/// a scheduler stuck for a whole watchdog interval stops the pings and systemd restarts perfd.
pub async fn watchdog(heartbeat: Heartbeat, mut shutdown: watch::Receiver<bool>) {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let interval = Duration::from_micros(usec);
    let mut tick = tokio::time::interval(interval / 2);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if Duration::from_secs(heartbeat.age_secs()) < interval {
                    // A lost ping is retried at the next tick, long before systemd's deadline.
                    let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
                } else {
                    tracing::error!(age_secs = heartbeat.age_secs(), "scheduler shows no progress; withholding the watchdog ping");
                }
            }
            _ = shutdown.changed() => if *shutdown.borrow() { return },
        }
    }
}
