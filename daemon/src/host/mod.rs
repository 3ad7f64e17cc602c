//! What the benchmark ran on: hardware fingerprint and interference from other processes.

pub mod fingerprint;
pub mod noise;

pub use fingerprint::HostFingerprint;
