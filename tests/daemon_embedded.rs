//! End-to-end: the real daemon with the embedded default (tiny preset) — runs on schedule,
//! serves metrics promtool accepts, the API and status page, and keeps history across restarts.

mod common;

use common::{http_get, promtool_check_metrics, start, start_with};

/// Small bandwidth arrays (not 4x a VM's 300-480 MiB L3) and a noise limit above what a busy
/// 2-core CI host shows: this test checks the daemon's behaviour, not the host's quietness.
const CONFIG: &str = "[schedule]\ninterval_secs = 2\n\n[benchmark]\npreset = \"tiny\"\nprompt_tokens = 8\ngen_tokens = 8\nreps = 3\nbandwidth_memory_mib = 48\n\n[noise]\nlimit_cores = 64.0\n";

#[test]
fn embedded_default_benchmarks_and_serves_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), CONFIG);
    assert_eq!(d.get("/healthz").0, 200);
    let ready = common::wait_for(std::time::Duration::from_secs(60), || {
        (d.get("/readyz").0 == 200).then_some(())
    });
    assert!(ready.is_some());
    let runs = d.wait_runs(600, "two successful runs", |r| {
        r.iter().filter(|x| x["status"] == "success").count() >= 2
    });
    let run = &runs[0];
    assert_eq!(run["source"], "embedded");
    assert!(run["decode_tps"].as_f64().unwrap() > 0.0);
    assert!(run["kernel_ids"].as_str().unwrap().contains("i2s_gemv_"));

    let (status, head, metrics) = d.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        head.to_lowercase().contains("text/plain; version=0.0.4"),
        "{head}"
    );
    for needle in [
        "bitnet_inference_tokens_per_second{phase=\"decode\",model=\"tiny\",backend=\"cpu\"}",
        "bitnet_inference_latency_seconds{phase=\"prefill\"",
        "bitnet_kernel_ops_per_second{kernel=\"i2s_gemv_",
        "bitnet_kernel_bandwidth_bytes_per_second{",
        "bitnet_kernel_roofline_ratio{",
        "bitnet_host_memory_bandwidth_bytes_per_second{kind=\"read\"} ",
        "bitnet_bench_runs_total{result=\"success\"}",
        "bitnet_bench_last_success_timestamp_seconds ",
        "bitnet_bench_info{commit=",
        "process_resident_memory_bytes ",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    assert!(
        !metrics.contains("bitnet_gpu_"),
        "GPU metrics must be absent without a GPU"
    );
    let (ok, out) = promtool_check_metrics(&metrics);
    assert!(ok, "promtool check metrics: {out}");

    let (_, head, om) = http_get(
        &d.addr,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    );
    assert!(head.contains("application/openmetrics-text"));
    assert!(om.ends_with("# EOF\n") && om.contains("# TYPE bitnet_bench_runs counter"));

    let (status, _, page) = d.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<svg") && page.contains("<polyline") && page.contains("success"));
    let id = run["id"].as_i64().unwrap();
    let (status, _, one) = d.get(&format!("/api/v1/runs/{id}"));
    assert_eq!(status, 200);
    let one: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(one["report"]["schema"], "bitnet-perfd/bench-report/v1");
    assert_eq!(one["kernel_report"]["suite"], "kernels");
    assert_eq!(d.get("/api/v1/runs?limit=0").0, 400);
    assert_eq!(d.get("/api/v1/runs/999999").0, 404);
    assert_eq!(d.get("/nope").0, 404);

    // Restart keeps history.
    let before = d.runs().len();
    let (config, state) = (d.config.clone(), d.state_dir.clone());
    assert!(d.stop(30).success());
    let d = start_with(dir.path(), &config, &state);
    let after = d.runs();
    assert!(
        after.len() >= before,
        "history lost: {before} -> {}",
        after.len()
    );
    let (_, _, metrics) = d.get("/metrics");
    assert!(
        metrics.contains("bitnet_inference_tokens_per_second"),
        "latest result not restored"
    );
    assert!(d.stop(30).success());
    // perfd history reads the same database.
    let out = std::process::Command::new(common::perfd_bin())
        .args(["history", "--state-dir", state.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(h["runs"].as_array().unwrap().len() >= before);
}
