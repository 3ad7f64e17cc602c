//! End-to-end: the daemon tracking a local git repository fixture — each new mainline commit
//! benchmarked with the real `perfd bench`, failures recorded with reasons, hung harnesses killed,
//! SIGTERM mid-run leaving a consistent store, and restarts keeping history.

mod common;

use common::{
    fixture_repo, git, process_running, promtool_check_metrics, start, start_with, TINY_HARNESS,
};

/// The noise limit is far above any host's load: these tests are about tracking the repository,
/// and on a busy host (or beside this file's other daemons) the default limit marks every run
/// noisy, which leaves a regression without a baseline to judge against.
fn config(repo: &std::path::Path, harness_timeout: u64, build: &str) -> String {
    format!(
        "[schedule]\ninterval_secs = 1\nrebench_interval_secs = 0\n\n[repository]\nurl = \"{}\"\nbranch = \"main\"\nbuild_command = \"{build}\"\nharness_command = \"sh bench.sh\"\nharness_timeout_secs = {harness_timeout}\n\n[noise]\nlimit_cores = 64.0\nmax_retries = 0\n",
        repo.display()
    )
}

/// Waits until `commit` has a successful run; the run list then.
fn benchmarked(d: &common::Daemon, commit: &str) -> Vec<serde_json::Value> {
    d.wait_runs(300, &format!("{commit} benchmarked"), |r| {
        r.iter()
            .any(|x| x["commit"] == commit && x["status"] == "success")
    })
}

/// Commits a second change to the fixture's mainline; its sha.
fn commit_second(repo: &std::path::Path) -> String {
    std::fs::write(repo.join("CHANGELOG"), "second\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "second"]);
    git(repo, &["rev-parse", "HEAD"])
}

#[test]
fn each_new_mainline_commit_is_benchmarked_once() {
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture_repo(dir.path(), TINY_HARNESS);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    let d = start(dir.path(), &config(&repo, 120, "sh build.sh"));
    benchmarked(&d, &first);

    let second = commit_second(&repo);
    let runs = benchmarked(&d, &second);
    // A few more ticks: nothing new to run (rebench disabled), so each commit ran exactly once.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let runs_now = d.runs();
    assert_eq!(
        runs_now.len(),
        runs.len(),
        "unchanged mainline was benchmarked again: {runs_now:#?}"
    );
    assert_eq!(
        runs_now
            .iter()
            .filter(|r| r["commit"] == first.as_str())
            .count(),
        1
    );
    assert!(runs_now
        .iter()
        .all(|r| r["source"] == "repository" && r["branch"] == "main"));
    // The build ran in the commit's worktree.
    assert!(d
        .state_dir
        .join("worktrees")
        .join(&second)
        .join("built.txt")
        .exists());

    let (_, _, metrics) = d.get("/metrics");
    assert!(
        metrics.contains(&format!("commit=\"{second}\"")),
        "bench_info not on the new commit"
    );
    let (ok, out) = promtool_check_metrics(&metrics);
    assert!(ok, "{out}");
    assert!(d.stop(30).success());
}

/// `[regression] metric = "decode_tps_at_64"`: the second commit is judged on decode after 64
/// cached positions, its samples and the baseline's read from the reports' depth figures.
#[test]
fn regression_follows_decode_at_a_cache_depth() {
    let dir = tempfile::tempdir().unwrap();
    let harness = TINY_HARNESS.replace('\n', " --ctx 64\n");
    let repo = fixture_repo(dir.path(), &harness);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    // No drop makes a suspect (an A/B would only add harness runs to this test).
    let body = config(&repo, 120, "sh build.sh")
        + "\n[regression]\nmetric = \"decode_tps_at_64\"\nsuspicion_effect = 0.9\n";
    let d = start(dir.path(), &body);
    benchmarked(&d, &first);
    let second = commit_second(&repo);
    let runs = benchmarked(&d, &second);
    let detail = |commit: &str| -> serde_json::Value {
        let id = runs.iter().find(|x| x["commit"] == commit).unwrap()["id"]
            .as_i64()
            .unwrap();
        serde_json::from_str(&d.get(&format!("/api/v1/runs/{id}")).2).unwrap()
    };
    let at_depth = |run: &serde_json::Value| {
        let c = &run["report"]["decode_at_context"][0];
        assert_eq!(c["positions"], 64, "{run}");
        c["tokens_per_second"]["median"].as_f64().unwrap()
    };
    let judged = common::wait_for(std::time::Duration::from_secs(60), || {
        let run = detail(&second);
        run["verdicts"]["regression"].is_object().then_some(run)
    })
    .unwrap_or_else(|| panic!("the second run was not judged:\n{}", d.log()));
    let a = &judged["verdicts"]["regression"];
    assert_eq!(a["metric"], "decode_tps_at_64", "{a}");
    assert_eq!(a["current_median"].as_f64().unwrap(), at_depth(&judged));
    assert_eq!(
        a["baseline_median"].as_f64().unwrap(),
        at_depth(&detail(&first))
    );
    assert!(d.stop(30).success());
}

#[test]
fn hanging_harness_is_killed_by_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture_repo(dir.path(), "sleep 317\n");
    let d = start(dir.path(), &config(&repo, 2, "true"));
    let runs = d.wait_runs(300, "timeout recorded", |r| {
        r.iter().any(|x| x["status"] == "timeout")
    });
    let reason = runs[0]["reason"].as_str().unwrap();
    assert!(reason.contains("timeout of 2 s"), "{reason}");
    // Killed with its group when the timeout fired; a busy host may take a moment to reap it.
    common::wait_for(std::time::Duration::from_secs(30), || {
        (!process_running("sleep 317")).then_some(())
    })
    .expect("the hung harness survived its timeout");
    assert!(d.stop(30).success());
}

#[test]
fn build_failure_and_bad_report_are_recorded_runs() {
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture_repo(dir.path(), "echo this is not a report\n");
    std::fs::write(repo.join("build.sh"), "echo compiling; exit 3\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "break the build"]);
    let d = start(dir.path(), &config(&repo, 30, "sh build.sh"));
    let runs = d.wait_runs(300, "build failure", |r| {
        r.iter().any(|x| x["status"] == "build_failed")
    });
    let reason = runs[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("build exited with status 3") && reason.contains("build.log"),
        "{reason}"
    );
    let log_path = reason.split("log: ").nth(1).unwrap().trim_end_matches(')');
    assert!(std::fs::read_to_string(log_path)
        .unwrap()
        .contains("compiling"));
    assert!(d.stop(30).success());

    // A fixing commit: the build passes, the harness prints garbage — a harness failure naming
    // the problem, on the new commit, with the earlier failure still in the history.
    std::fs::write(repo.join("build.sh"), "echo fixed\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "fix the build"]);
    let fixed = git(&repo, &["rev-parse", "HEAD"]);
    let d = start_with(
        dir.path(),
        &dir.path().join("perfd.toml"),
        &dir.path().join("state"),
    );
    let runs = d.wait_runs(300, "harness failure", |r| {
        r.iter().any(|x| x["status"] == "harness_failed")
    });
    assert_eq!(runs[0]["commit"], fixed.as_str());
    assert!(
        runs[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not one JSON document"),
        "{:?}",
        runs[0]
    );
    assert!(
        runs.iter().any(|x| x["status"] == "build_failed"),
        "history kept across restart"
    );
    let (_, _, metrics) = d.get("/metrics");
    assert!(metrics.contains("bitnet_bench_runs_total{result=\"build_failed\"} 1"));
    assert!(d.stop(30).success());
}

#[test]
fn sigterm_mid_run_records_a_cancelled_run_and_keeps_the_store_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture_repo(dir.path(), "sleep 323\n");
    let d = start(dir.path(), &config(&repo, 600, "true"));
    common::wait_for(std::time::Duration::from_secs(300), || {
        let (_, _, body) = d.get("/api/v1/runs");
        body.contains("\"step\": \"harness\"").then_some(())
    })
    .unwrap_or_else(|| panic!("harness never started; log:\n{}", d.log()));
    // The run says "harness" when the daemon starts it; on a busy host the shell may not have
    // started its `sleep` yet.
    common::wait_for(std::time::Duration::from_secs(60), || {
        process_running("sleep 323").then_some(())
    })
    .unwrap_or_else(|| panic!("the harness's sleep never ran; log:\n{}", d.log()));
    let state = d.state_dir.clone();
    let started = std::time::Instant::now();
    let status = d.stop(30);
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed().as_secs() < 15,
        "stop took {:?}",
        started.elapsed()
    );
    common::wait_for(std::time::Duration::from_secs(30), || {
        (!process_running("sleep 323")).then_some(())
    })
    .expect("harness left running after SIGTERM");
    let db = rusqlite::Connection::open(state.join("history.sqlite")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let (status, reason): (String, String) = db
        .query_row(
            "SELECT status, reason FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "cancelled");
    assert!(reason.contains("perfd is stopping"), "{reason}");
}

#[test]
fn sigkill_mid_run_leaves_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture_repo(dir.path(), TINY_HARNESS);
    let mut d = start(dir.path(), &config(&repo, 120, "true"));
    d.wait_runs(300, "a stored run", |r| !r.is_empty());
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let db = rusqlite::Connection::open(d.state_dir.join("history.sqlite")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert!(n >= 1);
    // Every stored run has its samples (runs and samples are written in one transaction).
    let orphans: i64 = db
        .query_row("SELECT COUNT(*) FROM runs WHERE status = 'success' AND id NOT IN (SELECT run_id FROM samples)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(orphans, 0);
}
