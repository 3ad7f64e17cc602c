//! Stored runs whose judgement failed (the store could not be read or written): judged again at
//! the next tick instead of being left without verdicts or gates.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

/// Run ids waiting to be judged (a handle: the set is private).
#[derive(Debug, Default)]
pub struct JudgeQueue {
    ids: Mutex<BTreeSet<i64>>,
}

impl JudgeQueue {
    /// Judge `id` again later.
    pub fn retry(&self, id: i64) {
        // Single inserts and takes: a poisoned set is still consistent.
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }

    /// Every waiting id, oldest first; the queue is left empty.
    pub fn take(&self) -> Vec<i64> {
        std::mem::take(&mut *self.ids.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .collect()
    }
}
