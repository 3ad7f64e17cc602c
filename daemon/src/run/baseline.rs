//! A past run as the baseline sees it: its commit and the metric's median and samples.

use serde::{Deserialize, Serialize};

/// A past run in the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineRun {
    /// Run id.
    pub run_id: i64,
    /// Commit.
    pub commit: String,
    /// Median of the metric in that run.
    pub median: f64,
    /// Per-repetition samples of the metric.
    #[serde(skip)]
    pub samples: Vec<f64>,
}
