//! `perfd bench --backend`: the CUDA backend's command-line surface on a machine without a GPU
//! (CI): clear errors and exit statuses, `auto` falling back to the CPU, the CUDA launch
//! parameters listed and checked, and the `[benchmark] backend` key validated. On a machine with
//! a driver the no-driver checks say so and skip; scripts/gpu-check.sh covers that machine.

use std::process::{Command, Output};

use bitnet_kernels::cuda::driver_present;
use serde_json::Value;

fn perfd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args(args)
        .env_remove("PERFD_BACKEND")
        .output()
        .expect("run perfd")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn backend_cuda_without_a_driver_exits_1_naming_what_is_missing() {
    if driver_present() {
        eprintln!("SKIPPED: a CUDA driver is present (this checks the error without one)");
        return;
    }
    for args in [
        &["bench", "--backend", "cuda", "--preset", "tiny"][..],
        &["bench", "--backend", "cuda", "--kernels"][..],
    ] {
        let o = perfd(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("no CUDA driver (libcuda.so.1 not found)"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            o.stdout.is_empty(),
            "no report for a run that did not happen"
        );
    }
}

#[test]
fn backend_auto_without_a_gpu_benchmarks_on_the_cpu() {
    if driver_present() {
        eprintln!("SKIPPED: a CUDA driver is present (auto would pick the GPU)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = perfd(&[
        "bench",
        "--backend",
        "auto",
        "--preset",
        "tiny",
        "--cache-dir",
        dir.path().to_str().unwrap(),
        "--pp",
        "4",
        "--tg",
        "4",
        "--reps",
        "3",
        "--bandwidth-mib",
        "48",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(r["backend"], "cpu");
    assert!(r.get("gpu").is_none(), "no GPU section for a CPU run");
    assert!(
        r["phases"][1]["tokens_per_second"]["median"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[test]
fn cuda_launch_parameters_are_listed_and_checked_before_any_gpu_work() {
    let o = perfd(&["bench", "--list-params", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v["cuda_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for want in ["lanes_per_row", "gemv_threads", "graph", "fused"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(v["cuda_default"].as_str().unwrap().contains("graph=true"));
    if !driver_present() {
        assert_eq!(
            v["backend"], "cpu",
            "auto without a GPU lists the CPU space"
        );
    }
    // The harness protocol's view with the CUDA backend: its launch parameters are `params`,
    // which the tuner reads and searches (through PERFD_PARAMS).
    let o = Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args(["bench", "--list-params", "--json"])
        .env("PERFD_BACKEND", "cuda")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["backend"], "cuda");
    let space = perfd::tuner::TuneSpace::from_list_params_json(&String::from_utf8_lossy(&o.stdout))
        .expect("the tuner reads the CUDA space");
    assert!(format!("{space:?}").contains("lanes_per_row"), "{space:?}");

    let o = perfd(&["bench", "--backend", "cuda", "--params", "lanes_per_row=12"]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("must be one of 8, 16, 32"),
        "{}",
        stderr(&o)
    );
    let o = perfd(&["bench", "--backend", "cuda", "--ctx", "128"]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--ctx is not available with --backend cuda"),
        "{}",
        stderr(&o)
    );
    // The device session's KV cache is f32: another type is refused before any device work.
    let o = perfd(&["bench", "--backend", "cuda", "--kv-cache", "f16"]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert!(stderr(&o).contains("--kv-cache"), "{}", stderr(&o));
    let o = perfd(&["bench", "--backend", "gpu"]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
}

#[test]
fn config_backend_key_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("perfd.toml");
    std::fs::write(&path, "[benchmark]\nbackend = \"gpu\"\n").unwrap();
    let o = perfd(&["check-config", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    let err = stderr(&o) + &String::from_utf8_lossy(&o.stdout);
    assert!(
        err.contains("benchmark.backend") && err.contains("not one of auto, cpu, cuda"),
        "{err}"
    );
    std::fs::write(&path, "[benchmark]\nbackend = \"cuda\"\n").unwrap();
    let o = perfd(&["check-config", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}
