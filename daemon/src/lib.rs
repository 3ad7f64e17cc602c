//! perfd: benchmarks a BitNet b1.58 inference engine and reports honest, reproducible figures.
//!
//! The binary (`main.rs`) is a thin shell over these modules; integration tests and benches use them
//! directly.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod gates;
pub mod harness;
pub mod health;
pub mod http;
pub mod judge_queue;
pub mod metrics;
pub mod published;
pub mod report;
pub mod run;
pub mod runner;
pub mod scheduler;
pub mod state;
pub mod state_dir;
pub mod stats;
pub mod store;
pub mod store_spool;
pub mod systemd;
pub mod tune_queue;
pub mod tuner;
pub mod verdict;

/// A mistake in how perfd was invoked (bad flag value, bad parameter): exit status 64.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
