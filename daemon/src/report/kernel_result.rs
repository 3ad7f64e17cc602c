//! One kernel measurement as the bench report carries it.

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

/// Where the weights live during the measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Residency {
    /// One matrix, repeated: it stays in the last-level cache.
    Cache,
    /// Distinct matrices totalling several times the LLC: every read comes from DRAM.
    Dram,
}

impl Residency {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Residency::Cache => "cache",
            Residency::Dram => "dram",
        }
    }
}

/// One kernel × shape × residency measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelResult {
    /// Stable kernel id (e.g. `i2s_gemv_avx512vnni`).
    pub kernel_id: String,
    /// Configuration it ran with, `k=v,...`.
    pub params: String,
    /// Output rows (M).
    pub rows: usize,
    /// Input columns (K).
    pub cols: usize,
    /// Tokens per call (1 = GEMV).
    pub tokens: usize,
    /// Cache-resident or DRAM-streaming.
    pub residency: Residency,
    /// Distinct weight matrices cycled through.
    pub matrices: usize,
    /// Bytes of all of them.
    pub working_set_bytes: u64,
    /// Bytes one call reads or writes: packed weights + int8 activations + f32 outputs.
    pub bytes_per_op: u64,
    /// Nanoseconds per call.
    pub ns_per_op: Summary,
    /// Effective bandwidth per sample, bytes/s.
    pub bytes_per_second: Summary,
    /// Median calls per second.
    pub ops_per_second: f64,
    /// Median bandwidth ÷ the best read-only bandwidth measured in the same run (a GEMV only
    /// reads its weights; set once it is known).
    pub roofline_ratio: Option<f64>,
}
