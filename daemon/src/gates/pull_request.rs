//! The tuned profile proposed upstream: a file (`perf/profiles/<host>.toml` by default) on the
//! branch `perfd/tune-<host>`, and one pull request from it. Idempotent: the branch is created
//! once, the file updated in place (not rewritten when unchanged), and an open pull request from
//! the branch is updated, never opened twice.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::{GateError, GithubClient};

/// Payload of a `pull_request` outbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileProposal {
    /// Branch carrying the change (`perfd/tune-<host>`).
    pub branch: String,
    /// Branch the pull request targets.
    pub base: String,
    /// File path in the repository.
    pub path: String,
    /// File content.
    pub content: String,
    /// Commit message of the file change.
    pub message: String,
    /// Pull request title.
    pub title: String,
    /// Pull request body.
    pub body: String,
}

#[derive(Deserialize)]
struct GitRef {
    object: GitObject,
}

#[derive(Deserialize)]
struct GitObject {
    sha: String,
}

#[derive(Deserialize)]
struct FileContent {
    sha: String,
    #[serde(default)]
    content: String,
}

#[derive(Deserialize)]
struct PullRequest {
    number: u64,
}

/// Creates or updates the branch, the file and the pull request; returns the pull request number.
pub async fn propose(c: &GithubClient, p: &ProfileProposal) -> Result<u64, GateError> {
    let repo = format!("/repos/{}/{}", c.owner, c.repo);
    let branch_ref = format!("{repo}/git/ref/heads/{}", p.branch);
    if c.get_optional::<GitRef>(&branch_ref).await?.is_none() {
        let base: GitRef = c.get(&format!("{repo}/git/ref/heads/{}", p.base)).await?;
        let _created: serde_json::Value = c
            .post(
                &format!("{repo}/git/refs"),
                &json!({ "ref": format!("refs/heads/{}", p.branch), "sha": base.object.sha }),
            )
            .await?;
    }
    let existing: Option<FileContent> = c
        .get_optional(&format!("{repo}/contents/{}?ref={}", p.path, p.branch))
        .await?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(p.content.as_bytes());
    let unchanged = existing.as_ref().is_some_and(|f| {
        // GitHub wraps the base64 at 60 columns.
        let stored: String = f.content.split_whitespace().collect();
        stored == encoded
    });
    if !unchanged {
        let mut body = json!({ "message": p.message, "content": encoded, "branch": p.branch });
        if let Some(f) = &existing {
            body["sha"] = json!(f.sha);
        }
        let _written: serde_json::Value =
            c.put(&format!("{repo}/contents/{}", p.path), &body).await?;
    }
    let open: Vec<PullRequest> = c
        .get(&format!(
            "{repo}/pulls?state=open&head={}:{}&base={}",
            c.owner, p.branch, p.base
        ))
        .await?;
    match open.first() {
        Some(pr) => {
            let _updated: serde_json::Value = c
                .patch(
                    &format!("{repo}/pulls/{}", pr.number),
                    &json!({ "title": p.title, "body": p.body }),
                )
                .await?;
            Ok(pr.number)
        }
        None => {
            let pr: PullRequest = c
                .post(
                    &format!("{repo}/pulls"),
                    &json!({ "title": p.title, "head": p.branch, "base": p.base, "body": p.body }),
                )
                .await?;
            Ok(pr.number)
        }
    }
}
