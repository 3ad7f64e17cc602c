//! GitHub REST calls with the response headers in view: octocrab's typed helpers drop them, and
//! the rate-limit headers (`retry-after`, `x-ratelimit-remaining` / `x-ratelimit-reset`) decide
//! how long every post to the host must wait.

use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::client::{classify, error_for, GateError, GithubClient};

impl GithubClient {
    /// `GET route`, decoded.
    pub async fn get<R: DeserializeOwned>(&self, route: &str) -> Result<R, GateError> {
        let response = self.octo._get(route).await.map_err(classify)?;
        decode(response).await
    }

    /// `POST route` with a JSON body, decoded.
    pub async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        route: &str,
        body: &B,
    ) -> Result<R, GateError> {
        let response = self.octo._post(route, Some(body)).await.map_err(classify)?;
        decode(response).await
    }

    /// `PUT route` with a JSON body, decoded.
    pub async fn put<B: Serialize, R: DeserializeOwned>(
        &self,
        route: &str,
        body: &B,
    ) -> Result<R, GateError> {
        let response = self.octo._put(route, Some(body)).await.map_err(classify)?;
        decode(response).await
    }

    /// `GET route`, decoded; `None` when GitHub answers 404.
    pub async fn get_optional<R: DeserializeOwned>(
        &self,
        route: &str,
    ) -> Result<Option<R>, GateError> {
        match self.get(route).await {
            Ok(r) => Ok(Some(r)),
            Err(GateError::Client { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PATCH route` with a JSON body, decoded.
    pub async fn patch<B: Serialize, R: DeserializeOwned>(
        &self,
        route: &str,
        body: &B,
    ) -> Result<R, GateError> {
        let response = self
            .octo
            ._patch(route, Some(body))
            .await
            .map_err(classify)?;
        decode(response).await
    }
}

type Response =
    hyper::Response<http_body_util::combinators::BoxBody<bytes::Bytes, octocrab::Error>>;

async fn decode<R: DeserializeOwned>(response: Response) -> Result<R, GateError> {
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| GateError::Transport(e.to_string()))?
        .to_bytes();
    if parts.status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| GateError::BadResponse(e.to_string()));
    }
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
    Err(error_for(
        parts.status.as_u16(),
        &parts.headers,
        message,
        crate::clock::unix_now(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::client::DEFAULT_RATE_LIMIT_WAIT_SECS;
    use hyper::header::HeaderMap;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn rate_limits_carry_the_wait_github_asked_for() {
        let secondary = error_for(
            403,
            &headers(&[("retry-after", "2")]),
            "You have exceeded a secondary rate limit".into(),
            0.0,
        );
        assert_eq!(
            secondary,
            GateError::RateLimited {
                retry_after_secs: 2
            }
        );
        let primary = error_for(
            403,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1030"),
            ]),
            "API rate limit exceeded".into(),
            1000.0,
        );
        assert_eq!(
            primary,
            GateError::RateLimited {
                retry_after_secs: 30
            }
        );
        let unspecified = error_for(429, &HeaderMap::new(), "slow down".into(), 0.0);
        assert_eq!(
            unspecified,
            GateError::RateLimited {
                retry_after_secs: DEFAULT_RATE_LIMIT_WAIT_SECS
            }
        );
    }

    #[test]
    fn other_statuses_keep_their_meaning() {
        let forbidden = error_for(
            403,
            &HeaderMap::new(),
            "Resource not accessible".into(),
            0.0,
        );
        assert!(matches!(forbidden, GateError::Client { status: 403, .. }));
        assert!(matches!(
            error_for(401, &HeaderMap::new(), "Bad credentials".into(), 0.0),
            GateError::Unauthorized(_)
        ));
        assert!(matches!(
            error_for(502, &HeaderMap::new(), "bad gateway".into(), 0.0),
            GateError::Server { status: 502, .. }
        ));
    }
}
