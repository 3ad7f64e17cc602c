//! `/metrics`: families built per scrape from the daemon's state (collector pattern, like
//! node_exporter), encoded as Prometheus text 0.0.4 or OpenMetrics 1.0 by content negotiation.
//!
//! Own encoder rather than a client crate: every figure is derived from stored results at scrape
//! time (no live registry to update), and both exposition formats are needed; prometheus-client
//! only writes OpenMetrics and the `prometheus` crate only 0.0.4.

pub mod collect;
pub mod exposition;
pub mod gpu;
pub mod process;
pub mod tuning;
