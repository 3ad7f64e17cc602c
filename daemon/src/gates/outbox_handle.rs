//! The gate outbox as shared state: what the scheduler queues gates through and the worker posts
//! from — the store, the worker's wake-up, the GitHub configuration in force (replaced on
//! reload), post failure counters, and readiness to report a store that cannot record progress.
//! Gates take this handle, not the daemon's whole state.

use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::Notify;

use super::post_failures::PostFailures;
use crate::config::GithubSection;
use crate::health::Health;
use crate::store::StoreHandle;

/// The outbox's shared pieces.
#[derive(Debug)]
pub struct Outbox {
    store: StoreHandle,
    health: Arc<Health>,
    github: RwLock<Option<GithubSection>>,
    failures: PostFailures,
    wake: Notify,
}

impl Outbox {
    /// An outbox over `store`, posting with `github` (None: dry run).
    pub fn new(store: StoreHandle, health: Arc<Health>, github: Option<GithubSection>) -> Self {
        Self {
            store,
            health,
            github: RwLock::new(github),
            failures: PostFailures::default(),
            wake: Notify::new(),
        }
    }

    /// The history store the entries live in.
    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    /// Readiness, for store failures while recording progress.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The GitHub configuration in force.
    pub fn github(&self) -> Option<GithubSection> {
        // A reader cannot leave the value half-written: a poisoned lock still holds a whole one.
        self.github
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the GitHub configuration (configuration reload).
    pub fn set_github(&self, github: Option<GithubSection>) {
        *self.github.write().unwrap_or_else(PoisonError::into_inner) = github;
    }

    /// Wakes the worker: something was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when the worker is woken.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Failed posts by kind.
    pub fn failures(&self) -> &PostFailures {
        &self.failures
    }
}
