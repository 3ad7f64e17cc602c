//! Failed GitHub posts by kind (`gate`, `ledger`), for `bitnet_gate_post_failures_total`: the
//! outbox retries them, and this counter shows an operator that it has to.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of failed posts (a handle: the counters are private).
#[derive(Debug, Default)]
pub struct PostFailures {
    gate: AtomicU64,
    ledger: AtomicU64,
}

impl PostFailures {
    /// Counts one failed post of `kind`.
    pub fn record(&self, kind: &str) {
        let counter = if kind == "ledger" {
            &self.ledger
        } else {
            &self.gate
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// (kind, failures) for every kind.
    pub fn snapshot(&self) -> [(&'static str, u64); 2] {
        [
            ("gate", self.gate.load(Ordering::Relaxed)),
            ("ledger", self.ledger.load(Ordering::Relaxed)),
        ]
    }
}
