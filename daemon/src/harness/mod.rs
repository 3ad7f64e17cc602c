//! The harness: the child side of the harness protocol (`perfd bench`), everything that runs
//! inside a benchmark process — the kernel and model suites, STREAM bandwidth, kernel and model
//! timing, synthetic model files, the host fingerprint and noise measurement, and the report's
//! human form. The daemon runs it as a child and reads its report.

pub mod backend;
pub mod cuda_kernel_suite;
pub mod cuda_model_suite;
pub mod cuda_support;
pub mod host;
pub mod human;
pub mod kernel_bench;
pub mod kernel_suite;
pub mod model_bench;
pub mod model_cache;
pub mod model_suite;
pub mod peer;
pub mod stream_bandwidth;
pub mod support;
