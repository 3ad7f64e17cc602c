//! Routing (axum) and the JSON API: `/metrics`, `/healthz`, `/readyz`, `/api/v1/runs`,
//! `/api/v1/runs/{id}`, `/api/v1/alerts` (the Alertmanager webhook) and `/`, the status page.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::metrics::encode::{scrape, Format};
use crate::metrics::gpu::GpuCollector;
use crate::state::DaemonState;

use super::{alerts_webhook, status_page};

/// Default and largest number of runs `/api/v1/runs` returns.
const RUNS_DEFAULT: usize = 50;
const RUNS_MAX: usize = 1000;

/// What request handlers share.
#[derive(Debug)]
pub struct HttpContext {
    /// Daemon state.
    pub state: Arc<DaemonState>,
    /// NVML handle (or its absence).
    pub gpu: GpuCollector,
}

type Ctx = State<Arc<HttpContext>>;

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(CONTENT_TYPE, content_type)], body).into_response()
}

/// A JSON response.
pub(super) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(CONTENT_TYPE, "application/json")],
        serde_json::to_vec_pretty(value).unwrap_or_default(),
    )
        .into_response()
}

/// A JSON error `{"error": message}`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

/// The daemon's router.
pub fn router(ctx: Arc<HttpContext>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route(
            "/healthz",
            get(|| async { text(StatusCode::OK, "text/plain", "ok\n".into()) }),
        )
        .route("/readyz", get(readyz))
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/runs/{id}", get(run))
        .route(
            "/api/v1/alerts",
            post(alerts_webhook::receive)
                .layer(DefaultBodyLimit::max(alerts_webhook::MAX_BODY_BYTES)),
        )
        .route("/", get(status))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
            )
        })
        .with_state(ctx)
}

async fn metrics(State(ctx): Ctx, headers: HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(ACCEPT).and_then(|v| v.to_str().ok()));
    match scrape(&ctx.state, &ctx.gpu, format) {
        Ok(body) => (
            StatusCode::OK,
            [(CONTENT_TYPE, format.content_type())],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode /metrics");
            error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
    }
}

async fn readyz(State(ctx): Ctx) -> Response {
    match ctx.state.health.readiness() {
        Ok(()) => text(StatusCode::OK, "text/plain", "ready\n".into()),
        Err(why) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            format!("not ready: {why}\n"),
        ),
    }
}

async fn status(State(ctx): Ctx) -> Response {
    match status_page::render(&ctx.state) {
        Ok(html) => text(StatusCode::OK, "text/html; charset=utf-8", html),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    limit: Option<String>,
}

async fn runs(State(ctx): Ctx, Query(query): Query<RunsQuery>) -> Response {
    let limit = match query.limit.as_deref().map(str::parse::<usize>) {
        None => RUNS_DEFAULT,
        Some(Ok(n)) if (1..=RUNS_MAX).contains(&n) => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("limit must be an integer in 1..={RUNS_MAX}"),
            )
        }
    };
    let rows = ctx
        .state
        .store
        .lock()
        .runs(limit)
        .map_err(|e| e.to_string());
    match rows {
        Ok(rows) => {
            let running = ctx.state.published.running();
            json(
                StatusCode::OK,
                &serde_json::json!({
                    "runs": rows,
                    "running": running.map(|r| serde_json::json!({"commit": r.commit, "step": r.step, "started_at": r.started_at})),
                    "tuning": {
                        "running": ctx.state.tune_queue.running(),
                        "waiting": ctx.state.tune_queue.waiting(),
                    },
                }),
            )
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn run(State(ctx): Ctx, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::BAD_REQUEST, "run id must be an integer");
    };
    let found = ctx
        .state
        .store
        .with(|s| -> Result<_, crate::store::StoreError> {
            Ok((
                s.run(id)?,
                s.reports(id)?,
                s.verdicts(id)?,
                s.outbox(Some(id), 100)?,
            ))
        });
    match found {
        Ok((Some(row), (report, kernels), verdicts, posts)) => {
            let parse = |s: Option<String>| {
                s.and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
            };
            // Verdicts are null until the run is judged; posts are the gates and ledger edits
            // queued for it, with their delivery state.
            json(
                StatusCode::OK,
                &serde_json::json!({
                    "run": row,
                    "report": parse(report),
                    "kernel_report": parse(kernels),
                    "verdicts": verdicts,
                    "posts": posts,
                }),
            )
        }
        Ok((None, ..)) => error(StatusCode::NOT_FOUND, &format!("no run {id}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
