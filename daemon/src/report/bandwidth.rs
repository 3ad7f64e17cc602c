//! Memory bandwidth measured with a run, as the bench report carries it: STREAM copy and triad,
//! and read-only streaming (the roofline basis).

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

/// Bandwidth figures of one measurement, in bytes per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamBandwidth {
    /// Threads used (same as the kernels).
    pub threads: usize,
    /// Size of each of the three arrays.
    pub array_bytes: u64,
    /// `c[i] = a[i]`.
    pub copy: Summary,
    /// `a[i] = b[i] + s·c[i]`.
    pub triad: Summary,
    /// `Σ a[i]`: read-only streaming, the access pattern of a GEMV.
    pub read: Summary,
    /// How the read pass loaded ([`READ_PASS`] in reports of this version). Reports written before
    /// the field used 16-byte loads without prefetch (`sum-sse2`), which read slower on some
    /// hosts: figures per read bandwidth are only comparable within one read pass.
    #[serde(default = "legacy_read_pass")]
    pub read_pass: String,
}

/// The read pass of this version: the widest loads the CPU has, without software prefetch and
/// with each prefetch hint the kernels use by default (L2, L2 + L1, non-temporal), the fastest
/// per round. Reports before the non-temporal pattern say `widest-loads-best-of-prefetch`.
pub const READ_PASS: &str = "widest-loads-best-of-prefetch-nta";

fn legacy_read_pass() -> String {
    "sum-sse2".into()
}

impl StreamBandwidth {
    /// The STREAM figure: the better of copy and triad medians. It counts written bytes too, so
    /// it is not the roofline of a workload that only reads (on some hosts copy is 2x read).
    pub fn stream_bytes_per_second(&self) -> f64 {
        self.copy.median.max(self.triad.median)
    }

    /// The best read-only figure of the run: what a GEMV or a decode step (which only read
    /// weights) can at most stream. Roofline ratios divide by it.
    pub fn read_bytes_per_second(&self) -> f64 {
        self.read
            .samples
            .iter()
            .copied()
            .fold(self.read.median, f64::max)
    }
}
