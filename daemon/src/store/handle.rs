//! The history store as shared state: one SQLite connection behind a lock, reached through this
//! handle (like mini-redis's `Db`). Lock poisoning is handled here, once: every write is a single
//! SQLite transaction, so a caller that panicked while holding the lock left the database
//! consistent, and the next caller takes the lock over instead of failing.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::Store;

/// A shared, cloneable handle to the history store.
#[derive(Debug, Clone)]
pub struct StoreHandle(Arc<Mutex<Store>>);

impl StoreHandle {
    /// Shares `store`.
    pub fn new(store: Store) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    /// Exclusive use of the store until the guard is dropped (keep it short: the HTTP side waits).
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` with the store.
    pub fn with<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.lock())
    }
}
