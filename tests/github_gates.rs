//! Gates against a local fake GitHub (wiremock, responses shaped like GitHub's documented
//! examples): App token exchange, check run created then updated in place, personal-token
//! commit statuses, the ledger edited in place, 5xx then success with nothing lost, 401 as a
//! clear error, and dry run without credentials.

use perfd::config::{Config, GithubSection};
use perfd::gates::decide::{Conclusion, GateOutcome};
use perfd::gates::outbox::{process_due, LedgerPost, Poster};
use perfd::harness::host::HostFingerprint;
use perfd::state::DaemonState;
use perfd::store::{NewRun, OutboxState, RunRecord, RunStatus, Store};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github-app-test-key.pem"
);
const SHA: &str = "2a9f6b5c0d1e8f7a6b5c4d3e2f1a0b9c8d7e6f5a";
const INSTALLATION_TOKEN: &str = "ghs_installationtokenfortests000000";
const PAT: &str = "ghp_personaltokenfortests0000000000000";

fn gate(conclusion: Conclusion, summary: &str) -> GateOutcome {
    GateOutcome {
        name: "integrative:gate:throughput".into(),
        head_sha: SHA.into(),
        external_id: "bitnet-perfd:c38807541dda".into(),
        conclusion,
        title: format!("throughput: {}", conclusion.name()),
        summary: summary.into(),
        text: "**Before:** 45.2 tokens/sec\n**After:** 32.1 tokens/sec".into(),
    }
}

/// A state with an empty store and `[github]` pointing at the mock server.
fn state(dir: &std::path::Path, github: Option<GithubSection>) -> DaemonState {
    let mut store = Store::open(&dir.join("h.sqlite")).unwrap();
    store
        .insert_run(&NewRun {
            record: RunRecord {
                started_at: 1.0,
                finished_at: 2.0,
                commit: SHA.into(),
                branch: "main".into(),
                source: "repository".into(),
                status: RunStatus::Success,
                reason: None,
                host_id: "c38807541dda".into(),
                noisy: false,
                attempts: 1,
                params: None,
                kernel_ids: None,
                decode_tps: Some(32.1),
                prefill_tps: None,
            },
            report_json: None,
            kernels_json: None,
            samples: vec![],
        })
        .unwrap();
    let config = Config {
        github,
        ..Config::default()
    };
    DaemonState::new(config, None, store, HostFingerprint::detect())
}

fn app_config(api: &str) -> GithubSection {
    GithubSection {
        repository: "bitnet/engine".into(),
        api_url: api.into(),
        app_id: Some(1234),
        installation_id: Some(42),
        private_key_file: Some(KEY.into()),
        token_file: None,
        ledger_issue: Some(7),
        check_suffix: String::new(),
        dry_run: false,
    }
}

fn enqueue(st: &DaemonState, g: &GateOutcome) {
    st.store
        .lock()
        .enqueue(
            1,
            "gate",
            &g.name,
            &g.head_sha,
            &serde_json::to_value(g).unwrap(),
            0.0,
        )
        .unwrap();
}

fn entries(st: &DaemonState) -> Vec<perfd::store::OutboxEntry> {
    st.store.lock().outbox(None, 100).unwrap()
}

/// Makes every queued entry due now (skips the backoff in tests).
fn make_due(st: &DaemonState) {
    let s = st.store.lock();
    for e in s
        .outbox(None, 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.state == OutboxState::Pending)
    {
        s.outbox_failed(e.id, "test: retry now", 0.0).unwrap();
    }
}

async fn mount_token_exchange(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/app/installations/42/access_tokens"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": INSTALLATION_TOKEN,
            "expires_at": "2099-01-01T00:00:00Z",
            "permissions": { "checks": "write", "issues": "write" },
            "repository_selection": "selected"
        })))
        .mount(server)
        .await;
}

fn check_run_json(id: u64, name: &str, external_id: &str) -> Value {
    json!({
        "id": id, "head_sha": SHA, "node_id": "MDg6Q2hlY2tSdW40", "external_id": external_id,
        "url": format!("https://api.github.com/repos/bitnet/engine/check-runs/{id}"),
        "html_url": "https://github.com/bitnet/engine/runs/4", "details_url": null,
        "status": "completed", "conclusion": "failure", "started_at": "2026-11-26T07:00:00Z",
        "completed_at": "2026-11-26T07:01:00Z",
        "output": { "title": "t", "summary": "s", "text": "x", "annotations_count": 0, "annotations_url": "" },
        "name": name, "check_suite": { "id": 5 }, "app": { "id": 1234, "slug": "bitnet-perfd" }, "pull_requests": []
    })
}

fn bodies(reqs: &[Request], verb: &str, path_contains: &str) -> Vec<Value> {
    reqs.iter()
        .filter(|r| r.method.as_str() == verb && r.url.path().contains(path_contains))
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

#[tokio::test]
async fn app_creates_then_updates_the_same_check_run() {
    let server = MockServer::start().await;
    mount_token_exchange(&server).await;
    // First post: no check runs on the commit yet (one foreign run with our name is ignored).
    Mock::given(method("GET"))
        .and(path(format!("/repos/bitnet/engine/commits/{SHA}/check-runs")))
        .and(header("authorization", format!("Bearer {INSTALLATION_TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total_count": 1, "check_runs": [check_run_json(77, "integrative:gate:throughput", "someone-else")]
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/bitnet/engine/check-runs"))
        .respond_with(ResponseTemplate::new(201).set_body_json(check_run_json(
            4,
            "integrative:gate:throughput",
            "bitnet-perfd:c38807541dda",
        )))
        .expect(1)
        .mount(&server)
        .await;
    // Later posts: ours exists.
    Mock::given(method("GET"))
        .and(path(format!("/repos/bitnet/engine/commits/{SHA}/check-runs")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total_count": 2, "check_runs": [check_run_json(77, "integrative:gate:throughput", "someone-else"), check_run_json(4, "integrative:gate:throughput", "bitnet-perfd:c38807541dda")]
        })))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/bitnet/engine/check-runs/4"))
        .respond_with(ResponseTemplate::new(200).set_body_json(check_run_json(
            4,
            "integrative:gate:throughput",
            "bitnet-perfd:c38807541dda",
        )))
        .expect(1)
        .mount(&server)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), Some(app_config(&server.uri())));
    let mut cache = Poster::default();
    enqueue(
        &st,
        &gate(
            Conclusion::Failure,
            "throughput: inference: 32.1 tokens/sec; Δ vs baseline: -29.0%; SLO: fail",
        ),
    );
    assert_eq!(process_due(&st.outbox, &mut cache).await, 1);
    enqueue(
        &st,
        &gate(
            Conclusion::Success,
            "throughput: inference: 45.9 tokens/sec; Δ vs baseline: +1.6%; SLO: pass",
        ),
    );
    assert_eq!(process_due(&st.outbox, &mut cache).await, 1);
    let e = entries(&st);
    assert!(
        e.iter()
            .all(|x| x.state == OutboxState::Posted && x.remote_id.as_deref() == Some("4")),
        "{e:#?}"
    );

    let reqs = server.received_requests().await.unwrap();
    let created = bodies(&reqs, "POST", "/check-runs");
    assert_eq!(created[0]["name"], "integrative:gate:throughput");
    assert_eq!(created[0]["head_sha"], SHA);
    assert_eq!(created[0]["external_id"], "bitnet-perfd:c38807541dda");
    assert_eq!(created[0]["conclusion"], "failure");
    assert!(created[0]["output"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("throughput: inference: 32.1 tokens/sec"));
    let updated = bodies(&reqs, "PATCH", "/check-runs/4");
    assert_eq!(updated[0]["conclusion"], "success");
    // The App JWT went only to the token exchange; API calls used the installation token.
    let exchange = reqs
        .iter()
        .find(|r| r.url.path().ends_with("/access_tokens"))
        .unwrap();
    let jwt = exchange
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(jwt.starts_with("Bearer ey"), "JWT expected");
    assert_eq!(
        reqs.iter()
            .filter(|r| r.url.path().ends_with("/access_tokens"))
            .count(),
        1,
        "token cached across posts"
    );
}

#[tokio::test]
async fn personal_token_posts_commit_statuses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/bitnet/engine/statuses/{SHA}")))
        .and(header("authorization", format!("Bearer {PAT}").as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 1, "state": "failure", "context": "integrative:gate:throughput", "description": "d",
            "url": "https://api.github.com/repos/bitnet/engine/statuses/x", "node_id": "MDY6U3RhdHVzMQ=="
        })))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{PAT}\n")).unwrap();
    let cfg = GithubSection {
        app_id: None,
        installation_id: None,
        private_key_file: None,
        token_file: Some(token),
        ..app_config(&server.uri())
    };
    let st = state(dir.path(), Some(cfg));
    enqueue(&st, &gate(Conclusion::Failure, &"x".repeat(300)));
    process_due(&st.outbox, &mut Poster::default()).await;
    assert_eq!(entries(&st)[0].state, OutboxState::Posted);
    let reqs = server.received_requests().await.unwrap();
    let b = &bodies(&reqs, "POST", "/statuses/")[0];
    assert_eq!(b["state"], "failure");
    assert_eq!(b["context"], "integrative:gate:throughput");
    assert!(b["description"].as_str().unwrap().chars().count() <= 140);
}

#[tokio::test]
async fn ledger_is_edited_in_place_keeping_the_rest() {
    let server = MockServer::start().await;
    mount_token_exchange(&server).await;
    Mock::given(method("GET"))
        .and(path("/repos/bitnet/engine/issues/7/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "id": 11, "body": "LGTM", "user": { "login": "alice" } },
            { "id": 12, "body": "Notes kept by humans.\n\n<!-- perf:start -->\nold ledger\n<!-- perf:end -->\n\nSign-off: bob", "user": { "login": "bitnet-perfd[bot]" } }
        ])))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/bitnet/engine/issues/comments/12"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "id": 12, "body": "updated" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), Some(app_config(&server.uri())));
    let post = LedgerPost {
        issue: 7,
        section: "### Performance\n- integrative:gate:throughput: success".into(),
    };
    st.store
        .lock()
        .enqueue(
            1,
            "ledger",
            "ledger",
            SHA,
            &serde_json::to_value(&post).unwrap(),
            0.0,
        )
        .unwrap();
    process_due(&st.outbox, &mut Poster::default()).await;
    assert_eq!(entries(&st)[0].state, OutboxState::Posted);
    let reqs = server.received_requests().await.unwrap();
    let body = bodies(&reqs, "PATCH", "/issues/comments/12")[0]["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        body,
        "Notes kept by humans.\n\n<!-- perf:start -->\n### Performance\n- integrative:gate:throughput: success\n<!-- perf:end -->\n\nSign-off: bob"
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_nothing_is_lost() {
    let server = MockServer::start().await;
    mount_token_exchange(&server).await;
    Mock::given(method("GET"))
        .and(path_regex("/check-runs$"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "total_count": 0, "check_runs": [] })),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/bitnet/engine/check-runs"))
        .respond_with(
            ResponseTemplate::new(502).set_body_json(json!({ "message": "Server Error" })),
        )
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/bitnet/engine/check-runs"))
        .respond_with(ResponseTemplate::new(201).set_body_json(check_run_json(
            9,
            "integrative:gate:throughput",
            "bitnet-perfd:c38807541dda",
        )))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), Some(app_config(&server.uri())));
    enqueue(&st, &gate(Conclusion::Failure, "throughput: x"));
    let mut cache = Poster::default();
    process_due(&st.outbox, &mut cache).await;
    let e = &entries(&st)[0];
    assert_eq!((e.state, e.attempts), (OutboxState::Pending, 1), "{e:?}");
    assert!(
        e.last_error
            .as_deref()
            .unwrap()
            .contains("server error 502"),
        "{e:?}"
    );
    assert!(
        e.next_attempt_at > perfd::clock::unix_now(),
        "backoff scheduled"
    );
    // Not due yet: nothing happens.
    assert_eq!(process_due(&st.outbox, &mut cache).await, 0);
    make_due(&st);
    process_due(&st.outbox, &mut cache).await;
    make_due(&st);
    process_due(&st.outbox, &mut cache).await;
    let e = &entries(&st)[0];
    assert_eq!(
        (e.state, e.remote_id.as_deref()),
        (OutboxState::Posted, Some("9")),
        "{e:?}"
    );
    // Reopening the store (a restart) finds the posted entry, nothing pending.
    drop(st);
    let store = Store::open(&dir.path().join("h.sqlite")).unwrap();
    assert!(store.due(f64::MAX, 10).unwrap().is_empty());
}

#[tokio::test]
async fn unauthorized_is_a_clear_error_without_secrets() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/app/installations/42/access_tokens"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "A JSON web token could not be decoded",
            "documentation_url": "https://docs.github.com/rest"
        })))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), Some(app_config(&server.uri())));
    enqueue(&st, &gate(Conclusion::Success, "throughput: x"));
    process_due(&st.outbox, &mut Poster::default()).await;
    let e = &entries(&st)[0];
    assert_eq!(e.state, OutboxState::Pending);
    let err = e.last_error.clone().unwrap();
    assert!(
        err.contains("401") && err.contains("could not be decoded"),
        "{err}"
    );
    assert!(
        !err.contains("BEGIN RSA") && !err.contains("ghs_") && !err.contains("ey"),
        "secret leaked: {err}"
    );
    assert!(
        e.next_attempt_at - perfd::clock::unix_now() >= 299.0,
        "bad credentials retry slowly"
    );
}

#[tokio::test]
async fn without_credentials_gates_are_recorded_as_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), None);
    enqueue(&st, &gate(Conclusion::Failure, "throughput: x"));
    process_due(&st.outbox, &mut Poster::default()).await;
    let e = &entries(&st)[0];
    assert_eq!(e.state, OutboxState::DryRun);
    assert_eq!(e.payload["summary"], "throughput: x");
}

#[tokio::test]
async fn a_rate_limit_pauses_every_post_for_the_time_github_asked() {
    let server = MockServer::start().await;
    mount_token_exchange(&server).await;
    Mock::given(method("GET"))
        .and(path_regex("/check-runs$"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "total_count": 0, "check_runs": [] })),
        )
        .mount(&server)
        .await;
    // The first post hits a secondary rate limit: 403 with retry-after: 2.
    Mock::given(method("POST"))
        .and(path("/repos/bitnet/engine/check-runs"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "2")
                .set_body_json(json!({ "message": "You have exceeded a secondary rate limit." })),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/bitnet/engine/check-runs"))
        .respond_with(ResponseTemplate::new(201).set_body_json(check_run_json(
            11,
            "integrative:gate:throughput",
            "bitnet-perfd:c38807541dda",
        )))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), Some(app_config(&server.uri())));
    // Several gates waiting: none may be sent once the limit is hit.
    for summary in ["a", "b", "c", "d"] {
        let mut g = gate(Conclusion::Success, summary);
        g.name = format!("integrative:gate:{summary}");
        enqueue(&st, &g);
    }
    let mut poster = Poster::default();
    process_due(&st.outbox, &mut poster).await;
    let posts = |reqs: &[Request]| {
        reqs.iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/check-runs"))
            .count()
    };
    let after_limit = posts(&server.received_requests().await.unwrap());
    assert_eq!(after_limit, 1, "posts went on after the rate limit");
    let paused = poster.paused_for(perfd::clock::unix_now());
    assert!(paused > 1.0 && paused <= 2.0, "paused for {paused} s");
    // During the pause nothing is sent, even for entries that are due.
    make_due(&st);
    assert_eq!(process_due(&st.outbox, &mut poster).await, 0);
    assert_eq!(posts(&server.received_requests().await.unwrap()), 1);
    // After it, every entry goes out (the limited one included).
    tokio::time::sleep(std::time::Duration::from_secs_f64(paused + 0.1)).await;
    make_due(&st);
    process_due(&st.outbox, &mut poster).await;
    assert!(
        entries(&st).iter().all(|e| e.state == OutboxState::Posted),
        "{:#?}",
        entries(&st)
    );
}

#[tokio::test]
async fn an_older_ledger_edit_never_overwrites_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), None);
    let ledger = |commit: &str| {
        let post = LedgerPost {
            issue: 7,
            section: format!("### Performance — `{commit}`\n"),
        };
        st.store
            .lock()
            .enqueue(
                1,
                "ledger",
                "ledger",
                commit,
                &serde_json::to_value(&post).unwrap(),
                0.0,
            )
            .unwrap();
    };
    // Commit 3's edit is held back (say by 5xx), then commit 9's is queued.
    ledger("commit3");
    ledger("commit9");
    let pending: Vec<_> = entries(&st)
        .into_iter()
        .filter(|e| e.state == OutboxState::Pending)
        .collect();
    assert_eq!(pending.len(), 1, "{pending:#?}");
    assert_eq!(pending[0].commit, "commit9");
}
