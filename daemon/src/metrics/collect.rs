//! Builds every metric family from the daemon's state at scrape time. A collector that fails is
//! counted in `bitnet_collector_errors_total{collector}` and skipped; the scrape still succeeds.

use crate::report::{BenchReport, Phase};
use crate::state::DaemonState;
use crate::store::{OutboxState, RunStatus};

use super::family::{Family, Kind};
use super::gpu::GpuCollector;
use super::process;

/// Label value naming the model of a report: the preset, else the file name.
fn model_label(r: &BenchReport) -> String {
    r.model
        .as_ref()
        .map(|m| {
            m.preset.clone().unwrap_or_else(|| {
                std::path::Path::new(&m.path)
                    .file_stem()
                    .map_or_else(|| m.path.clone(), |s| s.to_string_lossy().into_owned())
            })
        })
        .unwrap_or_else(|| "none".into())
}

fn inference_families(r: &BenchReport) -> Vec<Family> {
    let mut tps = Family::new(
        "bitnet_inference_tokens_per_second",
        "Median tokens per second of the latest successful benchmark, per phase.",
        Kind::Gauge,
        None,
    );
    let mut lat = Family::new(
        "bitnet_inference_latency_seconds",
        "Latency of the latest successful benchmark: prefill of the prompt, one decoded token, 128 generated tokens.",
        Kind::Gauge,
        Some("seconds"),
    );
    let model = model_label(r);
    let labels = |phase: &str| {
        vec![
            ("phase", phase.to_string()),
            ("model", model.clone()),
            ("backend", r.backend.clone()),
        ]
    };
    for p in &r.phases {
        tps.push(labels(p.phase.name()), p.tokens_per_second.median);
        match p.phase {
            Phase::Prefill => {
                lat.push(labels("prefill"), p.seconds.median);
            }
            Phase::Decode => {
                lat.push(labels("decode_token"), 1.0 / p.tokens_per_second.median);
            }
            Phase::Other(_) => {}
        }
    }
    if let Some(g) = &r.generation_128_seconds {
        lat.push(labels("generate_128"), g.median);
    }
    let mut ratio = Family::new(
        "bitnet_inference_roofline_ratio",
        "Decode tokens/sec of the latest run divided by its roofline: bandwidth measured in the same run (CPU: best read-only pass; CUDA: best device copy) over the bytes read per token.",
        Kind::Gauge,
        Some("ratio"),
    );
    let mut window = Family::new(
        "bitnet_inference_same_window_roofline_ratio",
        "Median over the latest run's decode repetitions of each one's tokens/sec divided by the roofline of a read pass over the model's own bytes right after it (CPU): bandwidth that drifts during a run moves both sides of each ratio alike.",
        Kind::Gauge,
        Some("ratio"),
    );
    if let Some(rf) = &r.decode_roofline {
        ratio.push(
            vec![("model", model.clone()), ("backend", r.backend.clone())],
            rf.ratio,
        );
        if let Some(w) = &rf.same_window {
            window.push(
                vec![("model", model.clone()), ("backend", r.backend.clone())],
                w.ratio.median,
            );
        }
    }
    let mut ctx_tps = Family::new(
        "bitnet_inference_context_tokens_per_second",
        "Median decode tokens per second of the latest successful benchmark after a KV cache filled to `positions` positions ([benchmark] context_positions, perfd bench --ctx).",
        Kind::Gauge,
        None,
    );
    let mut ctx_ratio = Family::new(
        "bitnet_inference_context_roofline_ratio",
        "Decode tokens/sec of the latest run after `positions` cached positions divided by its roofline: the run's best read-only bandwidth over the weights plus the KV-cache bytes read per token.",
        Kind::Gauge,
        Some("ratio"),
    );
    let mut ctx_window = Family::new(
        "bitnet_inference_context_same_window_roofline_ratio",
        "As bitnet_inference_context_roofline_ratio, against a read pass right after each repetition (the median over the repetitions).",
        Kind::Gauge,
        Some("ratio"),
    );
    for c in &r.decode_at_context {
        let l = vec![
            ("positions", c.positions.to_string()),
            ("model", model.clone()),
            ("backend", r.backend.clone()),
        ];
        ctx_tps.push(l.clone(), c.tokens_per_second.median);
        ctx_ratio.push(l.clone(), c.roofline.ratio);
        if let Some(w) = &c.roofline.same_window {
            ctx_window.push(l, w.ratio.median);
        }
    }
    let mut peer = Family::new(
        "bitnet_inference_peer_speedup_ratio",
        "The latest run's median tokens/sec divided by a peer engine's on the same model file, runs interleaved in the same benchmark (perfd bench --compare-llama-bench): above 1, perfd is faster.",
        Kind::Gauge,
        Some("ratio"),
    );
    let mut ctx_peer = Family::new(
        "bitnet_inference_context_peer_speedup_ratio",
        "As bitnet_inference_peer_speedup_ratio, for decode after a KV cache filled to `positions` positions (perfd bench --compare-llama-bench --ctx; the peer runs llama-bench -d).",
        Kind::Gauge,
        Some("ratio"),
    );
    if let Some(p) = &r.peer {
        // The peer as it names itself (llama-bench's backend and model type), not its commit:
        // no sha as a label.
        let name = p
            .kernel_ids
            .first()
            .cloned()
            .unwrap_or_else(|| "unknown".into());
        for x in &p.ratios {
            let mut l = labels(x.phase.name());
            l.push(("peer", name.clone()));
            peer.push(l, x.ratio);
        }
        for c in &p.decode_at_context {
            ctx_peer.push(
                vec![
                    ("positions", c.positions.to_string()),
                    ("model", model.clone()),
                    ("backend", r.backend.clone()),
                    ("peer", name.clone()),
                ],
                c.ratio,
            );
        }
    }
    vec![
        tps, lat, ratio, window, ctx_tps, ctx_ratio, ctx_window, peer, ctx_peer,
    ]
}

fn kernel_families(r: &BenchReport) -> Vec<Family> {
    let mut ops = Family::new(
        "bitnet_kernel_ops_per_second",
        "Kernel calls (GEMV) per second, median of the latest run.",
        Kind::Gauge,
        None,
    );
    let mut bw = Family::new(
        "bitnet_kernel_bandwidth_bytes_per_second",
        "Effective bytes per second a kernel streamed, median of the latest run.",
        Kind::Gauge,
        Some("bytes_per_second"),
    );
    let mut roof = Family::new(
        "bitnet_kernel_roofline_ratio",
        "Kernel bandwidth divided by the bandwidth measured in the same run (CPU: best read-only pass; CUDA: best device copy).",
        Kind::Gauge,
        Some("ratio"),
    );
    for k in &r.kernels {
        let labels = || {
            vec![
                ("kernel", k.kernel_id.clone()),
                ("shape", format!("{}x{}", k.rows, k.cols)),
                ("residency", k.residency.name().to_string()),
            ]
        };
        ops.push(labels(), k.ops_per_second);
        bw.push(labels(), k.bytes_per_second.median);
        if let Some(x) = k.roofline_ratio {
            roof.push(labels(), x);
        }
    }
    vec![ops, bw, roof]
}

/// All families for one scrape.
pub fn collect(state: &DaemonState, gpu: &GpuCollector) -> Vec<Family> {
    let mut out = latest_run_families(state);
    out.extend(scheduler_families(state));
    match process::collect() {
        Some(f) => out.extend(f),
        None => state.count_collector_error("process"),
    }
    match super::tuning::collect(state) {
        Some(f) => out.extend(f),
        None => state.count_collector_error("tuning"),
    }
    match gpu.collect() {
        Ok(f) => out.extend(f),
        Err((f, _)) => {
            out.extend(f);
            state.count_collector_error("gpu");
        }
    }
    let mut errs = Family::new(
        "bitnet_collector_errors",
        "Metric collector failures by collector.",
        Kind::Counter,
        None,
    );
    let errors = state.published.collector_errors();
    for c in ["process", "gpu", "tuning"] {
        errs.push(
            vec![("collector", c.to_string())],
            *errors.get(c).unwrap_or(&0) as f64,
        );
    }
    out.push(errs);
    out.extend(store_and_outbox_families(state));
    out
}

/// The newest successful run: its inference and kernel figures, bandwidth, info and age.
fn latest_run_families(state: &DaemonState) -> Vec<Family> {
    let mut out = Vec::new();
    let latest = state.published.latest();
    let mut host_bw = Family::new(
        "bitnet_host_memory_bandwidth_bytes_per_second",
        "Memory bandwidth measured with the latest successful run: read (best read-only pass of the STREAM rounds; the decode roofline divides by the best of these and of the passes between repetitions), copy and triad (STREAM medians; they count written bytes too).",
        Kind::Gauge,
        Some("bytes_per_second"),
    );
    let mut info = Family::new(
        "bitnet_bench_info",
        "The latest successful benchmark: commit, branch and kernel (always 1).",
        Kind::Gauge,
        None,
    );
    let mut last = Family::new(
        "bitnet_bench_last_success_timestamp_seconds",
        "Unix time the latest successful benchmark finished.",
        Kind::Gauge,
        Some("seconds"),
    );
    let mut noisy = Family::new(
        "bitnet_bench_noisy",
        "1 when the latest successful run was judged noisy.",
        Kind::Gauge,
        None,
    );
    if let Some(l) = &latest {
        if let Some(r) = &l.report {
            out.extend(inference_families(r));
            let bw = &r.memory_bandwidth;
            for (kind, v) in [
                ("read", bw.read_bytes_per_second()),
                ("copy", bw.copy.median),
                ("triad", bw.triad.median),
            ] {
                host_bw.push(vec![("kind", kind.to_string())], v);
            }
            out.push(device_bandwidth_family(r));
        }
        if let Some(k) = &l.kernels {
            out.extend(kernel_families(k));
        }
        let kernel = l
            .row
            .kernel_ids
            .as_deref()
            .and_then(|k| k.split(',').next())
            .unwrap_or("unknown");
        info.push(
            vec![
                ("commit", l.row.commit.clone()),
                ("branch", l.row.branch.clone()),
                ("kernel", kernel.to_string()),
            ],
            1.0,
        );
        last.push(vec![], l.row.finished_at);
        noisy.push(vec![], f64::from(u8::from(l.row.noisy)));
    }
    out.extend([host_bw, info, last, noisy]);
    out
}

/// The device bandwidth of a CUDA run (empty for a CPU run).
fn device_bandwidth_family(r: &BenchReport) -> Family {
    let mut f = Family::new(
        "bitnet_gpu_memory_bandwidth_bytes_per_second",
        "Device memory bandwidth measured with the latest successful CUDA run (best sample): copy (bytes read + written, the CUDA roofline basis) and read.",
        Kind::Gauge,
        Some("bytes_per_second"),
    );
    if let Some(g) = &r.gpu {
        for (kind, v) in [
            ("copy", g.bandwidth.copy_bytes_per_second.best()),
            ("read", g.bandwidth.read_bytes_per_second.best()),
        ] {
            f.push(
                vec![("kind", kind.to_string()), ("name", g.device.clone())],
                v,
            );
        }
    }
    f
}

/// Run counters, verdicts, the run in progress and the scheduler's heartbeat.
fn scheduler_families(state: &DaemonState) -> Vec<Family> {
    let mut out = Vec::new();

    let mut runs = Family::new(
        "bitnet_bench_runs",
        "Benchmark runs by result.",
        Kind::Counter,
        None,
    );
    let counts = state.published.counts();
    for s in RunStatus::ALL {
        runs.push(
            vec![("result", s.name().to_string())],
            *counts.get(&s).unwrap_or(&0) as f64,
        );
    }
    out.push(runs);
    out.extend(verdict_families(state));
    let mut running = Family::new(
        "bitnet_bench_running",
        "1 while a benchmark run is in progress.",
        Kind::Gauge,
        None,
    );
    running.push(
        vec![],
        f64::from(u8::from(state.published.running().is_some())),
    );
    out.push(running);
    let mut hb = Family::new(
        "bitnet_scheduler_heartbeat_age_seconds",
        "Seconds since the scheduler last showed progress (the systemd watchdog's signal).",
        Kind::Gauge,
        Some("seconds"),
    );
    hb.push(vec![], state.heartbeat.age_secs() as f64);
    out.push(hb);

    out
}

/// Store errors, the spool, the schedule's expected interval and GitHub post failures.
fn store_and_outbox_families(state: &DaemonState) -> Vec<Family> {
    let mut store_errs = Family::new(
        "bitnet_store_errors",
        "History store operations that failed (a run that could not be stored waits in the spool).",
        Kind::Counter,
        None,
    );
    store_errs.push(vec![], state.health.store_errors() as f64);
    let mut spooled = Family::new(
        "bitnet_spooled_runs",
        "Finished runs waiting in the spool for the history store to accept them.",
        Kind::Gauge,
        None,
    );
    spooled.push(vec![], state.spool.len() as f64);
    let mut expected = Family::new(
        "bitnet_bench_expected_interval_seconds",
        "Longest time between successful runs that the schedule implies (0: none, e.g. a repository with re-benchmarking off); the stale-benchmark alert fires at twice this.",
        Kind::Gauge,
        Some("seconds"),
    );
    let config = state.config();
    let interval = match &config.repository {
        None => config.schedule.interval_secs,
        Some(_) if config.schedule.rebench_interval_secs == 0 => 0,
        Some(_) => config
            .schedule
            .rebench_interval_secs
            .max(config.schedule.interval_secs),
    };
    expected.push(vec![], interval as f64);
    let mut post_failures = Family::new(
        "bitnet_gate_post_failures",
        "GitHub posts that failed (each is retried from the outbox), by kind.",
        Kind::Counter,
        None,
    );
    for (kind, n) in state.outbox.failures().snapshot() {
        post_failures.push(vec![("kind", kind.to_string())], n as f64);
    }
    vec![store_errs, spooled, expected, post_failures]
}

fn verdict_families(state: &DaemonState) -> Vec<Family> {
    let mut slo = Family::new(
        "bitnet_slo_ok",
        "1 when the SLO was met on the latest judged run, 0 when breached.",
        Kind::Gauge,
        None,
    );
    let mut ratio = Family::new(
        "bitnet_regression_ratio",
        "Latest run's metric divided by its baseline (the A/B median ratio when one ran).",
        Kind::Gauge,
        Some("ratio"),
    );
    let mut confirmed = Family::new(
        "bitnet_regression_confirmed",
        "1 when the latest judged run is a regression confirmed by A/B.",
        Kind::Gauge,
        None,
    );
    let mut gate = Family::new(
        "bitnet_gate_status",
        "Latest gate conclusion: 1 success, 0 neutral, -1 failure.",
        Kind::Gauge,
        None,
    );
    if let Some(v) = state.published.verdicts() {
        for s in &v.slos {
            if let Some(ok) = s.ok {
                slo.push(vec![("slo", s.slo.clone())], f64::from(u8::from(ok)));
            }
        }
        if let Some((m, r)) = &v.regression_ratio {
            ratio.push(vec![("metric", m.clone())], *r);
        }
        confirmed.push(vec![], f64::from(u8::from(v.confirmed_regression)));
        for (name, c) in &v.gates {
            gate.push(vec![("gate", name.clone())], c.metric_value());
        }
    }
    let mut outbox = Family::new(
        "bitnet_gate_outbox_entries",
        "Gate posts in the outbox by state.",
        Kind::Gauge,
        None,
    );
    let counts = state.store.lock().outbox_counts().ok().unwrap_or_default();
    for st in [
        OutboxState::Pending,
        OutboxState::Posted,
        OutboxState::DryRun,
        OutboxState::Superseded,
    ] {
        let n = counts.iter().find(|c| c.0 == st).map_or(0, |c| c.1);
        let name = serde_json::to_value(st)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        outbox.push(vec![("state", name)], n as f64);
    }
    vec![slo, ratio, confirmed, gate, outbox]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::bench_report::{PeerComparison, PeerContextDecode, PhaseRatio};
    use crate::report::gpu::{DeviceBandwidthReport, GpuRun};
    use crate::report::PhaseResult;
    use crate::stats::Summary;

    fn labels_of(f: &Family) -> Vec<String> {
        f.samples
            .iter()
            .map(|s| format!("{:?}={}", s.labels, s.value))
            .collect()
    }

    #[test]
    fn a_cuda_report_is_labelled_cuda_and_exports_its_device_bandwidth() {
        let json = include_str!("../../../tests/fixtures/bench_report_minimal.json");
        let mut r: BenchReport = serde_json::from_str(json).expect("fixture parses");
        assert_eq!(
            r.backend, "cpu",
            "reports from before the CUDA backend are CPU runs"
        );
        assert!(labels_of(&device_bandwidth_family(&r)).is_empty());
        r.backend = "cuda".into();
        r.gpu = Some(GpuRun {
            device: "NVIDIA H100 80GB HBM3".into(),
            compute_capability: "9.0".into(),
            multiprocessors: 132,
            memory_bytes: 80 << 30,
            l2_bytes: 50 << 20,
            nvrtc: "13.0".into(),
            launch_params: "graph=true".into(),
            bandwidth: DeviceBandwidthReport {
                buffer_bytes: 1 << 30,
                copy_bytes_per_second: Summary::of(vec![2.8e12, 2.9e12]).unwrap(),
                read_bytes_per_second: Summary::of(vec![2.95e12, 2.9e12]).unwrap(),
            },
            telemetry: None,
        });
        let inference = inference_families(&r);
        assert!(inference
            .iter()
            .flat_map(labels_of)
            .all(|l| l.contains(r#"("backend", "cuda")"#)));
        let bw = labels_of(&device_bandwidth_family(&r));
        assert_eq!(bw.len(), 2);
        assert!(bw[0].contains(r#"("kind", "copy")"#) && bw[0].ends_with("=2900000000000"));
        assert!(bw[1].contains(r#"("kind", "read")"#) && bw[1].ends_with("=2950000000000"));
    }

    #[test]
    fn decode_at_each_cache_depth_is_exported_with_its_positions() {
        let json = include_str!("../../../tests/fixtures/bench_report_minimal.json");
        let mut doc: serde_json::Value = serde_json::from_str(json).expect("fixture parses");
        // Two depths, each with the fixture's decode timings and roofline, told apart by value.
        let decode = doc["phases"][1]["tokens_per_second"].clone();
        let roofline = doc["decode_roofline"].clone();
        let depth = |positions: u64, median: f64, ratio: f64| {
            let mut d = serde_json::json!({
                "positions": positions,
                "tokens": 8,
                "tokens_per_second": decode.clone(),
                "roofline": roofline.clone(),
            });
            d["tokens_per_second"]["median"] = median.into();
            d["roofline"]["ratio"] = ratio.into();
            d
        };
        doc["decode_at_context"] =
            serde_json::json!([depth(64, 30.5, 0.75), depth(200, 20.25, 0.5)]);
        let r: BenchReport = serde_json::from_value(doc).expect("report with depths parses");
        let family = |name: &str| {
            inference_families(&r)
                .into_iter()
                .find(|f| f.name == name)
                .map(|f| labels_of(&f))
                .unwrap_or_default()
        };
        let tps = family("bitnet_inference_context_tokens_per_second");
        assert_eq!(tps.len(), 2, "{tps:?}");
        assert!(tps[0].contains(r#"("positions", "64")"#) && tps[0].ends_with("=30.5"));
        assert!(tps[1].contains(r#"("positions", "200")"#) && tps[1].ends_with("=20.25"));
        let ratio = family("bitnet_inference_context_roofline_ratio");
        assert!(
            ratio[0].ends_with("=0.75") && ratio[1].ends_with("=0.5"),
            "{ratio:?}"
        );
        // Without depths, no samples (the families are left out of the exposition).
        let plain: BenchReport = serde_json::from_str(json).unwrap();
        assert!(inference_families(&plain)
            .iter()
            .filter(|f| f.name.starts_with("bitnet_inference_context_"))
            .all(|f| f.samples.is_empty()));
    }

    #[test]
    fn a_peer_comparison_is_exported_per_phase_without_its_commit() {
        let json = include_str!("../../../tests/fixtures/bench_report_minimal.json");
        let mut r: BenchReport = serde_json::from_str(json).expect("fixture parses");
        let peer = |r: &BenchReport| {
            inference_families(r)
                .into_iter()
                .find(|f| f.name == "bitnet_inference_peer_speedup_ratio")
                .map(|f| labels_of(&f))
                .unwrap_or_default()
        };
        assert!(peer(&r).is_empty(), "no peer, no samples");
        r.peer = Some(PeerComparison {
            command: "llama-bench -m m.gguf -p 128 -n 128 -t 2 -r 1 -o json".into(),
            commit: "0c1e570".into(),
            kernel_ids: vec!["llama-bench:CPU:bitnet TQ2_0".into()],
            phases: Vec::new(),
            ratios: vec![
                PhaseRatio {
                    phase: Phase::Prefill,
                    ratio: 3.9,
                    per_pair: None,
                },
                PhaseRatio {
                    phase: Phase::Decode,
                    ratio: 1.8,
                    per_pair: None,
                },
            ],
            kv_cache: Some("f16".into()),
            decode_at_context: vec![PeerContextDecode {
                positions: 3968,
                command: "llama-bench -m m.gguf -p 0 -n 32 -t 2 -r 1 -o json -d 3968".into(),
                decode: PhaseResult {
                    phase: Phase::Decode,
                    tokens: 32,
                    seconds: Summary::of(vec![2.0]).unwrap(),
                    tokens_per_second: Summary::of(vec![16.0]).unwrap(),
                },
                ratio: 2.1,
            }],
            decode_window_read: None,
            decode_per_read: None,
        });
        let at_depth = inference_families(&r)
            .into_iter()
            .find(|f| f.name == "bitnet_inference_context_peer_speedup_ratio")
            .map(|f| labels_of(&f))
            .unwrap_or_default();
        assert_eq!(at_depth.len(), 1, "{at_depth:?}");
        assert!(
            at_depth[0].contains(r#"("positions", "3968")"#)
                && at_depth[0].contains(r#"("peer", "llama-bench:CPU:bitnet TQ2_0")"#)
                && at_depth[0].ends_with("=2.1"),
            "{at_depth:?}"
        );
        let got = peer(&r);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains(r#"("phase", "prefill")"#) && got[0].ends_with("=3.9"));
        assert!(got[1].contains(r#"("phase", "decode")"#) && got[1].ends_with("=1.8"));
        assert!(got.iter().all(
            |l| l.contains(r#"("peer", "llama-bench:CPU:bitnet TQ2_0")"#) && !l.contains("0c1e570")
        ));
    }
}
