//! Measurements: STREAM bandwidth and I2_S kernel throughput (the `perfd bench --kernels` harness).

pub mod kernel_bench;
pub mod stream_bandwidth;
