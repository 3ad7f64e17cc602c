//! The GitHub endpoints every end-to-end test of the gates mounts alike on its mock server:
//! installation 42's token exchange, the check runs of `bitnet/engine`, and the stateful fake
//! repository of the tuned-profile pull request.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::fake_github::{Fake, FakeGithub};

/// Installation 42 exchanges its app token for `token`, granted `permissions`.
pub async fn mount_installation_token(server: &MockServer, token: &str, permissions: Value) {
    Mock::given(method("POST"))
        .and(path("/app/installations/42/access_tokens"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": token,
            "expires_at": "2099-01-01T00:00:00Z",
            "permissions": permissions,
            "repository_selection": "selected"
        })))
        .mount(server)
        .await;
}

/// No commit of `bitnet/engine` has a check run yet, and every new one is accepted.
pub async fn mount_check_runs(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path_regex(
            "^/repos/bitnet/engine/commits/[0-9a-f]+/check-runs$",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "total_count": 0, "check_runs": [] })),
        )
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/bitnet/engine/check-runs"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "id": 1, "name": "x", "external_id": "x" })),
        )
        .mount(server)
        .await;
}

/// A fake `bitnet/engine` with `main` at `basesha`, answering the requests whose path matches
/// `path_pattern`; the returned handle sees its state.
pub async fn mount_fake_repository(server: &MockServer, path_pattern: &str) -> FakeGithub {
    let fake = FakeGithub(Arc::new(Mutex::new(Fake::default())));
    fake.0
        .lock()
        .unwrap()
        .branches
        .insert("main".into(), "basesha".into());
    Mock::given(path_regex(path_pattern))
        .respond_with(fake.clone())
        .mount(server)
        .await;
    fake
}
