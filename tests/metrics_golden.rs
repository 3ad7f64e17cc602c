//! The `/metrics` contract of the real daemon after one embedded run: every family's name, type,
//! HELP text and label names, against `tests/fixtures/metrics_golden.txt` (values change from run
//! to run; the contract does not). GPU families depend on the host and are left out.
//! `PERFD_UPDATE_GOLDEN=1` rewrites the file (review the diff: it is the metrics' public API).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{promtool_check_metrics, start};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/metrics_golden.txt"
);

/// `name type labels | help`, one line per family, sorted.
fn contract(text: &str) -> String {
    let mut help = BTreeMap::new();
    let mut kind = BTreeMap::new();
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, h) = rest.split_once(' ').unwrap_or((rest, ""));
            help.insert(name.to_string(), h.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').unwrap_or((rest, ""));
            kind.insert(name.to_string(), t.to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = &line[..name_end];
            let keys = labels.entry(name.to_string()).or_default();
            if let Some(open) = line.find('{') {
                let close = line.rfind('}').unwrap_or(line.len());
                for pair in split_labels(&line[open + 1..close]) {
                    if let Some((k, _)) = pair.split_once('=') {
                        keys.insert(k.to_string());
                    }
                }
            }
        }
    }
    let mut out = String::new();
    for (name, t) in &kind {
        if name.starts_with("bitnet_gpu_") {
            continue;
        }
        let keys: Vec<&str> = labels
            .get(name)
            .map(|k| k.iter().map(String::as_str).collect())
            .unwrap_or_default();
        out.push_str(&format!(
            "{name} {t} {{{}}} | {}\n",
            keys.join(","),
            help.get(name).map_or("", String::as_str)
        ));
    }
    out
}

/// Splits `k="v",k2="v,2"` at the commas between pairs (not those inside quoted values).
fn split_labels(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn the_metrics_contract_matches_the_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(
        dir.path(),
        "[schedule]\ninterval_secs = 3600\n\n[benchmark]\nbackend = \"cpu\"\npreset = \"tiny\"\nprompt_tokens = 8\ngen_tokens = 8\nreps = 3\nbandwidth_memory_mib = 48\ncontext_positions = [64]\n\n[noise]\nlimit_cores = 64.0\nmax_retries = 0\n\n[tuner]\non = []\n",
    );
    d.wait_runs(300, "one run", |r| {
        r.iter().any(|x| x["status"] == "success")
    });
    // The run is stored before it is judged: wait for its verdicts to be published too.
    let text = common::wait_for(std::time::Duration::from_secs(60), || {
        let (status, _, text) = d.get("/metrics");
        (status == 200 && text.contains("\nbitnet_regression_confirmed ")).then_some(text)
    })
    .unwrap_or_else(|| panic!("the run's verdicts were never published; log:\n{}", d.log()));
    let (ok, out) = promtool_check_metrics(&text);
    assert!(ok, "promtool check metrics: {out}\n{text}");
    let got = contract(&text);
    if std::env::var_os("PERFD_UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &got).unwrap();
    }
    let want = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    assert_eq!(
        got, want,
        "the /metrics contract changed; if intended, run with PERFD_UPDATE_GOLDEN=1 and review the diff"
    );
    d.stop(30);
}
