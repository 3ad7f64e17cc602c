//! `perfd tune` on the real binary: the JSON document, resuming from the store without measuring
//! again, usage errors, and the parameter space a harness lists through PERFD_LIST_PARAMS.

mod common;

use std::process::Command;

use common::perfd_bin;
use serde_json::Value;

fn tune(state: &std::path::Path, cache: &std::path::Path, extra: &[&str]) -> (i32, Value, String) {
    let out = Command::new(perfd_bin())
        .args([
            "tune",
            "--json",
            "--preset",
            "tiny",
            "--crossval-steps",
            "4",
        ])
        .arg("--state-dir")
        .arg(state)
        .arg("--cache-dir")
        .arg(cache)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), doc, stderr)
}

#[test]
fn a_tuning_job_reports_as_json_and_resumes_without_measuring_again() {
    let dir = tempfile::tempdir().unwrap();
    let (state, cache) = (dir.path().join("state"), dir.path().join("cache"));
    // Evaluations, not time, end the search: the second run must replay the same decisions. The
    // budget is far above the few seconds the evaluations take, so a busy host cannot end it first.
    let args = [
        "--budget-secs",
        "3600",
        "--max-evals",
        "6",
        "--adoption-pairs",
        "3",
        "--dry-run",
    ];
    let (code, first, err) = tune(&state, &cache, &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(first["schema"], "bitnet-perfd/tune-report/v1");
    assert_eq!(first["objective"], "decode");
    assert_eq!(first["unit"], "tokens/s");
    assert_eq!(first["trigger"], "manual");
    let job = &first["job"];
    assert!(job["before"].as_str().unwrap().contains("isa="), "{job}");
    assert_eq!(job["evaluations"], 6, "{job}");
    let s1 = &job["attempts"][0]["search"];
    assert_eq!(s1["stopped"], "max_evals", "{s1}");
    assert_eq!(s1["guards_run"], 6, "{s1}");
    assert!(s1["pairs_timed"].as_u64().unwrap() > 0, "{s1}");
    assert_eq!(job["crossval"]["pass"], true, "{job}");
    assert!(first["job_id"].is_null(), "a dry run records no job");

    let (code, second, err) = tune(&state, &cache, &args);
    assert_eq!(code, 0, "{err}");
    let s2 = &second["job"]["attempts"][0]["search"];
    assert_eq!(
        s2["guards_run"], 0,
        "guards were run again: {s2}\nfirst: {s1}"
    );
    assert_eq!(
        s2["pairs_timed"], 0,
        "pairs were timed again: {s2}\nfirst: {s1}"
    );
    assert_eq!(s2["best"], s1["best"]);
    assert_eq!(s2["moves"], s1["moves"]);
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (state, cache) = (dir.path().join("state"), dir.path().join("cache"));
    for (args, says) in [
        (vec!["--objective", "latency"], "--objective"),
        (vec!["--objective", "kernel:0x5"], "--objective"),
        (vec!["--budget-secs", "0"], "--budget-secs"),
        (vec!["--max-evals", "1"], "--max-evals"),
        (vec!["--alpha", "0.9"], "--alpha"),
        (vec!["--params", "threads=999"], "--params"),
        (vec!["--compare-exhaustive"], "kernel:ROWSxCOLS"),
    ] {
        let (code, _, err) = tune(&state, &cache, &args);
        assert_eq!(code, 64, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_harness_lists_its_space_through_the_environment() {
    let out = Command::new(perfd_bin())
        .args(["bench", "--json", "--preset", "tiny"])
        .env("PERFD_LIST_PARAMS", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let space =
        perfd::tuner::TuneSpace::from_list_params_json(&String::from_utf8_lossy(&out.stdout))
            .unwrap();
    let names: Vec<&str> = space.dims.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names[..2], ["isa", "threads"]);
    assert!(
        names.contains(&"prefetch_bytes")
            && names.contains(&"decode_row_tile")
            && names.contains(&"kv_prefetch_hint")
            && names.contains(&"amx")
            && names.len() == 13,
        "{names:?}"
    );
    let isa = &space.dims[0].values;
    assert!(!isa.iter().any(|v| v == "auto" || v == "scalar"), "{isa:?}");
}
