//! Request routing and the JSON API.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use crate::metrics::collect::collect;
use crate::metrics::exposition::{encode, Format};
use crate::metrics::gpu::GpuCollector;
use crate::state::DaemonState;

use super::status_page;

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

fn response(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    response(
        status,
        "application/json",
        serde_json::to_vec_pretty(value).unwrap_or_default(),
    )
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": message }))
}

fn query_param<'a>(req: &'a Request<Incoming>, key: &str) -> Option<&'a str> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// Handles one request.
pub async fn handle(
    req: Request<Incoming>,
    ctx: Arc<HttpContext>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served here",
        ));
    }
    Ok(match path.as_str() {
        "/metrics" => {
            let format = Format::negotiate(req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()));
            let body = encode(&collect(&ctx.state, &ctx.gpu), format);
            response(StatusCode::OK, format.content_type(), body)
        }
        "/healthz" => response(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz" => match ctx.state.health.readiness() {
            Ok(()) => response(StatusCode::OK, "text/plain", "ready\n"),
            Err(why) => response(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not ready: {why}\n"),
            ),
        },
        "/api/v1/runs" => runs(&req, &ctx),
        p if p.starts_with("/api/v1/runs/") => run(&p["/api/v1/runs/".len()..], &ctx),
        "/" => match status_page::render(&ctx.state) {
            Ok(html) => response(StatusCode::OK, "text/html; charset=utf-8", html),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        },
        _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
    })
}

fn runs(req: &Request<Incoming>, ctx: &HttpContext) -> Response<Full<Bytes>> {
    let limit = match query_param(req, "limit").map(str::parse::<usize>) {
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
        .map_err(|_| "store unavailable".to_string())
        .and_then(|s| s.runs(limit).map_err(|e| e.to_string()));
    match rows {
        Ok(rows) => {
            let running = ctx.state.running.lock().ok().and_then(|r| r.clone());
            json(
                StatusCode::OK,
                &serde_json::json!({
                    "runs": rows,
                    "running": running.map(|r| serde_json::json!({"commit": r.commit, "step": r.step, "started_at": r.started_at})),
                }),
            )
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

fn run(id: &str, ctx: &HttpContext) -> Response<Full<Bytes>> {
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::BAD_REQUEST, "run id must be an integer");
    };
    let found = ctx
        .state
        .store
        .lock()
        .map_err(|_| "store unavailable".to_string())
        .and_then(|s| {
            let row = s.run(id).map_err(|e| e.to_string())?;
            let reports = s.reports(id).map_err(|e| e.to_string())?;
            Ok((row, reports))
        });
    match found {
        Ok((Some(row), (report, kernels))) => {
            let parse = |s: Option<String>| {
                s.and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
            };
            json(
                StatusCode::OK,
                &serde_json::json!({ "run": row, "report": parse(report), "kernel_report": parse(kernels) }),
            )
        }
        Ok((None, _)) => error(StatusCode::NOT_FOUND, &format!("no run {id}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}
