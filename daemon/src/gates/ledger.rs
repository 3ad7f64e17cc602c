//! The ledger: one authoritative section between `<!-- perf:start -->` and `<!-- perf:end -->`
//! in perfd's comment on a configured issue or pull request, edited in place; text around the
//! section is kept.

use serde::Deserialize;
use serde_json::json;

use super::client::{GateError, GithubClient};

/// Opening anchor.
pub const START: &str = "<!-- perf:start -->";
/// Closing anchor.
pub const END: &str = "<!-- perf:end -->";
/// Pages of comments searched for ours.
const MAX_PAGES: u32 = 10;

/// `body` with the section between the anchors replaced by `section` (anchors added at the end
/// when absent, or when they are out of order).
pub fn replace_section(body: &str, section: &str) -> String {
    let block = format!("{START}\n{}\n{END}", section.trim_end());
    match (body.find(START), body.find(END)) {
        (Some(s), Some(e)) if s < e => format!("{}{block}{}", &body[..s], &body[e + END.len()..]),
        _ if body.trim().is_empty() => block,
        _ => format!("{}\n\n{block}", body.trim_end()),
    }
}

#[derive(Debug, Deserialize)]
struct RemoteComment {
    id: u64,
    body: Option<String>,
}

/// Writes `section` into the ledger comment on issue `number`; returns the comment id.
pub async fn update(c: &GithubClient, number: u64, section: &str) -> Result<u64, GateError> {
    let mut ours: Option<RemoteComment> = None;
    for page in 1..=MAX_PAGES {
        let route = format!(
            "/repos/{}/{}/issues/{number}/comments?per_page=100&page={page}",
            c.owner, c.repo
        );
        let comments: Vec<RemoteComment> = c.get(&route).await?;
        let n = comments.len();
        if let Some(found) = comments
            .into_iter()
            .find(|x| x.body.as_deref().is_some_and(|b| b.contains(START)))
        {
            ours = Some(found);
            break;
        }
        if n < 100 {
            break;
        }
    }
    let comment: RemoteComment = match ours {
        Some(existing) => {
            let body = replace_section(existing.body.as_deref().unwrap_or(""), section);
            c.patch(
                &format!(
                    "/repos/{}/{}/issues/comments/{}",
                    c.owner, c.repo, existing.id
                ),
                &json!({ "body": body }),
            )
            .await?
        }
        None => {
            c.post(
                &format!("/repos/{}/{}/issues/{number}/comments", c.owner, c.repo),
                &json!({ "body": replace_section("", section) }),
            )
            .await?
        }
    };
    Ok(comment.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_is_replaced_and_surroundings_kept() {
        let body = "Intro by a human.\n\n<!-- perf:start -->\nold\n<!-- perf:end -->\n\nFooter.";
        let out = replace_section(body, "new line 1\nnew line 2");
        assert_eq!(out, "Intro by a human.\n\n<!-- perf:start -->\nnew line 1\nnew line 2\n<!-- perf:end -->\n\nFooter.");
        assert_eq!(
            replace_section(&out, "x"),
            "Intro by a human.\n\n<!-- perf:start -->\nx\n<!-- perf:end -->\n\nFooter."
        );
    }

    #[test]
    fn anchors_added_when_missing_or_broken() {
        assert_eq!(
            replace_section("", "s"),
            "<!-- perf:start -->\ns\n<!-- perf:end -->"
        );
        assert_eq!(
            replace_section("hello", "s"),
            "hello\n\n<!-- perf:start -->\ns\n<!-- perf:end -->"
        );
        let broken = "<!-- perf:end --> then <!-- perf:start -->";
        assert!(replace_section(broken, "s").ends_with("<!-- perf:start -->\ns\n<!-- perf:end -->"));
    }
}
