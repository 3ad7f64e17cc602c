//! Verdicts on a run: absolute SLOs and regression against a baseline (with interleaved A/B
//! confirmation). Each keeps its evidence.

pub mod ab_confirm;
pub mod regression;
pub mod slo;
