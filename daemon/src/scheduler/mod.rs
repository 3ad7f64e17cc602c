//! The scheduler: one benchmark at a time; timer ticks and external triggers that arrive while a
//! run is going are coalesced into one follow-up tick.

mod ab_plan;
mod ab_runs;
mod judge;
mod profile_in_use;
mod run_once;
mod tune_job;
mod tune_proposal;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::state::DaemonState;

pub use run_once::{judge_runs, record_interrupted, tick};

/// Runs ticks until `shutdown` turns true (the run in progress is cancelled and recorded).
pub async fn run_loop(state: Arc<DaemonState>, mut shutdown: watch::Receiver<bool>) {
    let mut next = tokio::time::Instant::now();
    let mut alive = tokio::time::interval(Duration::from_secs(1));
    loop {
        let mut tick_due = true;
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = state.trigger.notified() => tracing::info!("benchmark triggered"),
            _ = state.tune_queue.requested() => tick_due = false,
            _ = alive.tick() => {
                state.heartbeat.beat();
                continue;
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() { break }
                continue;
            }
        }
        if *shutdown.borrow() {
            break;
        }
        if !tick_due {
            // Tuning jobs run between benchmark runs, never beside one.
            tune_job::run_queued(&state, &mut shutdown).await;
            continue;
        }
        let interval = state.config().schedule.interval_secs;
        let now = tokio::time::Instant::now();
        // Config bounds keep this far from overflow; a clock that cannot add an interval must
        // still not panic the scheduler.
        next = now
            .checked_add(Duration::from_secs(interval))
            .unwrap_or(now + Duration::from_secs(crate::config::MAX_DURATION_SECS));
        state.heartbeat.beat();
        tick(&state, &mut shutdown).await;
        state.heartbeat.beat();
        tune_job::run_queued(&state, &mut shutdown).await;
        state.heartbeat.beat();
        // A stop that arrived during the tick was already seen by it (the watch's `changed`
        // fired there), so look at the value itself rather than wait for another change.
        if *shutdown.borrow() {
            break;
        }
    }
    tracing::info!("scheduler stopped");
}
