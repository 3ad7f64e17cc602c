//! Measurements: STREAM bandwidth, I2_S kernel throughput and model tokens/sec.

pub mod kernel_bench;
pub mod model_bench;
pub mod model_cache;
pub mod stream_bandwidth;
