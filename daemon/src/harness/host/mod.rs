//! What the benchmark ran on: hardware fingerprint and interference from other processes.

pub mod fingerprint;
pub mod gpu_telemetry;
pub mod memory;
pub mod noise;
pub mod rss;

pub use fingerprint::HostFingerprint;
