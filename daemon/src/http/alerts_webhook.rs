//! `POST /api/v1/alerts`: Alertmanager's webhook (payload version 4). A firing alert labelled
//! `perfd_action="tune"` queues a tuning job; resolved alerts, other alerts and duplicates of a
//! group already queued or running are acknowledged without one. Bearer-token authentication;
//! bad JSON, another version, a missing or wrong token and bodies over 1 MiB get a 4xx with a
//! clear message and change nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::routes::{error, json, HttpContext};
use crate::tune_queue::{Refused, TuneRequest};

/// Largest body accepted (Alertmanager's are a few KiB; a bigger one is not from it).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The label that asks for a tuning job, and its value.
pub const ACTION_LABEL: (&str, &str) = ("perfd_action", "tune");

/// Webhook payload, version 4 (the fields perfd reads).
#[derive(Debug, Deserialize)]
struct Payload {
    version: String,
    #[serde(rename = "groupKey")]
    group_key: String,
    status: String,
    alerts: Vec<Alert>,
}

#[derive(Debug, Deserialize)]
struct Alert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Equal in time independent of where the strings differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized(message: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, message);
    if let Ok(v) = "Bearer realm=\"perfd\"".parse() {
        r.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    r
}

/// Why a call was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No token is configured: the webhook is off.
    Disabled,
    /// The configured token cannot be read.
    Unreadable,
    /// No Authorization header.
    Missing,
    /// Not a bearer token.
    NotBearer,
    /// The token does not match.
    Wrong,
}

impl Refusal {
    fn response(self) -> Response {
        match self {
            Refusal::Disabled => error(
                StatusCode::FORBIDDEN,
                "the webhook is disabled: no token configured ([tuner] webhook_token_file or the systemd credential webhook-token)",
            ),
            Refusal::Unreadable => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the webhook token cannot be read; see the daemon's log",
            ),
            Refusal::Missing => unauthorized("missing Authorization: Bearer token"),
            Refusal::NotBearer => unauthorized("Authorization must be a Bearer token"),
            Refusal::Wrong => unauthorized("wrong bearer token"),
        }
    }
}

/// Checks the bearer token.
fn authenticate(ctx: &HttpContext, headers: &HeaderMap) -> Result<(), Refusal> {
    let expected = match ctx.state.config().tuner.webhook_token() {
        Ok(Some(t)) => t,
        Ok(None) => return Err(Refusal::Disabled),
        Err(e) => {
            tracing::error!(error = %e, "webhook token unreadable");
            return Err(Refusal::Unreadable);
        }
    };
    let given = headers.get(AUTHORIZATION).ok_or(Refusal::Missing)?;
    let token = given
        .to_str()
        .unwrap_or_default()
        .strip_prefix("Bearer ")
        .ok_or(Refusal::NotBearer)?;
    if !same_secret(token.trim().as_bytes(), expected.as_bytes()) {
        tracing::warn!("webhook call with a wrong token refused");
        return Err(Refusal::Wrong);
    }
    Ok(())
}

/// Handles one webhook call.
pub async fn receive(
    State(ctx): State<Arc<HttpContext>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(r) = authenticate(&ctx, &headers) {
        return r.response();
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let status = e.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("body over {MAX_BODY_BYTES} bytes")
            } else {
                format!("cannot read the body: {}", e.body_text())
            };
            return error(status, &message);
        }
    };
    let payload: Payload = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("malformed webhook body (expected Alertmanager's JSON, version 4): {e}"),
            )
        }
    };
    if payload.version != "4" {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "unsupported webhook payload version `{}` (perfd reads version 4)",
                payload.version
            ),
        );
    }
    let tune: Vec<&Alert> = payload
        .alerts
        .iter()
        .filter(|a| a.status == "firing")
        .filter(|a| a.labels.get(ACTION_LABEL.0).map(String::as_str) == Some(ACTION_LABEL.1))
        .collect();
    if tune.is_empty() {
        tracing::info!(group = %payload.group_key, status = %payload.status, alerts = payload.alerts.len(), "alert notification acknowledged; nothing to tune");
        return json(
            StatusCode::OK,
            &serde_json::json!({"queued": false, "reason": "no firing alert asks for tuning (label perfd_action=\"tune\")"}),
        );
    }
    let mut names: Vec<&str> = tune
        .iter()
        .filter_map(|a| a.labels.get("alertname").map(String::as_str))
        .collect();
    names.dedup();
    let trigger = format!("alert:{}", names.join(","));
    let request = TuneRequest {
        trigger: trigger.clone(),
        group_key: Some(payload.group_key.clone()),
        run_id: None,
    };
    match ctx.state.tune_queue.request(request) {
        Ok(()) => {
            tracing::info!(trigger = %trigger, group = %payload.group_key, "tuning job queued by an alert");
            (
                StatusCode::ACCEPTED,
                json(
                    StatusCode::ACCEPTED,
                    &serde_json::json!({"queued": true, "trigger": trigger}),
                ),
            )
                .into_response()
        }
        Err(e @ Refused::Duplicate) => json(
            StatusCode::OK,
            &serde_json::json!({"queued": false, "reason": e.to_string()}),
        ),
        Err(e @ Refused::Full(_)) => error(StatusCode::TOO_MANY_REQUESTS, &e.to_string()),
    }
}
