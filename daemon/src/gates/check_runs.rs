//! Check runs: find ours on the commit (name + our external id; the list call has no name filter,
//! so we filter here), then update it in place or create it — never a duplicate.

use serde::Deserialize;
use serde_json::json;

use super::client::{GateError, GithubClient};
use super::decide::GateOutcome;

/// Pages of check runs searched for ours (100 per page).
const MAX_PAGES: u32 = 5;

#[derive(Debug, Deserialize)]
struct RemoteCheckRun {
    id: u64,
    name: String,
    external_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RemoteList {
    total_count: u64,
    check_runs: Vec<RemoteCheckRun>,
}

async fn find(c: &GithubClient, g: &GateOutcome) -> Result<Option<u64>, GateError> {
    for page in 1..=MAX_PAGES {
        let route = format!(
            "/repos/{}/{}/commits/{}/check-runs?filter=all&per_page=100&page={page}",
            c.owner, c.repo, g.head_sha
        );
        let list: RemoteList = c.get(&route).await?;
        if let Some(r) = list
            .check_runs
            .iter()
            .find(|r| r.name == g.name && r.external_id.as_deref() == Some(&g.external_id))
        {
            return Ok(Some(r.id));
        }
        if u64::from(page) * 100 >= list.total_count {
            break;
        }
    }
    Ok(None)
}

/// Creates or updates the gate's check run; returns its id.
pub async fn upsert(c: &GithubClient, g: &GateOutcome) -> Result<u64, GateError> {
    let body = json!({
        "name": g.name,
        "head_sha": g.head_sha,
        "external_id": g.external_id,
        "status": "completed",
        "conclusion": g.conclusion.name(),
        "output": { "title": g.title, "summary": g.summary, "text": g.text },
    });
    let run: RemoteCheckRun = match find(c, g).await? {
        Some(id) => {
            c.patch(
                &format!("/repos/{}/{}/check-runs/{id}", c.owner, c.repo),
                &body,
            )
            .await?
        }
        None => {
            c.post(&format!("/repos/{}/{}/check-runs", c.owner, c.repo), &body)
                .await?
        }
    };
    Ok(run.id)
}
