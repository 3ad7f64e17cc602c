//! What the tuner has already learnt, so a restarted job does not measure again: guard reports
//! per candidate and timed pairs per (incumbent, candidate). The daemon keeps it in the store,
//! keyed by host, model, objective and engine build; benches keep it in memory.

use std::collections::HashMap;

use super::guard::GuardReport;
use super::space::Candidate;

/// Evaluations already made.
pub trait TuneMemory {
    /// The stored guard report of `c`.
    fn guard(&mut self, c: &Candidate) -> Option<GuardReport>;
    /// Keeps the guard report of `c`.
    fn keep_guard(&mut self, c: &Candidate, report: &GuardReport);
    /// Stored `(incumbent, candidate)` value pairs, in measurement order.
    fn pairs(&mut self, incumbent: &Candidate, candidate: &Candidate) -> Vec<(f64, f64)>;
    /// Keeps one more pair.
    fn keep_pair(&mut self, incumbent: &Candidate, candidate: &Candidate, pair: (f64, f64));
}

/// Memory that lasts as long as the process.
#[derive(Debug, Default)]
pub struct InMemory {
    guards: HashMap<Candidate, GuardReport>,
    pairs: HashMap<(Candidate, Candidate), Vec<(f64, f64)>>,
}

impl TuneMemory for InMemory {
    fn guard(&mut self, c: &Candidate) -> Option<GuardReport> {
        self.guards.get(c).cloned()
    }
    fn keep_guard(&mut self, c: &Candidate, report: &GuardReport) {
        self.guards.insert(c.clone(), report.clone());
    }
    fn pairs(&mut self, incumbent: &Candidate, candidate: &Candidate) -> Vec<(f64, f64)> {
        self.pairs
            .get(&(incumbent.clone(), candidate.clone()))
            .cloned()
            .unwrap_or_default()
    }
    fn keep_pair(&mut self, incumbent: &Candidate, candidate: &Candidate, pair: (f64, f64)) {
        self.pairs
            .entry((incumbent.clone(), candidate.clone()))
            .or_default()
            .push(pair);
    }
}
