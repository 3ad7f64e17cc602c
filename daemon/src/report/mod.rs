//! The harness protocol's document: `bitnet-perfd/bench-report/v1` (DESIGN §5).

pub mod bandwidth;
pub mod bench_report;
pub mod gpu;
pub mod host;
pub mod kernel_result;
pub mod llama_bench;
pub mod noise;
pub mod phase;
pub mod tracked_metric;

pub use bench_report::{BenchReport, SCHEMA};
pub use phase::{Phase, PhaseResult};
pub use tracked_metric::TrackedMetric;
