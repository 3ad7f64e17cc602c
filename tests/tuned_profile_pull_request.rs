//! The tuned-profile pull request against a stateful fake GitHub (branches, files and pull
//! requests it remembers): the first proposal creates the branch, the file and one pull request;
//! proposing again updates the file on the same branch and the same pull request, never a second
//! one; an unchanged file is not rewritten.

mod common;

use common::fake_github::b64;
use common::github_mocks::{mount_fake_repository, mount_installation_token};
use perfd::config::{Config, GithubSection};
use perfd::gates::outbox::{process_due, Poster};
use perfd::gates::pull_request::ProfileProposal;
use perfd::harness::host::HostFingerprint;
use perfd::state::DaemonState;
use perfd::store::{NewRun, OutboxState, RunRecord, RunStatus, Store};
use serde_json::json;
use wiremock::MockServer;

const KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github-app-test-key.pem"
);

fn state(dir: &std::path::Path, api: &str) -> DaemonState {
    let mut store = Store::open(&dir.join("h.sqlite")).unwrap();
    store
        .insert_run(&NewRun {
            record: RunRecord {
                started_at: 1.0,
                finished_at: 2.0,
                commit: "abc".into(),
                branch: "main".into(),
                source: "repository".into(),
                status: RunStatus::Success,
                reason: None,
                host_id: "h1".into(),
                noisy: false,
                attempts: 1,
                params: None,
                kernel_ids: None,
                decode_tps: Some(10.0),
                prefill_tps: None,
            },
            report_json: None,
            kernels_json: None,
            samples: vec![],
        })
        .unwrap();
    let config = Config {
        github: Some(GithubSection {
            repository: "bitnet/engine".into(),
            api_url: api.into(),
            app_id: Some(1234),
            installation_id: Some(42),
            private_key_file: Some(KEY.into()),
            token_file: None,
            ledger_issue: None,
            check_suffix: String::new(),
            dry_run: false,
        }),
        ..Config::default()
    };
    DaemonState::new(config, None, store, HostFingerprint::detect())
}

fn proposal(content: &str) -> ProfileProposal {
    ProfileProposal {
        branch: "perfd/tune-h1".into(),
        base: "main".into(),
        path: "perf/profiles/h1.toml".into(),
        content: content.into(),
        message: "perf: tuned kernel profile for host h1".into(),
        title: "perf: tuned kernel profile (h1)".into(),
        body: "Optimization Applied: threads 1→2".into(),
    }
}

async fn post(st: &DaemonState, p: &ProfileProposal) -> OutboxState {
    let id = st
        .store
        .lock()
        .enqueue(
            1,
            "pull_request",
            &p.branch,
            &p.branch,
            &serde_json::to_value(p).unwrap(),
            0.0,
        )
        .unwrap();
    let mut poster = Poster::default();
    process_due(&st.outbox, &mut poster).await;
    let s = st.store.lock();
    s.outbox(None, 100)
        .unwrap()
        .into_iter()
        .find(|e| e.id == id)
        .unwrap()
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_pull_request_is_opened_once_and_updated_in_place() {
    let server = MockServer::start().await;
    mount_installation_token(
        &server,
        "ghs_x",
        json!({ "contents": "write", "pull_requests": "write" }),
    )
    .await;
    let fake = mount_fake_repository(&server, "^/repos/bitnet/engine/.*").await;
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), &server.uri());

    let first = proposal("params = \"threads=2\"\n");
    assert_eq!(post(&st, &first).await, OutboxState::Posted);
    {
        let f = fake.0.lock().unwrap();
        assert_eq!(
            f.branches.get("perfd/tune-h1").map(String::as_str),
            Some("basesha")
        );
        assert_eq!((f.pull_creates, f.pull_updates, f.file_writes), (1, 0, 1));
        let (_, content) = &f.files[&(
            "perfd/tune-h1".to_string(),
            "perf/profiles/h1.toml".to_string(),
        )];
        assert_eq!(content, &b64(&first.content));
    }
    // The same proposal again: nothing to write, the pull request is only refreshed.
    assert_eq!(post(&st, &first).await, OutboxState::Posted);
    // A second tuning with another result: the file is updated (with its sha), same PR.
    let second = proposal("params = \"threads=2,prefetch_bytes=8192\"\n");
    assert_eq!(post(&st, &second).await, OutboxState::Posted);
    let f = fake.0.lock().unwrap();
    assert_eq!(f.pull_creates, 1, "a second pull request was opened");
    assert_eq!(f.pulls.len(), 1);
    assert_eq!(f.pull_updates, 2);
    assert_eq!(
        f.file_writes, 2,
        "an unchanged file was rewritten, or a change was lost"
    );
    let (_, content) = &f.files[&(
        "perfd/tune-h1".to_string(),
        "perf/profiles/h1.toml".to_string(),
    )];
    assert_eq!(content, &b64(&second.content));
}
