//! The HTTP listener: `/metrics`, `/healthz`, `/readyz`, `/api/v1/runs`, `/api/v1/alerts` (the
//! Alertmanager webhook), and `/`, a status page.

pub mod alerts_webhook;
pub mod routes;
pub mod server;
pub mod status_chart;
pub mod status_page;
