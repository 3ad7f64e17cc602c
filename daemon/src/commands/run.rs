//! `perfd run`: the daemon. Startup order: logging → configuration (bad config exits 64, naming
//! the key) → state directory and lock → history store → HTTP listener (address logged) →
//! `READY=1`. SIGTERM/SIGINT cancel the run in progress (recorded as cancelled) and drain; SIGHUP
//! reloads the configuration, keeping the old one if the new one is invalid.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::cli::RunArgs;
use crate::config::{self, Config, DEFAULT_CONFIG_PATH};
use crate::harness::host::HostFingerprint;
use crate::health::Problem;
use crate::http::routes::HttpContext;
use crate::metrics::gpu::GpuCollector;
use crate::state::DaemonState;
use crate::store::{Store, StoreError};
use crate::{http, scheduler, systemd, UsageError};

/// Time the scheduler gets to record the cancelled run after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// Sets up logging to stderr (journald under systemd); `PERFD_LOG` overrides the level.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PERFD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Fails only when a subscriber is already installed (tests that run commands in-process),
    // and then logs still go to that one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

/// The configuration file in use: `--config`, else the default path when it exists.
pub fn config_path(arg: Option<&Path>) -> Option<PathBuf> {
    match arg {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_CONFIG_PATH)).filter(|p| p.exists()),
    }
}

/// Loads the configuration, turning problems into a usage error (exit 64).
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => config::load_file(p).map_err(|e| UsageError(e.to_string()).into()),
        None => Ok(Config::default()),
    }
}

/// Holds an exclusive lock on the state directory for the daemon's lifetime.
fn lock_state_dir(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let path = crate::state_dir::lock_file(dir);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        if e == nix::errno::Errno::EWOULDBLOCK {
            anyhow::anyhow!(
                "another perfd is already running with state directory {}",
                dir.display()
            )
        } else {
            anyhow::anyhow!("cannot lock {}: {}", path.display(), e.desc())
        }
    })
}

/// Opens the history store. A damaged database (SQLite's quick check fails) is moved aside as
/// `history.sqlite.corrupt-UNIXTIME` and a fresh one is started, loudly: the daemon keeps
/// benchmarking, the old file stays for recovery (README: "A corrupt history database").
fn open_store(db: &Path) -> Result<Store> {
    match Store::open(db) {
        Err(StoreError::Corrupt { detail, .. }) => {
            let moved = Store::move_aside(db).with_context(|| {
                format!(
                    "history database {} is corrupt ({detail}) and cannot be moved aside",
                    db.display()
                )
            })?;
            tracing::error!(
                database = %db.display(),
                moved_to = %moved.display(),
                "history database is corrupt ({detail}); moved it aside and starting a new one"
            );
            Ok(Store::open(db)?)
        }
        other => Ok(other?),
    }
}

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(args: &RunArgs) -> Result<()> {
    init_logging();
    let path = config_path(args.config.as_deref());
    let config = load_config(path.as_deref())?;
    match &path {
        Some(p) => tracing::info!(config = %p.display(), "configuration loaded"),
        None => tracing::info!(
            "no configuration file: embedded default (benchmarking perfd's own kernels)"
        ),
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(serve(config, path))
}

async fn serve(config: Config, path: Option<PathBuf>) -> Result<()> {
    let state_dir = config.state_dir();
    if state_dir.exists() && !state_dir.is_dir() {
        anyhow::bail!(
            "state directory {} exists but is not a directory",
            state_dir.display()
        );
    }
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("create state directory {}", state_dir.display()))?;
    let _lock = lock_state_dir(&state_dir)?;
    let db = crate::state_dir::history_db(&state_dir);
    let store = open_store(&db)?;
    tracing::info!(database = %db.display(), "history store open");
    let listen = config.daemon.listen.clone();
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("bind {listen}"))?;
    let addr = listener.local_addr().context("listener address")?;
    tracing::info!(address = %addr, "serving /metrics, /healthz, /readyz, /api/v1/runs and / on http://{addr}");

    let host = HostFingerprint::detect();
    let state = Arc::new(DaemonState::new(config, path.clone(), store, host));
    // Before the scheduler starts a run of its own: report the one a dead daemon left behind.
    scheduler::record_interrupted(&state);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let ctx = Arc::new(HttpContext {
        state: state.clone(),
        gpu: GpuCollector::init(),
    });
    let http_task = tokio::spawn(http::server::serve(
        listener,
        ctx.clone(),
        shutdown_rx.clone(),
    ));
    let mut scheduler_task = tokio::spawn(scheduler::run_loop(state.clone(), shutdown_rx.clone()));
    let watchdog_task = tokio::spawn(systemd::watchdog(
        state.heartbeat.clone(),
        shutdown_rx.clone(),
    ));
    let outbox_task = tokio::spawn(crate::gates::outbox::run_worker(
        state.outbox.clone(),
        shutdown_rx.clone(),
    ));
    state.health.set_started();
    systemd::ready(&format!("serving on {addr}"));

    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("install SIGHUP handler")?;
    let mut scheduler_died = None;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break }
            _ = hup.recv() => reload(&state, path.as_deref()),
            joined = &mut scheduler_task => {
                // A daemon whose scheduler is gone must not look healthy: say why, stop, and let
                // systemd (Restart=on-failure) start a fresh one.
                let why = scheduler_death(joined);
                tracing::error!("{why}; perfd is exiting so that it can be restarted");
                state.health.fail(Problem::Scheduler, why.clone());
                scheduler_died = Some(why);
                break;
            }
        }
    }
    systemd::stopping();
    state.health.set_stopping();
    // Receivers may all be gone already (scheduler died); nothing then listens for the signal.
    let _ = shutdown_tx.send(true);
    if scheduler_died.is_none()
        && tokio::time::timeout(STOP_GRACE, scheduler_task)
            .await
            .is_err()
    {
        tracing::error!("scheduler did not stop within {} s", STOP_GRACE.as_secs());
    }
    // Both end by themselves on the shutdown signal (the HTTP side after draining); a task that
    // overruns is dropped with the runtime, and neither holds data that is not in the store.
    let _ = tokio::time::timeout(Duration::from_secs(6), http_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), outbox_task).await;
    watchdog_task.abort();
    if let Some(why) = scheduler_died {
        anyhow::bail!("{why}");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Why the scheduler task ended while the daemon was not stopping.
fn scheduler_death(joined: Result<(), tokio::task::JoinError>) -> String {
    match joined {
        Ok(()) => "the scheduler stopped unexpectedly".into(),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            format!("the scheduler panicked: {msg}")
        }
        Err(_) => "the scheduler task was cancelled".into(),
    }
}

fn reload(state: &DaemonState, path: Option<&Path>) {
    let Some(path) = path else {
        tracing::info!("SIGHUP: no configuration file to reload (embedded default)");
        return;
    };
    systemd::reloading();
    match config::load_file(path) {
        Ok(new) => {
            if new.daemon != state.config().daemon {
                tracing::warn!(
                    "[daemon] changes (listen address, state directory) take effect on restart"
                );
            }
            state.set_config(new);
            tracing::info!(config = %path.display(), "configuration reloaded");
            state.trigger.notify_one();
        }
        Err(e) => tracing::error!("SIGHUP: keeping the current configuration: {e}"),
    }
    systemd::ready("configuration reloaded");
}
