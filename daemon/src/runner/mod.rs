//! Running benchmark steps as child processes: the generic supervised command (timeout, process
//! group kill, logs, cancellation), the noise watch, the git mainline and the harness report.

pub mod child_group;
pub mod child_process;
pub mod harness;
pub mod heartbeat;
pub mod mainline;
pub mod noise_watch;
pub mod run_failure;
pub mod run_marker;
