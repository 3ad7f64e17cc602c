//! Robust statistics over benchmark samples.

pub mod summary;

pub use summary::Summary;
