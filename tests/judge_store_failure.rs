//! The store fails while a run is judged (another process takes the verdicts table away): no
//! verdict and no gate come from the failure, readiness says why, and the run is judged — and
//! gated — at the next call, once the store works again.

use perfd::harness::host::HostFingerprint;
use perfd::run::{NewRun, RecordedRun, RunRecord, RunStatus};
use perfd::state::DaemonState;
use perfd::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_while_judging_posts_no_gate_and_the_run_is_judged_later() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    let mut store = Store::open(&db).unwrap();
    let row = store
        .insert_run(&NewRun {
            record: RunRecord {
                started_at: 1.0,
                finished_at: 2.0,
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
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
                prefill_tps: Some(50.0),
            },
            report_json: None,
            kernels_json: None,
            samples: vec![("decode_tps".into(), vec![10.0, 10.1, 9.9])],
        })
        .unwrap();
    let config = perfd::config::parse(
        &format!(
            "[daemon]\nstate_dir = \"{}\"\n\n[repository]\nurl = \"{}\"\n\n[tuner]\non = []\n",
            dir.path().display(),
            dir.path().join("no-repo").display()
        ),
        "test.toml",
    )
    .unwrap();
    let state = DaemonState::new(config.clone(), None, store, HostFingerprint::detect());
    state.health.set_started();
    let run = RecordedRun {
        row,
        report: None,
        kernels: None,
    };
    let id = run.row.id;
    let other = rusqlite::Connection::open(&db).unwrap();
    other
        .execute_batch("ALTER TABLE verdicts RENAME TO verdicts_away")
        .unwrap();
    let (_stop, mut shutdown) = tokio::sync::watch::channel(false);

    perfd::scheduler::judge_runs(&state, &config, vec![run], &mut shutdown).await;
    assert!(
        state.store.lock().outbox(None, 100).unwrap().is_empty(),
        "a gate was queued from a failed judgement"
    );
    let why = state.health.readiness().unwrap_err();
    assert!(why.contains(&format!("judging run {id}")), "{why}");

    other
        .execute_batch("ALTER TABLE verdicts_away RENAME TO verdicts")
        .unwrap();
    // The next tick: nothing new recorded, the waiting run is judged.
    perfd::scheduler::judge_runs(&state, &config, Vec::new(), &mut shutdown).await;
    let gates: Vec<_> = state
        .store
        .lock()
        .outbox(None, 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "gate")
        .collect();
    assert_eq!(gates.len(), 2, "{gates:?}");
    assert_eq!(state.health.readiness(), Ok(()));
    let verdicts = state.store.lock().verdicts(id).unwrap().unwrap();
    assert_eq!(verdicts.gates.len(), 2);
    // Without a baseline the perf gate is neutral, not "failure" from a store error.
    assert!(verdicts
        .gates
        .iter()
        .all(|g| g.conclusion != perfd::gates::Conclusion::Failure));
}
