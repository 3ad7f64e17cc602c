//! Robust statistics over benchmark samples: summaries, rank tests, bootstrap intervals and
//! change-point detection.

pub mod autocorr;
pub mod bootstrap;
pub mod change_point;
pub mod mann_whitney;
pub mod summary;
pub mod winsorized;

pub use summary::{median, Summary};
