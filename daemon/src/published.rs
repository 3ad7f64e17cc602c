//! What the daemon publishes between runs — the newest successful run, the newest verdicts, run
//! counters, the run in progress and collector failures — behind one handle. The scheduler
//! writes it; `/metrics`, the status page and the API read copies. Poisoning is handled here:
//! each value is replaced whole, so a poisoned lock still holds a consistent one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};

use crate::run::{RecordedRun, RunStatus};

/// A run in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningInfo {
    /// Commit being benchmarked.
    pub commit: String,
    /// Step (`fetch`, `build`, `harness`).
    pub step: String,
    /// Unix seconds the run started.
    pub started_at: f64,
}

/// What the newest judged run concluded.
#[derive(Debug, Clone, Default)]
pub struct LatestVerdicts {
    /// SLO verdicts.
    pub slos: Vec<crate::verdict::slo::SloVerdict>,
    /// (metric, current/baseline ratio) of the regression assessment.
    pub regression_ratio: Option<(String, f64)>,
    /// A regression was confirmed by A/B.
    pub confirmed_regression: bool,
    /// Gate conclusions by gate name.
    pub gates: Vec<(String, crate::gates::Conclusion)>,
}

/// The published values.
#[derive(Debug, Default)]
pub struct Published {
    latest: RwLock<Option<RecordedRun>>,
    verdicts: RwLock<Option<LatestVerdicts>>,
    counts: Mutex<HashMap<RunStatus, u64>>,
    running: Mutex<Option<RunningInfo>>,
    collector_errors: Mutex<HashMap<&'static str, u64>>,
}

impl Published {
    /// Starts from what the store holds.
    pub fn new(
        latest: Option<RecordedRun>,
        verdicts: Option<LatestVerdicts>,
        counts: HashMap<RunStatus, u64>,
    ) -> Self {
        Self {
            latest: RwLock::new(latest),
            verdicts: RwLock::new(verdicts),
            counts: Mutex::new(counts),
            ..Self::default()
        }
    }

    /// The newest successful run.
    pub fn latest(&self) -> Option<RecordedRun> {
        self.latest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A run reached the store: count it, and show it when it succeeded.
    pub fn recorded(&self, run: &RecordedRun) {
        *self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(run.row.status)
            .or_default() += 1;
        if run.row.status == RunStatus::Success {
            *self.latest.write().unwrap_or_else(PoisonError::into_inner) = Some(run.clone());
        }
    }

    /// Runs per outcome.
    pub fn counts(&self) -> HashMap<RunStatus, u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The newest verdicts.
    pub fn verdicts(&self) -> Option<LatestVerdicts> {
        self.verdicts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the newest verdicts.
    pub fn set_verdicts(&self, v: LatestVerdicts) {
        *self
            .verdicts
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(v);
    }

    /// The run in progress.
    pub fn running(&self) -> Option<RunningInfo> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets (or clears) the run in progress.
    pub fn set_running(&self, r: Option<RunningInfo>) {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = r;
    }

    /// Counts a metric collector's failure.
    pub fn collector_failed(&self, collector: &'static str) {
        *self
            .collector_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(collector)
            .or_default() += 1;
    }

    /// Collector failures by collector.
    pub fn collector_errors(&self) -> HashMap<&'static str, u64> {
        self.collector_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
