//! The GitHub client: GitHub App (JWT → installation token, needed for check runs) or a personal
//! token (commit statuses instead). Secrets come from files or the environment and never reach a
//! log or an error message.

use std::path::{Path, PathBuf};

use hyper::header::HeaderMap;
use octocrab::models::{AppId, InstallationId};
use octocrab::Octocrab;

use crate::config::GithubSection;

/// Why a post failed; messages never contain credentials.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GateError {
    /// GitHub refused the credentials (401).
    #[error("GitHub rejected the credentials (401): {0}")]
    Unauthorized(String),
    /// Rate limited; retry after `retry_after_secs`.
    #[error("GitHub rate limit reached; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// GitHub failed (5xx): transient.
    #[error("GitHub server error {status}: {message}")]
    Server { status: u16, message: String },
    /// GitHub refused the request (4xx other than 401/429).
    #[error("GitHub refused the request ({status}): {message}")]
    Client { status: u16, message: String },
    /// The API could not be reached.
    #[error("GitHub unreachable: {0}")]
    Transport(String),
    /// GitHub answered something we could not read.
    #[error("unexpected response from GitHub: {0}")]
    BadResponse(String),
    /// Credentials configured but unreadable or invalid.
    #[error("GitHub credentials: {0}")]
    Credentials(String),
}

impl GateError {
    /// Seconds to wait before the next attempt after this error, given the attempt count.
    pub fn backoff_secs(&self, attempts: u32) -> u64 {
        let exp = 10u64.saturating_mul(1 << attempts.min(8)).min(3600);
        match self {
            GateError::RateLimited { retry_after_secs } => (*retry_after_secs).max(1),
            // Bad credentials will not heal by themselves quickly: retry slowly.
            GateError::Unauthorized(_) | GateError::Credentials(_) => exp.max(300),
            _ => exp,
        }
    }
}

/// Wait when GitHub says "rate limit" without saying for how long.
pub const DEFAULT_RATE_LIMIT_WAIT_SECS: u64 = 60;

/// The error for a non-success answer: rate limits (primary: remaining 0 until the reset time;
/// secondary: 403/429 with `retry-after`) carry the wait GitHub asked for.
pub fn error_for(status: u16, headers: &HeaderMap, message: String, now: f64) -> GateError {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
    let exhausted = header("x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
    let reset_in = header("x-ratelimit-reset")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|reset| (reset - now).ceil().max(1.0) as u64);
    let limited = status == 429
        || (status == 403
            && (retry_after.is_some()
                || exhausted
                || message.to_lowercase().contains("rate limit")));
    if limited {
        let wait = retry_after
            .or(if exhausted { reset_in } else { None })
            .unwrap_or(DEFAULT_RATE_LIMIT_WAIT_SECS);
        return GateError::RateLimited {
            retry_after_secs: wait.max(1),
        };
    }
    match status {
        401 => GateError::Unauthorized(message),
        500..=599 => GateError::Server { status, message },
        _ => GateError::Client { status, message },
    }
}

/// Maps an octocrab error (transport, decoding, or a status octocrab mapped) to a `GateError`.
pub fn classify(e: octocrab::Error) -> GateError {
    match e {
        // Errors octocrab maps itself (the App token exchange) carry no headers: the same
        // status mapping as our own requests, without a stated wait.
        octocrab::Error::GitHub { source, .. } => error_for(
            source.status_code.as_u16(),
            &HeaderMap::new(),
            source.message.clone(),
            crate::clock::unix_now(),
        ),
        e @ (octocrab::Error::Json { .. } | octocrab::Error::Serde { .. }) => {
            GateError::BadResponse(e.to_string())
        }
        other => {
            // Hyper/transport errors can carry the URL but not headers; strip any query string.
            let text = other.to_string();
            GateError::Transport(text.split('?').next().unwrap_or(&text).to_string())
        }
    }
}

/// How gates are posted with the configured credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateMode {
    /// GitHub App: check runs.
    CheckRuns,
    /// Personal token: commit statuses.
    Statuses,
}

/// A ready client for one repository.
pub struct GithubClient {
    /// The octocrab client (authenticated).
    pub octo: Octocrab,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// Check runs or statuses.
    pub mode: GateMode,
}

impl std::fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubClient")
            .field("owner", &self.owner)
            .field("repo", &self.repo)
            .field("mode", &self.mode)
            .finish()
    }
}

fn credential(file: Option<&Path>, env: &str, cred_name: &str) -> Option<(PathBuf, String)> {
    let path = file.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|d| PathBuf::from(d).join(cred_name))
            .filter(|p| p.exists())
    });
    if let Some(p) = path {
        return std::fs::read_to_string(&p)
            .ok()
            .map(|s| (p, s.trim().to_string()));
    }
    std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| (PathBuf::from(format!("${env}")), v))
}

/// Builds the client; `Ok(None)` when no credentials are configured (dry run).
pub fn build(cfg: &GithubSection) -> Result<Option<GithubClient>, GateError> {
    let (owner, repo) = cfg
        .repository
        .split_once('/')
        .ok_or_else(|| GateError::Credentials("repository is not owner/name".into()))?;
    let base = || {
        Octocrab::builder()
            .base_uri(cfg.api_url.as_str())
            .map_err(|e| GateError::Credentials(format!("api_url: {e}")))
    };
    if let (Some(app), Some(inst)) = (cfg.app_id, cfg.installation_id) {
        let (path, pem) = credential(cfg.private_key_file.as_deref(), "PERFD_GITHUB_APP_KEY", "github-app-key")
            .ok_or_else(|| GateError::Credentials("app_id is set but no private key was found (private_key_file, $CREDENTIALS_DIRECTORY/github-app-key or $PERFD_GITHUB_APP_KEY)".into()))?;
        let key =
            octocrab::jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                GateError::Credentials(format!(
                    "{} is not an RSA PEM private key: {e}",
                    path.display()
                ))
            })?;
        let app_client = base()?
            .app(AppId(app), key)
            .build()
            .map_err(|e| GateError::Credentials(format!("build client: {e}")))?;
        let octo = app_client
            .installation(InstallationId(inst))
            .map_err(|e| GateError::Credentials(format!("installation {inst}: {e}")))?;
        return Ok(Some(GithubClient {
            octo,
            owner: owner.into(),
            repo: repo.into(),
            mode: GateMode::CheckRuns,
        }));
    }
    let Some((_, token)) = credential(
        cfg.token_file.as_deref(),
        "PERFD_GITHUB_TOKEN",
        "github-token",
    ) else {
        return Ok(None);
    };
    let octo = base()?
        .personal_token(token)
        .build()
        .map_err(|e| GateError::Credentials(format!("build client: {e}")))?;
    Ok(Some(GithubClient {
        octo,
        owner: owner.into(),
        repo: repo.into(),
        mode: GateMode::Statuses,
    }))
}
