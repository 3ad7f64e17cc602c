//! Verdicts on a run: absolute SLOs and regression against a baseline (with interleaved A/B
//! confirmation), and the gates' conclusions. Each keeps its evidence.

pub mod ab_confirm;
pub mod ab_metric;
pub mod ab_session;
pub mod gate;
pub mod regression;
pub mod slo;
