//! [`TuneMemory`] kept in the history store, so a restarted job resumes where it stopped. A store
//! that cannot write costs only resumability: the job goes on and says so once.

use super::guard::GuardReport;
use super::memory::TuneMemory;
use super::space::Candidate;
use crate::store::Store;

/// Memory in the store, under one scope (host, model, objective, perfd build).
pub struct StoreMemory<'a> {
    store: &'a Store,
    scope: String,
    warned: bool,
}

impl<'a> StoreMemory<'a> {
    /// Memory of `scope` in `store`.
    pub fn new(store: &'a Store, scope: String) -> Self {
        Self {
            store,
            scope,
            warned: false,
        }
    }

    fn warn(&mut self, e: &dyn std::fmt::Display) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(error = %e, "the tuner cannot use the history store; this job will not be resumable");
        }
    }
}

/// The scope of a job's memory: measurements of another host, model, objective or perfd build
/// say nothing about this one.
pub fn scope(host: &str, model: &str, objective: &str) -> String {
    format!("{host}|{model}|{objective}|{}", env!("PERFD_GIT_COMMIT"))
}

impl TuneMemory for StoreMemory<'_> {
    fn guard(&mut self, c: &Candidate) -> Option<GuardReport> {
        match self.store.tuning_guard(&self.scope, &c.to_string()) {
            Ok(j) => j.and_then(|j| serde_json::from_str(&j).ok()),
            Err(e) => {
                self.warn(&e);
                None
            }
        }
    }

    fn keep_guard(&mut self, c: &Candidate, report: &GuardReport) {
        let result = serde_json::to_string(report)
            .map_err(|e| e.to_string())
            .and_then(|j| {
                self.store
                    .put_tuning_guard(
                        &self.scope,
                        &c.to_string(),
                        report.pass,
                        &j,
                        crate::clock::unix_now(),
                    )
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = result {
            self.warn(&e);
        }
    }

    fn pairs(&mut self, incumbent: &Candidate, candidate: &Candidate) -> Vec<(f64, f64)> {
        match self
            .store
            .tuning_pairs(&self.scope, &incumbent.to_string(), &candidate.to_string())
        {
            Ok(p) => p,
            Err(e) => {
                self.warn(&e);
                Vec::new()
            }
        }
    }

    fn keep_pair(&mut self, incumbent: &Candidate, candidate: &Candidate, pair: (f64, f64)) {
        if let Err(e) = self.store.put_tuning_pair(
            &self.scope,
            &incumbent.to_string(),
            &candidate.to_string(),
            pair,
        ) {
            self.warn(&e);
        }
    }
}
