//! Commit statuses: the personal-token fallback (check runs need a GitHub App). A status with the
//! same context replaces the previous one, so re-posting is idempotent.

use serde::Deserialize;
use serde_json::json;

use super::client::{GateError, GithubClient};
use super::decide::{Conclusion, GateOutcome};

/// GitHub's limit on a status description.
const MAX_DESCRIPTION: usize = 140;

#[derive(Debug, Deserialize)]
struct RemoteStatus {
    id: u64,
}

/// Posts the gate as a commit status; returns its id.
pub async fn post(c: &GithubClient, g: &GateOutcome) -> Result<u64, GateError> {
    // Statuses have no "neutral": a gate with nothing to judge must not block a merge.
    let (state, prefix) = match g.conclusion {
        Conclusion::Success => ("success", ""),
        Conclusion::Neutral => ("success", "neutral: "),
        Conclusion::Failure => ("failure", ""),
    };
    let mut description = format!("{prefix}{}", g.summary);
    if description.chars().count() > MAX_DESCRIPTION {
        description = description
            .chars()
            .take(MAX_DESCRIPTION - 1)
            .collect::<String>()
            + "…";
    }
    let body = json!({ "state": state, "context": g.name, "description": description });
    let s: RemoteStatus = c
        .post(
            &format!("/repos/{}/{}/statuses/{}", c.owner, c.repo, g.head_sha),
            &body,
        )
        .await?;
    Ok(s.id)
}
