//! The noise guard's verdict on a run, as the bench report carries it.

use serde::{Deserialize, Serialize};

/// The noise guard's verdict on one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseVerdict {
    /// Average cores other processes kept busy during the run.
    pub other_busy_cores: f64,
    /// Limit above which the run counts as noisy.
    pub limit_cores: f64,
    /// `other_busy_cores > limit_cores`.
    pub noisy: bool,
}

impl NoiseVerdict {
    /// Judges a measured interference level against a limit.
    pub fn judge(other_busy_cores: f64, limit_cores: f64) -> Self {
        Self {
            other_busy_cores,
            limit_cores,
            noisy: other_busy_cores > limit_cores,
        }
    }
}
