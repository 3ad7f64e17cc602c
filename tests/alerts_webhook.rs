//! The Alertmanager webhook on the real daemon: only an authenticated, well-formed, version-4
//! notification with a firing `perfd_action="tune"` alert starts a tuning job; everything else is
//! refused with a 4xx (or acknowledged without a job) and changes nothing.

mod common;

use std::time::Duration;

use common::{http_post, start, wait_for};
use serde_json::json;

const TOKEN: &str = "s3cret-webhook-token";

fn payload(status: &str, group: &str, labels: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "perfd-tune",
        "groupLabels": {"alertname": "PerfdSLOBreached"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": {"summary": "decode below its SLO"},
            "startsAt": "2026-11-26T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": "c0ffee"
        }]
    }))
    .unwrap()
}

fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn only_an_authenticated_firing_tune_alert_starts_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("webhook-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let d = start(
        dir.path(),
        &format!(
            "[schedule]\ninterval_secs = 3600\n\n[benchmark]\npreset = \"tiny\"\nprompt_tokens = 8\ngen_tokens = 8\nreps = 3\nbandwidth_memory_mib = 48\n\n\
             [noise]\nlimit_cores = 64.0\nmax_retries = 0\n\n\
             [tuner]\non = []\nbudget_secs = 20\nmax_evals = 4\nadoption_pairs = 3\ncrossval_steps = 4\nwebhook_token_file = \"{}\"\n",
            token_file.display()
        ),
    );
    // The first benchmark run, so the job below has something to compare with.
    d.wait_runs(300, "first run", |r| !r.is_empty());
    let auth = format!("Bearer {TOKEN}");
    let tune = json!({"alertname": "PerfdSLOBreached", "perfd_action": "tune", "severity": "page"});
    let good = payload(
        "firing",
        "{}:{alertname=\"PerfdSLOBreached\"}",
        tune.clone(),
    );

    let (s, body) = http_post(&d.addr, "/api/v1/alerts", &[], &good);
    assert_eq!(s, 401, "no token: {body}");
    assert!(body.contains("Bearer"), "{body}");
    let (s, body) = http_post(
        &d.addr,
        "/api/v1/alerts",
        &[("Authorization", "Bearer wrong")],
        &good,
    );
    assert_eq!(s, 401, "wrong token: {body}");
    let (s, body) = http_post(
        &d.addr,
        "/api/v1/alerts",
        &[("Authorization", &auth)],
        b"{not json",
    );
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("malformed webhook body"), "{body}");
    let mut v3: serde_json::Value = serde_json::from_slice(&good).unwrap();
    v3["version"] = json!("3");
    let (s, body) = http_post(
        &d.addr,
        "/api/v1/alerts",
        &[("Authorization", &auth)],
        &serde_json::to_vec(&v3).unwrap(),
    );
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("version"), "{body}");
    let huge = vec![b' '; (1 << 20) + 10];
    let (s, body) = http_post(
        &d.addr,
        "/api/v1/alerts",
        &[("Authorization", &auth)],
        &huge,
    );
    assert_eq!(s, 413, "{body}");
    let (s, body) = http_post(
        &d.addr,
        "/api/v1/alerts",
        &[("Authorization", &auth)],
        &payload("resolved", "g-resolved", tune.clone()),
    );
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"queued\": false"), "{body}");
    let (s, body) = http_post(
        &d.addr,
        "/api/v1/alerts",
        &[("Authorization", &auth)],
        &payload(
            "firing",
            "g-other",
            json!({"alertname": "PerfdBenchmarkStale"}),
        ),
    );
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"queued\": false"), "{body}");
    // Nothing so far may have started a job.
    let (_, _, m) = d.get("/metrics");
    assert_eq!(
        metric(&m, "bitnet_tuning_jobs{state=\"waiting\"}"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "bitnet_tuning_jobs{state=\"running\"}"),
        Some(0.0)
    );
    assert!(!d.log().contains("tuning job started"), "{}", d.log());

    let (s, body) = http_post(
        &d.addr,
        "/api/v1/alerts",
        &[("Authorization", &auth)],
        &good,
    );
    assert_eq!(s, 202, "{body}");
    assert!(body.contains("\"queued\": true"), "{body}");
    // The same group again while its job is queued or running: acknowledged, no second job.
    let (s, body) = http_post(
        &d.addr,
        "/api/v1/alerts",
        &[("Authorization", &auth)],
        &good,
    );
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("already queued or running"), "{body}");

    let total = wait_for(Duration::from_secs(300), || {
        let (_, _, m) = d.get("/metrics");
        let n: f64 = ["adopted", "kept", "failed"]
            .iter()
            .filter_map(|o| metric(&m, &format!("bitnet_tuning_runs_total{{outcome=\"{o}\"}}")))
            .sum();
        (n >= 1.0 && metric(&m, "bitnet_tuning_jobs{state=\"running\"}") == Some(0.0)).then_some(n)
    })
    .unwrap_or_else(|| panic!("the tuning job never finished; log:\n{}", d.log()));
    assert_eq!(total, 1.0, "exactly one job; log:\n{}", d.log());
    let (_, _, m) = d.get("/metrics");
    assert_eq!(
        metric(&m, "bitnet_tuning_runs_total{outcome=\"failed\"}"),
        Some(0.0),
        "log:\n{}",
        d.log()
    );
    assert!(
        d.log().contains("trigger=alert:PerfdSLOBreached"),
        "{}",
        d.log()
    );
    d.stop(30);
}
