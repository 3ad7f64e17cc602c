//! `perfd bench` on any host holds a bounded amount of memory for its bandwidth measurements:
//! 4x the LLC, capped at 1 GiB (VMs report the socket's 300-480 MiB L3; three 2 GB arrays were
//! allocated before). The reported peak RSS is the inference's, not STREAM's. Alone in its test
//! binary so the children's peak RSS (RUSAGE_CHILDREN) is this run's.

use std::process::Command;

/// STREAM's arrays together, at most (the default cap).
const STREAM_CAP_BYTES: u64 = 1 << 30;

#[test]
fn default_bandwidth_arrays_are_capped_and_peak_rss_is_the_models() {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args([
            "bench", "--preset", "tiny", "--pp", "4", "--tg", "4", "--reps", "1", "--json",
        ])
        .env("PERFD_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let array = r["memory_bandwidth"]["array_bytes"].as_u64().unwrap();
    assert!(3 * array <= STREAM_CAP_BYTES, "arrays of {array} bytes");
    // The tiny model's inference, not STREAM's arrays.
    let peak = r["peak_rss_bytes"].as_u64().unwrap();
    assert!(peak < 256 << 20, "reported peak RSS {peak}");
    // The whole process: the arrays, the model and the binary.
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let max_rss = usage.max_rss() as u64 * 1024;
    assert!(
        max_rss < STREAM_CAP_BYTES + (256 << 20),
        "process peak RSS {} MiB",
        max_rss >> 20
    );
}
