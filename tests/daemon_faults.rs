//! End-to-end faults on the real daemon: a store that cannot write (another process holds the
//! database's write lock), a corrupt database at start-up, SIGKILL in the middle of a run, a bad
//! model in the configuration, durations that would overflow the scheduler, and the child guard
//! that ends like its command.

mod common;

use std::time::Duration;

use common::{fixture_repo, process_running, start, start_with};

const EMBEDDED: &str = "[schedule]\ninterval_secs = 1\n\n[benchmark]\npreset = \"tiny\"\nprompt_tokens = 4\ngen_tokens = 4\nreps = 3\nbandwidth_memory_mib = 48\n\n[noise]\nlimit_cores = 64.0\n";

fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
}

#[test]
fn a_run_the_store_cannot_take_is_spooled_and_stored_later() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), EMBEDDED);
    d.wait_runs(300, "a first run", |r| {
        r.iter().any(|x| x["status"] == "success")
    });
    // Another process takes the database's write lock and keeps it: every write times out.
    let db = rusqlite::Connection::open(d.state_dir.join("history.sqlite")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (_, _, before) = d.get("/metrics");
    let stored_before = metric(&before, "bitnet_bench_runs_total{result=\"success\"}").unwrap();
    let not_ready = common::wait_for(Duration::from_secs(300), || {
        let (status, _, body) = d.get("/readyz");
        (status == 503).then_some(body)
    })
    .unwrap_or_else(|| {
        panic!(
            "readyz stayed 200 while the store could not write; log:\n{}",
            d.log()
        )
    });
    assert!(
        not_ready.contains("history store cannot write"),
        "{not_ready}"
    );
    let (_, _, m) = d.get("/metrics");
    assert!(
        metric(&m, "bitnet_store_errors_total").unwrap() >= 1.0,
        "{m}"
    );
    assert!(metric(&m, "bitnet_spooled_runs").unwrap() >= 1.0, "{m}");
    assert!(d.state_dir.join("spool").read_dir().unwrap().count() >= 1);
    // The lock goes away: the spooled runs reach the store and the daemon is ready again.
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    common::wait_for(Duration::from_secs(300), || {
        let (_, _, m) = d.get("/metrics");
        let stored = metric(&m, "bitnet_bench_runs_total{result=\"success\"}")?;
        (d.get("/readyz").0 == 200
            && metric(&m, "bitnet_spooled_runs") == Some(0.0)
            && stored >= stored_before + 1.0)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("spooled run never stored; log:\n{}", d.log()));
    assert!(d.log().contains("spooled run stored"), "{}", d.log());
    assert!(d.stop(60).success());
}

#[test]
fn a_corrupt_database_is_moved_aside_and_the_daemon_starts_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let db_path = state.join("history.sqlite");
    {
        let db = rusqlite::Connection::open(&db_path).unwrap();
        db.execute_batch(
            "CREATE TABLE filler (x TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO filler SELECT hex(randomblob(64)) FROM n;",
        )
        .unwrap();
    }
    // Every page after the header page is garbage.
    let mut bytes = std::fs::read(&db_path).unwrap();
    assert!(bytes.len() > 3 * 4096);
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i * 31 % 251) as u8;
    }
    std::fs::write(&db_path, bytes).unwrap();
    let d = start(dir.path(), "[schedule]\ninterval_secs = 3600\n\n[benchmark]\npreset = \"tiny\"\nbandwidth_memory_mib = 48\n");
    assert_eq!(d.get("/api/v1/runs").0, 200, "log:\n{}", d.log());
    assert!(d.log().contains("moved it aside"), "{}", d.log());
    let moved: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    assert!(!moved.is_empty(), "the corrupt file was not kept");
    assert!(d.stop(60).success());
}

fn repo_config(repo: &std::path::Path, harness: &str) -> String {
    format!(
        "[schedule]\ninterval_secs = 1\nrebench_interval_secs = 0\n\n[repository]\nurl = \"{}\"\nbuild_command = \"true\"\nharness_command = \"{harness}\"\nharness_timeout_secs = 900\n\n[noise]\nlimit_cores = 64.0\nmax_retries = 0\n",
        repo.display()
    )
}

#[test]
fn sigkill_of_the_daemon_takes_its_benchmark_along_and_the_run_is_recorded_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    // The harness itself (exec) and a grandchild it leaves in its process group.
    let repo = fixture_repo(dir.path(), "sleep 337 &\nexec sleep 331\n");
    let mut d = start(dir.path(), &repo_config(&repo, "sh bench.sh"));
    common::wait_for(Duration::from_secs(300), || {
        (process_running("sleep 331") && process_running("sleep 337")).then_some(())
    })
    .unwrap_or_else(|| panic!("harness never started; log:\n{}", d.log()));
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    // The guard notices and takes the harness and its grandchild along, before any restart.
    common::wait_for(Duration::from_secs(60), || {
        (!process_running("sleep 331") && !process_running("sleep 337")).then_some(())
    })
    .expect("the harness outlived the SIGKILLed daemon");
    // The next start (harness now fails at once) records the run and what became of it.
    let config = dir.path().join("perfd2.toml");
    let text = std::fs::read_to_string(&d.config)
        .unwrap()
        .replace("sh bench.sh", "exit 3");
    std::fs::write(&config, text).unwrap();
    let state = d.state_dir.clone();
    drop(d);
    let d = start_with(dir.path(), &config, &state);
    let runs = d.wait_runs(300, "the interrupted run", |r| {
        r.iter().any(|x| x["status"] == "interrupted")
    });
    let run = runs.iter().find(|x| x["status"] == "interrupted").unwrap();
    let reason = run["reason"].as_str().unwrap();
    assert!(reason.contains("harness step"), "{reason}");
    assert!(reason.contains("children"), "{reason}");
    let (_, _, m) = d.get("/metrics");
    assert!(
        m.contains("bitnet_bench_runs_total{result=\"interrupted\"} 1"),
        "{m}"
    );
    assert!(d.stop(60).success());
}

/// `perfd child-guard`, the first program of every benchmark child, ends the way its command
/// ended: with its exit code, or killed by the same signal (its grandchildren are not waited for).
#[test]
fn the_child_guard_ends_like_its_command() {
    use std::os::unix::process::ExitStatusExt;
    let guard = |script: &str| {
        std::process::Command::new(common::perfd_bin())
            .args(["child-guard", "--parent"])
            .arg(std::process::id().to_string())
            .args(["--", "sh", "-c", script])
            .stdin(std::process::Stdio::null())
            .status()
            .unwrap()
    };
    assert_eq!(guard("exit 7").code(), Some(7));
    assert_eq!(guard("true").code(), Some(0));
    let killed = guard("kill -TERM $$");
    assert_eq!(killed.signal(), Some(15), "{killed:?}");
    // A child that outlives the command in the background does not hold the guard up.
    let status = guard("sleep 307 > /dev/null 2>&1 & exit 4");
    assert_eq!(status.code(), Some(4));
    // The stray sleep: started here, the guard did not lead a process group the daemon would kill.
    std::process::Command::new("pkill")
        .args(["-f", "sleep 307"])
        .status()
        .unwrap();
    // Without its parent the guard refuses to start the command at all.
    let orphan = std::process::Command::new(common::perfd_bin())
        .args(["child-guard", "--parent", "1", "--", "sh", "-c", "exit 0"])
        .output()
        .unwrap();
    assert!(!orphan.status.success());
    assert!(
        String::from_utf8_lossy(&orphan.stderr).contains("exited before its child started"),
        "{}",
        String::from_utf8_lossy(&orphan.stderr)
    );
}

#[test]
fn a_bad_model_is_caught_by_check_config_and_its_cause_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("not-a-model.gguf");
    std::fs::write(&model, b"this is not a GGUF file at all").unwrap();
    let body = format!(
        "[schedule]\ninterval_secs = 3600\n\n[benchmark]\nmodel = \"{}\"\nprompt_tokens = 4\ngen_tokens = 4\nreps = 3\nbandwidth_memory_mib = 48\n\n[noise]\nlimit_cores = 64.0\nmax_retries = 0\n",
        model.display()
    );
    let cfg = dir.path().join("check.toml");
    std::fs::write(&cfg, &body).unwrap();
    let out = std::process::Command::new(common::perfd_bin())
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("benchmark.model") && err.contains("not a GGUF file"),
        "{err}"
    );

    let d = start(dir.path(), &body);
    let runs = d.wait_runs(300, "the failed run", |r| !r.is_empty());
    assert_eq!(runs[0]["status"], "harness_failed");
    let reason = runs[0]["reason"].as_str().unwrap();
    assert!(reason.contains("not a GGUF file"), "{reason}");
    let id = runs[0]["id"].as_i64().unwrap();
    let (_, _, one) = d.get(&format!("/api/v1/runs/{id}"));
    assert!(one.contains("not a GGUF file"), "{one}");
    assert!(d.stop(60).success());
}

#[test]
fn durations_that_would_overflow_are_refused_with_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("perfd.toml");
    std::fs::write(&cfg, "[schedule]\ninterval_secs = 9223372036854775807\n").unwrap();
    for args in [
        vec!["check-config", cfg.to_str().unwrap()],
        vec!["run", "--config", cfg.to_str().unwrap()],
    ] {
        let out = std::process::Command::new(common::perfd_bin())
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(err.contains("schedule.interval_secs (line 2)"), "{err}");
    }
}

#[test]
fn state_directory_problems_are_said_once_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state-is-a-file");
    std::fs::write(&file, "").unwrap();
    let cfg = dir.path().join("perfd.toml");
    std::fs::write(
        &cfg,
        format!(
            "[daemon]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n",
            file.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(common::perfd_bin())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is not a directory") && !err.contains("File exists"),
        "{err}"
    );

    // A second daemon on the same state directory.
    let d = start(dir.path(), "[schedule]\ninterval_secs = 3600\n");
    let out = std::process::Command::new(common::perfd_bin())
        .args(["run", "--config", d.config.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("another perfd is already running"), "{err}");
    assert!(
        !err.contains("EAGAIN") && !err.contains("os error"),
        "{err}"
    );
    assert!(d.stop(60).success());
}

#[test]
fn connections_past_the_limit_get_a_clear_503() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), "[schedule]\ninterval_secs = 3600\n\n[benchmark]\npreset = \"tiny\"\nbandwidth_memory_mib = 48\n");
    // Hold the daemon's whole connection budget with idle keep-alive connections (each sends
    // one request so that it is surely accepted and served before the next is opened).
    let mut held = Vec::new();
    for _ in 0..256 {
        let mut s = std::net::TcpStream::connect(&d.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let (status, _, body) = d.get("/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("too many connections"), "{body}");
    // Freed slots serve again.
    held.truncate(200);
    let ok = common::wait_for(Duration::from_secs(30), || {
        (d.get("/healthz").0 == 200).then_some(())
    });
    assert!(ok.is_some(), "slots were not freed");
    drop(held);
    assert!(d.stop(60).success());
}
