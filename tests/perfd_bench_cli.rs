//! End-to-end: the real `perfd bench` binary, its JSON report (harness protocol v1), its
//! parameter listing, and its errors for bad input.

use std::process::{Command, Output};

use serde_json::Value;

/// Runs perfd; `bench` gets small bandwidth arrays so the run does not depend on the host's LLC.
fn perfd(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perfd"));
    cmd.args(args);
    if args.first() == Some(&"bench") {
        cmd.args(["--bandwidth-mib", "48"]);
        // These are the CPU suites' tests, also on a machine with a GPU (perfd_cuda_cli.rs has
        // the backend's own).
        if !args.contains(&"--backend") {
            cmd.args(["--backend", "cpu"]);
        }
    }
    cmd.output().expect("run perfd")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn kernel_bench_json_report_is_complete_and_measured() {
    let o = perfd(&[
        "bench",
        "--kernels",
        "--json",
        "--crossval",
        "--shapes",
        "256x512,17x300",
        "--samples",
        "3",
        "--sample-ms",
        "2",
    ]);
    assert!(o.status.success(), "perfd failed: {}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    assert_eq!(r["schema"], "bitnet-perfd/bench-report/v1");
    assert_eq!(r["suite"], "kernels");
    assert!(r["commit"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(r["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(r["host"]["id"].as_str().is_some_and(|id| id.len() == 12));
    let isas = r["host"]["kernel_isas"].as_array().unwrap().len();
    let ids: Vec<&str> = r["kernel_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        isas,
        "one default configuration per supported ISA"
    );
    assert!(ids.contains(&"i2s_gemv_scalar"));
    let bw = &r["memory_bandwidth"];
    for k in ["copy", "triad", "read"] {
        assert!(bw[k]["median"].as_f64().unwrap() > 1e8, "{k} bandwidth");
        assert_eq!(
            bw[k]["samples"].as_array().unwrap().len(),
            12,
            "two rounds of six"
        );
    }
    let kernels = r["kernels"].as_array().unwrap();
    // Every ISA × 2 shapes × {cache, dram}.
    assert_eq!(kernels.len(), isas * 2 * 2);
    for k in kernels {
        let ns = &k["ns_per_op"];
        assert_eq!(ns["samples"].as_array().unwrap().len(), 3);
        assert!(ns["median"].as_f64().unwrap() > 0.0);
        assert!(ns["ci95"][0].as_f64().unwrap() <= ns["median"].as_f64().unwrap());
        assert!(k["roofline_ratio"].as_f64().unwrap() > 0.0);
        assert!(k["bytes_per_op"].as_u64().unwrap() > 0);
        if k["residency"] == "dram" {
            // The working set is 4x the LLC, within the memory cap (48 MiB here), and never one
            // matrix repeated.
            let llc = r["host"]["llc_bytes"].as_u64().unwrap_or(32 << 20);
            let ws = k["working_set_bytes"].as_u64().unwrap();
            assert!(
                ws >= (4 * llc).min(48 << 20) - k["bytes_per_op"].as_u64().unwrap(),
                "{ws}"
            );
            assert!(
                ws <= (48 << 20) + 2 * k["bytes_per_op"].as_u64().unwrap(),
                "{ws}"
            );
            assert!(k["matrices"].as_u64().unwrap() >= 2);
        } else {
            assert_eq!(k["matrices"], 1);
        }
    }
    let cv = r["crossval"]
        .as_array()
        .expect("crossval section when asked");
    assert_eq!(cv.len(), isas);
    assert!(cv
        .iter()
        .all(|c| c["pass"] == true && c["i32_mismatches"] == 0));
    assert!(r["noise"]["noisy"].is_boolean());
}

#[test]
fn human_output_names_kernels_and_bandwidth() {
    let o = perfd(&[
        "bench",
        "--kernels",
        "--params",
        "isa=scalar,threads=1",
        "--shapes",
        "64x256",
        "--residency",
        "cache",
        "--samples",
        "3",
        "--sample-ms",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("STREAM"), "{text}");
    assert!(text.contains("i2s_gemv_scalar"), "{text}");
    assert!(
        !text.contains("i2s_gemv_avx2"),
        "--params restricts to one configuration"
    );
}

#[test]
fn list_params_prints_the_space() {
    let o = perfd(&["bench", "--list-params", "--json"]);
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in [
        "isa",
        "threads",
        "rows_per_task",
        "row_tile",
        "batch_width",
        "col_block",
        "prefetch_bytes",
        "pin_threads",
    ] {
        assert!(names.contains(&n), "{n} missing");
    }
    assert!(v["valid_configurations"].as_u64().unwrap() > 0);
    let o = perfd(&["bench", "--list-params"]);
    assert!(String::from_utf8(o.stdout).unwrap().contains("constraints"));
}

#[test]
fn bad_input_exits_64_naming_the_problem() {
    for (args, needle) in [
        (
            vec!["bench", "--kernels", "--params", "row_tile=3"],
            "row_tile",
        ),
        (vec!["bench", "--kernels", "--params", "warp=9"], "warp"),
        (vec!["bench", "--kernels", "--shapes", "12by4"], "--shapes"),
        (vec!["bench", "--kernels", "--shapes", "0x128"], "--shapes"),
        (
            vec!["bench", "--kernels", "--residency", "l2"],
            "--residency",
        ),
        (vec!["bench", "--kernels", "--samples", "1"], "--samples"),
        // 256 GiB of weights: refused up front, not an allocation abort.
        (
            vec!["bench", "--kernels", "--shapes", "1048576x1048576"],
            "GiB available",
        ),
        (
            vec!["bench", "--kernels", "--bandwidth-mib", "2"],
            "--bandwidth-mib",
        ),
        (vec!["bench", "--pp", "0"], "--pp"),
        (vec!["bench", "--preset", "7b"], "--preset"),
        (vec!["bench", "--kernels", "--model", "x.gguf"], "--model"),
        (vec!["bench", "--bogus"], "--bogus"),
        (
            vec!["model", "write", "--preset", "huge", "--out", "/tmp/x.gguf"],
            "--preset",
        ),
    ] {
        let o = perfd(&args);
        assert_eq!(o.status.code(), Some(64), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "no report on error");
    }
}
