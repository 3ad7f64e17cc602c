//! `/metrics`: families built per scrape from the daemon's state and store (collector pattern,
//! like node_exporter; no live registry to keep in step), written as Prometheus text 0.0.4 by the
//! `prometheus` crate or as OpenMetrics 1.0 by `prometheus-client`, by content negotiation.

pub mod collect;
pub mod encode;
pub mod family;
pub mod gpu;
pub mod process;
pub mod tuning;
