//! Regression detection on the real daemon under realistic between-process drift: a fixture
//! repository whose harness reports decode tokens/s = the commit's level × a per-process drift
//! (lognormal, σ 3 %) × a slow mode (−6 % in 5 % of processes) × 0.3 % scatter per sample, every
//! process drawn independently — the commit's own run and every A/B run alike. Flat commits and a
//! −1 % step must not fail a gate; a −3 % step on top of it must be confirmed (a failing
//! throughput gate) within 10 commits.
//!
//! The drift comes from a seeded generator indexed by the harness invocation, so a run of this
//! test is reproducible; the detection rates over many series are `benches/regression_detection.rs`'s.
//! (One test in its own binary: other daemons running in parallel would trip the noise guard.)

mod common;

use common::{git, start};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The drifting harness: the real report of a tiny `perfd bench`, its tokens/s rescaled per
/// process. Arguments: template report, invocation counter file, seed.
const DRIFT_HARNESS: &str = r#"import json, math, random, sys
template, counter, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    level = float(open("level.txt").read())
except FileNotFoundError:
    level = 1.0
try:
    n = int(open(counter).read())
except FileNotFoundError:
    n = 0
open(counter, "w").write(str(n + 1))
r = random.Random(seed * 1000003 + n)
process = level * math.exp(0.03 * r.gauss(0, 1)) * (0.94 if r.random() < 0.05 else 1.0)
report = json.load(open(template))
for phase in report["phases"]:
    s = phase["tokens_per_second"]
    base = s["median"]
    samples = [base * process * (1 + 0.003 * r.gauss(0, 1)) for _ in s["samples"]]
    ordered = sorted(samples)
    median = ordered[len(ordered) // 2]
    s["samples"] = samples
    s["median"] = median
    s["mad"] = sorted(abs(x - median) for x in samples)[len(samples) // 2]
    s["ci95"] = [ordered[0], ordered[-1]]
json.dump(report, sys.stdout)
"#;

const SEED: u64 = 7;

fn commit(repo: &Path, level: f64, msg: &str) -> String {
    std::fs::write(repo.join("level.txt"), format!("{level}\n")).unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "--allow-empty", "-m", msg]);
    git(repo, &["rev-parse", "HEAD"])
}

/// The judged verdicts of `sha`'s run: (throughput conclusion, its text, A/B runs spent).
fn judged(d: &common::Daemon, sha: &str) -> (String, String, usize) {
    let runs = d.wait_runs(600, "the commit benchmarked", |r| {
        r.iter()
            .any(|x| x["commit"] == sha && x["status"] == "success")
    });
    let id = runs
        .iter()
        .find(|x| x["commit"] == sha && x["status"] == "success")
        .and_then(|x| x["id"].as_i64())
        .expect("run id");
    let v = common::wait_for(Duration::from_secs(600), || {
        let (status, _, body) = d.get(&format!("/api/v1/runs/{id}"));
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).ok()?;
        (!v["verdicts"].is_null()).then_some(v)
    })
    .unwrap_or_else(|| panic!("run {id} was not judged; log:\n{}", d.log()));
    let gates = v["verdicts"]["gates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let throughput = gates
        .iter()
        .find(|g| g["name"] == "integrative:gate:throughput")
        .unwrap_or_else(|| panic!("no throughput gate: {v:#}"));
    let ab = &v["verdicts"]["ab"];
    let spent = ["baseline", "candidate"]
        .iter()
        .map(|side| ab["runs"][side].as_array().map_or(0, Vec::len))
        .sum();
    (
        throughput["conclusion"].as_str().unwrap_or("").to_string(),
        throughput["text"].as_str().unwrap_or("").to_string(),
        spent,
    )
}

#[test]
fn drift_does_not_fail_flat_or_small_steps_and_a_3_percent_step_is_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    // A real report to rescale: the tiny model's phases, host and bandwidth as measured here.
    let template = dir.path().join("template.json");
    let out = std::process::Command::new(common::perfd_bin())
        .args([
            "bench",
            "--json",
            "--preset",
            "tiny",
            "--pp",
            "8",
            "--tg",
            "8",
            "--reps",
            "5",
            "--bandwidth-mib",
            "48",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&template, &out.stdout).unwrap();
    let counter = dir.path().join("harness-invocations");

    let repo = common::fixture_repo(dir.path(), "");
    std::fs::write(repo.join("bench.py"), DRIFT_HARNESS).unwrap();
    let config = format!(
        "[schedule]\ninterval_secs = 1\nrebench_interval_secs = 0\n\n[repository]\nurl = \"{}\"\nbuild_command = \"true\"\nharness_command = \"{} bench.py {} {} {SEED}\"\nharness_timeout_secs = 60\n\n\
         [noise]\nlimit_cores = 64.0\nmax_retries = 0\n\n[slo]\n\n[regression]\nab_metric = \"tokens_per_second\"\n\n[tuner]\non = []\n",
        repo.display(),
        common::python3(),
        template.display(),
        counter.display(),
    );
    let d = start(dir.path(), &config);

    // Flat history, a −1 % step, then a −3 % step on top of it.
    let mut phases: Vec<(&str, f64, usize)> = vec![
        ("flat", 1.0, 24),
        ("-1 %", 0.99, 8),
        ("-3 %", 0.99 * 0.97, 10),
    ];
    let mut confirmed_after = None;
    let mut failures = Vec::new();
    let mut spent: Vec<(String, usize)> = Vec::new();
    for (name, level, commits) in phases.drain(..) {
        for i in 0..commits {
            let sha = commit(&repo, level, &format!("{name} {i}"));
            let (conclusion, text, runs) = judged(&d, &sha);
            spent.push((format!("{name} {i}"), runs));
            if name == "-3 %" {
                if conclusion == "failure" {
                    assert!(text.contains("regression confirmed"), "{text}");
                    confirmed_after = Some(i + 1);
                    break;
                }
            } else if conclusion == "failure" {
                failures.push(format!("{name} commit {i}: {text}"));
            }
        }
    }
    eprintln!("A/B runs per commit: {spent:?}");
    assert!(
        failures.is_empty(),
        "gates failed without a 3 % step:\n{}\nlog:\n{}",
        failures.join("\n"),
        d.log()
    );
    let after = confirmed_after.unwrap_or_else(|| {
        panic!(
            "the −3 % step was not confirmed within 10 commits; log:\n{}",
            d.log()
        )
    });
    eprintln!("−3 % step confirmed at its commit {after}");
    assert!(d.stop(30).success());
}
