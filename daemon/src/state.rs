//! What the scheduler knows and the HTTP side shows: configuration, store, latest results,
//! run counters, readiness and the scheduler's heartbeat.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::Notify;

use crate::config::Config;
use crate::gates::outbox_handle::Outbox;
use crate::harness::host::HostFingerprint;
use crate::health::Health;
pub use crate::published::{LatestVerdicts, Published, RunningInfo};
use crate::report::BenchReport;
use crate::run::{RecordedRun, RunRow};
use crate::runner::heartbeat::Heartbeat;
use crate::store::{Store, StoreHandle};

/// State shared by the scheduler, the HTTP server and the signal handlers.
#[derive(Debug)]
pub struct DaemonState {
    /// Current configuration (replaced on SIGHUP through `set_config`).
    config: RwLock<Config>,
    /// File the configuration came from (None: embedded default).
    pub config_path: Option<PathBuf>,
    /// The history database.
    pub store: StoreHandle,
    /// This host.
    pub host: HostFingerprint,
    /// Readiness by cause (store writable, scheduler alive, startup done).
    pub health: Arc<Health>,
    /// Scheduler progress for the watchdog.
    pub heartbeat: Heartbeat,
    /// Wakes the scheduler for an immediate tick (coalesced while a run is going).
    pub trigger: Notify,
    /// The newest run, verdicts and counters, for `/metrics`, the API and the status page.
    pub published: Published,
    /// The gate outbox (shared with its worker).
    pub outbox: Arc<Outbox>,
    /// Stored runs whose judgement failed, judged again at the next tick.
    pub unjudged: crate::judge_queue::JudgeQueue,
    /// Finished runs the store could not take yet.
    pub spool: crate::store_spool::Spool,
    /// The run in progress, on disk (for crash reporting at the next start).
    pub marker: crate::runner::run_marker::RunMarker,
    /// Tuning jobs waiting for the scheduler.
    pub tune_queue: crate::tune_queue::TuneQueue,
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
        let verdicts = verdicts_from_store(&store);
        let state_dir = config.state_dir();
        let store = StoreHandle::new(store);
        let health = Arc::new(Health::default());
        let outbox = Arc::new(Outbox::new(
            store.clone(),
            health.clone(),
            config.github.clone(),
        ));
        Self {
            unjudged: crate::judge_queue::JudgeQueue::default(),
            tune_queue: crate::tune_queue::TuneQueue::default(),
            spool: crate::store_spool::Spool::new(crate::state_dir::spool(&state_dir)),
            marker: crate::runner::run_marker::RunMarker::new(&state_dir),
            config: RwLock::new(config),
            config_path,
            store,
            host,
            health,
            heartbeat: Heartbeat::default(),
            trigger: Notify::new(),
            published: Published::new(latest, verdicts, counts),
            outbox,
        }
    }

    /// A copy of the current configuration.
    pub fn config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the configuration (SIGHUP); the outbox posts with the new `[github]`.
    pub fn set_config(&self, new: Config) {
        self.outbox.set_github(new.github.clone());
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = new;
    }

    /// Counts a collector failure.
    pub fn count_collector_error(&self, collector: &'static str) {
        self.published.collector_failed(collector);
    }
}

/// The newest successful run with its parsed reports.
pub fn latest_from_store(store: &Store) -> Option<RecordedRun> {
    let row = store.last_success().ok().flatten()?;
    recorded_from_store(store, row)
}

/// A stored run with its reports read back from the store (a run judged after a restart, a
/// retry or the spool; a freshly recorded run carries its reports as a value instead).
pub fn recorded_from_store(store: &Store, row: RunRow) -> Option<RecordedRun> {
    let (report, kernels) = stored_reports(store, row.id)?;
    Some(RecordedRun {
        row,
        report,
        kernels,
    })
}

/// The parsed model and kernel reports of stored run `id`.
pub fn stored_reports(
    store: &Store,
    id: i64,
) -> Option<(Option<BenchReport>, Option<BenchReport>)> {
    let (report, kernels) = store.reports(id).ok()?;
    let parse = |s: Option<String>| s.and_then(|j| serde_json::from_str::<BenchReport>(&j).ok());
    Some((parse(report), parse(kernels)))
}

/// The verdicts of the newest run that has any, so /metrics is complete after a restart.
pub fn verdicts_from_store(store: &Store) -> Option<LatestVerdicts> {
    let runs = store.runs(20).ok()?;
    let v = runs
        .iter()
        .find_map(|r| store.verdicts(r.id).ok().flatten())?;
    Some(LatestVerdicts {
        regression_ratio: v.regression.as_ref().map(|a| {
            (
                a.metric.clone(),
                v.ab.as_ref().map_or(a.ratio, |x| x.median_ratio),
            )
        }),
        confirmed_regression: v.confirmed_regression,
        gates: v
            .gates
            .iter()
            .map(|g| (g.name.clone(), g.conclusion))
            .collect(),
        slos: v.slo,
    })
}
