//! `bitnet-perfd/bench-report/v1`: the one JSON document a harness prints on stdout.
//!
//! Every figure in it was measured in the run it describes; sections that were not asked for are
//! absent (never zero-filled).

use serde::{Deserialize, Serialize};

use crate::bench::kernel_bench::KernelResult;
use crate::bench::stream_bandwidth::StreamBandwidth;
use crate::host::noise::NoiseVerdict;
use crate::host::HostFingerprint;

/// Schema id of the report.
pub const SCHEMA: &str = "bitnet-perfd/bench-report/v1";

/// Versions of what produced the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolVersions {
    /// perfd version.
    pub perfd: String,
    /// rustc that built it.
    pub rustc: String,
    /// Build profile (`release` or `debug`: debug figures are not comparable).
    pub profile: String,
}

impl ToolVersions {
    /// The versions of this binary.
    pub fn current() -> Self {
        Self {
            perfd: env!("CARGO_PKG_VERSION").to_string(),
            rustc: env!("PERFD_RUSTC_VERSION").to_string(),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_string(),
        }
    }
}

/// One kernel configuration's cross-validation against the scalar reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossvalSummary {
    /// Check name, e.g. `i2s_gemv_avx2`.
    pub check: String,
    /// Configuration checked.
    pub params: String,
    /// Shapes checked (`MxKxN`).
    pub shapes: Vec<String>,
    /// i32 accumulators differing from the reference, over all shapes.
    pub i32_mismatches: usize,
    /// Largest absolute f32 error.
    pub max_abs_err: f64,
    /// Largest relative f32 error.
    pub max_rel_err: f64,
    /// Largest NMSE over the shapes.
    pub max_nmse: f64,
    /// All checks passed.
    pub pass: bool,
}

/// The harness report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Commit of the code measured (the harness's own build for the embedded default).
    pub commit: String,
    /// RFC 3339 UTC time the run started.
    pub timestamp: String,
    /// Hardware.
    pub host: HostFingerprint,
    /// What was run: `kernels` (this report) or a model benchmark.
    pub suite: String,
    /// Configuration requested (`k=v,...`); per-result params say what each run used.
    pub params: String,
    /// Kernel ids actually executed.
    pub kernel_ids: Vec<String>,
    /// Per-kernel results.
    pub kernels: Vec<KernelResult>,
    /// Memory bandwidth measured in the same run.
    pub memory_bandwidth: StreamBandwidth,
    /// Cross-validation results, when asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crossval: Option<Vec<CrossvalSummary>>,
    /// Interference from other processes during the run.
    pub noise: NoiseVerdict,
    /// Tool versions.
    pub tools: ToolVersions,
}
