//! What the scheduler knows and the HTTP side shows: configuration, store, latest results,
//! run counters, readiness and the scheduler's heartbeat.

use std::collections::HashMap;
use std::path::PathBuf;
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
    /// Readiness by cause (store writable, scheduler alive, startup done).
    pub health: crate::health::Health,
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
    /// Wakes the gate outbox worker.
    pub outbox_wake: Notify,
    /// Verdicts of the newest judged run (for /metrics).
    pub verdicts: RwLock<Option<LatestVerdicts>>,
    /// GitHub posts that failed, by kind.
    pub gate_failures: crate::gates::post_failures::PostFailures,
    /// Stored runs whose judgement failed, judged again at the next tick.
    pub unjudged: crate::judge_queue::JudgeQueue,
    /// Finished runs the store could not take yet.
    pub spool: crate::store_spool::Spool,
    /// The run in progress, on disk (for crash reporting at the next start).
    pub marker: crate::runner::run_marker::RunMarker,
    /// Tuning jobs waiting for the scheduler.
    pub tune_queue: crate::tune_queue::TuneQueue,
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
        Self {
            unjudged: crate::judge_queue::JudgeQueue::default(),
            tune_queue: crate::tune_queue::TuneQueue::default(),
            gate_failures: Default::default(),
            spool: crate::store_spool::Spool::new(state_dir.join("spool")),
            marker: crate::runner::run_marker::RunMarker::new(&state_dir),
            config: RwLock::new(config),
            config_path,
            store: Mutex::new(store),
            host,
            health: crate::health::Health::default(),
            heartbeat: Heartbeat::default(),
            trigger: Notify::new(),
            latest: RwLock::new(latest),
            counts: Mutex::new(counts),
            running: Mutex::new(None),
            collector_errors: Mutex::new(HashMap::new()),
            outbox_wake: Notify::new(),
            verdicts: RwLock::new(verdicts),
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
    let (report, kernels) = stored_reports(store, row.id)?;
    Some(LatestRun {
        report,
        kernels,
        row,
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
    let slos = v
        .slo
        .and_then(|j| serde_json::from_value(j).ok())
        .unwrap_or_default();
    let regression_ratio = v.regression.as_ref().and_then(|r| {
        Some((
            r.get("metric")?.as_str()?.to_string(),
            r.get("ratio")?.as_f64()?,
        ))
    });
    let ab_ratio = v.ab.as_ref().and_then(|a| a.get("median_ratio")?.as_f64());
    let gates: Vec<crate::gates::GateOutcome> = v
        .gates
        .and_then(|j| serde_json::from_value(j).ok())
        .unwrap_or_default();
    Some(LatestVerdicts {
        slos,
        regression_ratio: regression_ratio.map(|(m, r)| (m, ab_ratio.unwrap_or(r))),
        confirmed_regression: v.confirmed_regression,
        gates: gates.into_iter().map(|g| (g.name, g.conclusion)).collect(),
    })
}
