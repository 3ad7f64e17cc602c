//! A run that reached the store, with the reports it produced: what the tick hands to judging and
//! what `/metrics` shows as the latest result. Reports are parsed once, when the run is recorded
//! (or, for a run judged later, read back once from the store).

use crate::report::BenchReport;

use super::RunRow;

/// A stored run and its parsed reports.
#[derive(Debug, Clone)]
pub struct RecordedRun {
    /// The stored row.
    pub row: RunRow,
    /// The model report, when the harness produced one.
    pub report: Option<BenchReport>,
    /// The kernel report, when one was run.
    pub kernels: Option<BenchReport>,
}
