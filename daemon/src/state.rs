//! What the scheduler knows and the HTTP side shows: configuration, store, latest results,
//! run counters, readiness and the scheduler's heartbeat.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, RwLock};

use tokio::sync::Notify;

use crate::config::Config;
use crate::host::HostFingerprint;
use crate::report::BenchReport;
use crate::runner::heartbeat::Heartbeat;
use crate::store::{RunRow, RunStatus, Store};

/// The newest successful run and its reports.
#[derive(Debug, Clone)]
pub struct LatestRun {
    /// The stored row.
    pub row: RunRow,
    /// The model report, when the harness produced one.
    pub report: Option<BenchReport>,
    /// The kernel report, when one was run.
    pub kernels: Option<BenchReport>,
}

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

/// State shared by the scheduler, the HTTP server and the signal handlers.
#[derive(Debug)]
pub struct DaemonState {
    /// Current configuration (replaced on SIGHUP).
    pub config: RwLock<Config>,
    /// File the configuration came from (None: embedded default).
    pub config_path: Option<PathBuf>,
    /// The history database.
    pub store: Mutex<Store>,
    /// This host.
    pub host: HostFingerprint,
    /// Startup finished (config, store, listener).
    pub ready: AtomicBool,
    /// Scheduler progress for the watchdog.
    pub heartbeat: Heartbeat,
    /// Wakes the scheduler for an immediate tick (coalesced while a run is going).
    pub trigger: Notify,
    /// Newest successful run.
    pub latest: RwLock<Option<LatestRun>>,
    /// Runs per outcome since the database was created.
    pub counts: Mutex<HashMap<RunStatus, u64>>,
    /// The run in progress.
    pub running: Mutex<Option<RunningInfo>>,
    /// Metric collector failures by collector name.
    pub collector_errors: Mutex<HashMap<&'static str, u64>>,
}

impl DaemonState {
    /// Builds the state, loading counters and the latest successful run from the store.
    pub fn new(
        config: Config,
        config_path: Option<PathBuf>,
        store: Store,
        host: HostFingerprint,
    ) -> Self {
        let counts = store
            .counts_by_status()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let latest = latest_from_store(&store);
        Self {
            config: RwLock::new(config),
            config_path,
            store: Mutex::new(store),
            host,
            ready: AtomicBool::new(false),
            heartbeat: Heartbeat::default(),
            trigger: Notify::new(),
            latest: RwLock::new(latest),
            counts: Mutex::new(counts),
            running: Mutex::new(None),
            collector_errors: Mutex::new(HashMap::new()),
        }
    }

    /// A copy of the current configuration.
    pub fn config(&self) -> Config {
        self.config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Counts a collector failure.
    pub fn count_collector_error(&self, collector: &'static str) {
        if let Ok(mut m) = self.collector_errors.lock() {
            *m.entry(collector).or_default() += 1;
        }
    }
}

/// The newest successful run with its parsed reports.
pub fn latest_from_store(store: &Store) -> Option<LatestRun> {
    let row = store.last_success().ok().flatten()?;
    let (report, kernels) = store.reports(row.id).ok()?;
    let parse = |s: Option<String>| s.and_then(|j| serde_json::from_str::<BenchReport>(&j).ok());
    Some(LatestRun {
        report: parse(report),
        kernels: parse(kernels),
        row,
    })
}
