//! The noise guard's verdict on a run, as the bench report carries it.

use serde::{Deserialize, Serialize};

/// The noise guard's verdict on one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseVerdict {
    /// Average cores other processes kept busy during the run.
    pub other_busy_cores: f64,
    /// Limit above which the run counts as noisy.
    pub limit_cores: f64,
    /// Other processes that held the GPU during a CUDA run (any makes the run noisy).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub other_gpu_processes: Vec<u32>,
    /// `other_busy_cores > limit_cores`, or another process on the GPU.
    pub noisy: bool,
}

impl NoiseVerdict {
    /// Judges a measured interference level against a limit.
    pub fn judge(other_busy_cores: f64, limit_cores: f64) -> Self {
        Self {
            other_busy_cores,
            limit_cores,
            other_gpu_processes: Vec::new(),
            noisy: other_busy_cores > limit_cores,
        }
    }

    /// The verdict once other processes on the GPU are taken into account.
    pub fn with_gpu_processes(mut self, pids: Vec<u32>) -> Self {
        self.noisy |= !pids.is_empty();
        self.other_gpu_processes = pids;
        self
    }
}
