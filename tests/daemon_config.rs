//! `perfd check-config` and `perfd run` with bad configuration files: exit 64, key and line named.

mod common;

use std::process::Command;

fn perfd(args: &[&str]) -> std::process::Output {
    Command::new(common::perfd_bin())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn valid_example_config_passes() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/daemon/systemd/perfd.toml.example"
    );
    let o = perfd(&["check-config", example]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok"));
}

#[test]
fn bad_configs_exit_64_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (text, needles) in [
        (
            "[schedule]\ninterval_secs = 60\nintervall = 1\n",
            vec!["schedule.intervall", "line 3", "unknown field"],
        ),
        (
            "[daemon]\nlisten = \"nowhere\"\n",
            vec!["daemon.listen", "line 2"],
        ),
        (
            "[benchmark]\nreps = 0\nparams = \"row_tile=3\"\n",
            vec!["benchmark.reps (line 2)", "benchmark.params (line 3)"],
        ),
        (
            "[repository]\nbranch = \"main\"\n",
            vec!["repository", "url"],
        ),
        ("[schedule\n", vec!["line 1"]),
        (
            "[noise]\nlimit_cores = \"high\"\n",
            vec!["noise.limit_cores", "line 2"],
        ),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        for cmd in [
            vec!["check-config", path.to_str().unwrap()],
            vec!["run", "--config", path.to_str().unwrap()],
        ] {
            let o = perfd(&cmd);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(64), "{cmd:?} on {text:?}: {err}");
            for n in &needles {
                assert!(err.contains(n), "{cmd:?} on {text:?}: `{n}` not in {err}");
            }
        }
    }
    let o = perfd(&["check-config", "/nonexistent/perfd.toml"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/perfd.toml"));
}

#[test]
fn second_daemon_on_the_same_state_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = common::start(
        dir.path(),
        "[schedule]\ninterval_secs = 3600\n\n[benchmark]\npreset = \"tiny\"\n",
    );
    let o = perfd(&["run", "--config", d.config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("another perfd"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(d.stop(30).success());
}
