//! The outbox worker: posts queued gates and ledger updates, oldest first; a failure is recorded
//! and retried with backoff (rate limits wait for the reset); without credentials, or with
//! `dry_run`, entries are recorded as what would have been posted.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::client::{self, GateMode, GithubClient};
use super::decide::GateOutcome;
use super::outbox_handle::Outbox;
use super::{check_runs, ledger, pull_request, statuses};
use crate::clock::unix_now;
use crate::config::GithubSection;
use crate::store::{OutboxEntry, OutboxState};

/// Entries handled per round.
const BATCH: usize = 20;
/// Poll period when nothing wakes the worker.
const POLL: Duration = Duration::from_secs(5);

/// Payload of a ledger entry.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LedgerPost {
    /// Issue or pull request number.
    pub issue: u64,
    /// Section between the anchors.
    pub section: String,
}

/// What the worker keeps between rounds: the client and the configuration it was built from
/// (rebuilt when the config changes), and until when GitHub asked us to send nothing.
#[derive(Default)]
pub struct Poster {
    client: Option<(GithubSection, Option<Arc<GithubClient>>)>,
    paused_until: f64,
}

impl Poster {
    fn client_for(
        &mut self,
        cfg: &GithubSection,
    ) -> Result<Option<Arc<GithubClient>>, client::GateError> {
        if let Some((c, built)) = &self.client {
            if c == cfg {
                return Ok(built.clone());
            }
        }
        let built = client::build(cfg)?.map(Arc::new);
        if built.is_none() {
            tracing::info!(repository = %cfg.repository, "no GitHub credentials configured: gates are recorded as a dry run");
        }
        self.client = Some((cfg.clone(), built.clone()));
        Ok(built)
    }

    /// Seconds GitHub still wants us to wait (0 when posting may go on).
    pub fn paused_for(&self, now: f64) -> f64 {
        (self.paused_until - now).max(0.0)
    }
}

/// Logs and counts a failed outbox write. The entry stays as it was (pending), so it is posted
/// again later; the posts are idempotent (found by name, sha and external id, then updated).
fn note_store<T>(outbox: &Outbox, result: Result<T, crate::store::StoreError>, what: &str) {
    if let Err(e) = result {
        tracing::error!(error = %e, "cannot record {what} in the gate outbox; it will be retried");
        outbox
            .health()
            .store_failed(format!("the history store failed on the gate outbox: {e}"));
    }
}

async fn post(c: &GithubClient, e: &OutboxEntry) -> Result<u64, client::GateError> {
    let bad = |what: &str| client::GateError::Client {
        status: 0,
        message: format!("stored {what} payload is unreadable"),
    };
    match e.kind.as_str() {
        "gate" => {
            let g: GateOutcome =
                serde_json::from_value(e.payload.clone()).map_err(|_| bad("gate"))?;
            match c.mode {
                GateMode::CheckRuns => check_runs::upsert(c, &g).await,
                GateMode::Statuses => statuses::post(c, &g).await,
            }
        }
        "ledger" => {
            let l: LedgerPost =
                serde_json::from_value(e.payload.clone()).map_err(|_| bad("ledger"))?;
            ledger::update(c, l.issue, &l.section).await
        }
        "pull_request" => {
            let p: pull_request::ProfileProposal =
                serde_json::from_value(e.payload.clone()).map_err(|_| bad("pull request"))?;
            pull_request::propose(c, &p).await
        }
        other => Err(bad(other)),
    }
}

/// Handles the entries due now; returns how many were handled. After a rate limit nothing is
/// sent to GitHub until the time it asked for has passed, and the entries keep their order.
pub async fn process_due(outbox: &Outbox, poster: &mut Poster) -> usize {
    let now = unix_now();
    if poster.paused_for(now) > 0.0 {
        return 0;
    }
    let due = match outbox.store().lock().due(now, BATCH) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the gate outbox");
            return 0;
        }
    };
    if due.is_empty() {
        return 0;
    }
    let cfg = outbox.github();
    let client = match cfg.as_ref().filter(|g| !g.dry_run) {
        None => None,
        Some(g) => match poster.client_for(g) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the GitHub client; gates stay queued");
                {
                    let s = outbox.store().lock();
                    for d in &due {
                        let failed = s.outbox_failed(
                            d.id,
                            &e.to_string(),
                            now + e.backoff_secs(d.attempts) as f64,
                        );
                        note_store(outbox, failed, "a failed attempt");
                    }
                }
                return due.len();
            }
        },
    };
    let mut handled = 0;
    for e in &due {
        handled += 1;
        let result = match &client {
            None => {
                tracing::info!(kind = %e.kind, name = %e.name, commit = %e.commit, payload = %e.payload, "dry run: recorded instead of posted");
                Ok(None)
            }
            Some(c) => post(c, e).await.map(Some),
        };
        let store = outbox.store().lock();
        match result {
            Ok(None) => {
                let done = store.outbox_done(e.id, OutboxState::DryRun, None, unix_now());
                note_store(outbox, done, "a dry-run entry");
            }
            Ok(Some(id)) => {
                tracing::info!(kind = %e.kind, name = %e.name, commit = %e.commit, remote_id = id, "posted to GitHub");
                let done =
                    store.outbox_done(e.id, OutboxState::Posted, Some(&id.to_string()), unix_now());
                note_store(outbox, done, "a posted entry");
            }
            Err(err) => {
                outbox.failures().record(&e.kind);
                let wait = err.backoff_secs(e.attempts);
                tracing::warn!(kind = %e.kind, name = %e.name, commit = %e.commit, attempt = e.attempts + 1, retry_in_secs = wait, error = %err, "GitHub post failed; will retry");
                let failed = store.outbox_failed(e.id, &err.to_string(), unix_now() + wait as f64);
                note_store(outbox, failed, "a failed attempt");
                if let client::GateError::RateLimited { retry_after_secs } = err {
                    // A rate limit is the host's, not this entry's: every post waits.
                    poster.paused_until = unix_now() + retry_after_secs as f64;
                    break;
                }
            }
        }
    }
    handled
}

/// Runs until shutdown, handling due entries when woken or every few seconds.
pub async fn run_worker(outbox: Arc<Outbox>, mut shutdown: watch::Receiver<bool>) {
    let mut poster = Poster::default();
    loop {
        while process_due(&outbox, &mut poster).await == BATCH {}
        // Wake at the end of a rate-limit pause rather than a whole poll period later.
        let paused = poster.paused_for(unix_now());
        let wait = if paused > 0.0 {
            Duration::from_secs_f64(paused).min(POLL)
        } else {
            POLL
        };
        tokio::select! {
            _ = outbox.woken() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => if *shutdown.borrow() { return },
        }
    }
}
