//! The HTTP listener: `/metrics`, `/healthz`, `/readyz`, `/api/v1/runs`, and `/`, a status page.

pub mod routes;
pub mod server;
pub mod status_chart;
pub mod status_page;
