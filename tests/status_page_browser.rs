//! The status page as an operator sees it: the real daemon (tiny preset, a decode SLO it cannot
//! meet) opened in headless Chromium. It must render without console errors and show the breach,
//! the objective, the roofline ratio and the kernel table; a screenshot is kept under
//! `target/test-artifacts/` (not committed).

mod common;

use std::process::Command;
use std::time::Duration;

const CONFIG: &str = "[schedule]\ninterval_secs = 3600\n\n[benchmark]\npreset = \"tiny\"\nprompt_tokens = 8\ngen_tokens = 8\nreps = 3\nbandwidth_memory_mib = 48\n\n[noise]\nlimit_cores = 64.0\n\n[slo]\ndecode_tokens_per_second_min = 1000000.0\n\n[tuner]\non = []\n";

fn chromium() -> &'static str {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("Chromium is missing: run scripts/setup.sh --test")
}

fn headless(url: &str, extra: &[&str], profile: &std::path::Path) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium")
}

#[test]
fn the_status_page_shows_the_breach_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let d = common::start(dir.path(), CONFIG);
    d.wait_runs(600, "a judged run", |r| {
        r.iter().any(|x| x["status"] == "success")
    });
    // Judging follows the store by a moment: wait for the verdict on the page itself.
    let page = common::wait_for(Duration::from_secs(120), || {
        let (_, _, body) = d.get("/");
        body.contains("BREACHED").then_some(body)
    })
    .unwrap_or_else(|| panic!("no SLO verdict on the page; log:\n{}", d.log()));
    for needle in [
        "decode_tokens_per_second",
        "&gt;= 1000000",
        "% of",
        "read bandwidth",
        "<h3>Kernels</h3>",
        "class=\"slo\"",
        "<polyline",
    ] {
        assert!(page.contains(needle), "missing {needle} in\n{page}");
    }

    let url = format!("http://{}/", d.addr);
    let profile = dir.path().join("chromium-profile");
    let dom = headless(&url, &["--dump-dom"], &profile);
    let err = String::from_utf8_lossy(&dom.stderr);
    assert!(dom.status.success(), "chromium failed: {err}");
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(html.contains("BREACHED") && html.contains("<svg"), "{html}");
    let console: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Failed to load"))
        .collect();
    assert!(console.is_empty(), "console errors: {console:#?}");

    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("status-page.png");
    let arg = format!("--screenshot={}", shot.display());
    let out = headless(
        &url,
        &[&arg, "--window-size=1280,2200", "--hide-scrollbars"],
        &profile,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot of {} bytes",
        png.len()
    );
    assert!(d.stop(60).success());
}
