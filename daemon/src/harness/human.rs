//! Human-readable rendering of a bench report.

use std::fmt::Write;

use crate::report::bench_report::{ContextDecode, PhaseRatio, SameWindowRoofline};
use crate::report::phase::OpShare;
use crate::report::BenchReport;
use crate::report::PhaseResult;
use crate::stats::Summary;

fn gbps(bytes_per_second: f64) -> f64 {
    bytes_per_second / 1e9
}

/// The range of the read passes behind a same-window ratio, and a warning where the host's memory
/// bandwidth moved between repetitions by more than a quarter (some cloud hosts switch between a
/// slow and a fast phase for minutes at a time): then tokens/s of different repetitions, and of
/// runs, are not comparable, while each repetition's ratio to its own window still is.
fn window_spread(samples: &[f64]) -> String {
    let lo = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = samples.iter().copied().fold(0.0, f64::max);
    if samples.len() < 2 || lo <= 0.0 {
        return String::new();
    }
    let moved = if hi / lo > 1.25 {
        "; the host's memory bandwidth moved during the run: compare same-window ratios, not tokens/s"
    } else {
        ""
    };
    format!(" ({:.1}–{:.1}){moved}", gbps(lo), gbps(hi))
}

/// The median of per-repetition ratios to each window's own roofline, with their range.
fn window_ratio(w: &SameWindowRoofline) -> String {
    format!(
        "decode at {:.1}% of each repetition's own read roofline (median of {}, 95% CI {:.1}–{:.1}%)",
        100.0 * w.ratio.median,
        w.ratio.samples.len(),
        100.0 * w.ratio.ci95[0],
        100.0 * w.ratio.ci95[1]
    )
}

fn header(s: &mut String, r: &BenchReport) {
    let h = &r.host;
    let _ = writeln!(
        s,
        "host      {} ({} logical CPUs, {:.1} GiB) id {}",
        h.cpu_model,
        h.logical_cpus,
        h.memory_bytes as f64 / (1u64 << 30) as f64,
        h.id
    );
    let _ = writeln!(s, "isa       {}", h.isa_features.join(" "));
    let _ = writeln!(s, "commit    {}", r.commit);
    let bw = &r.memory_bandwidth;
    let _ = writeln!(
        s,
        "memory    read-only {:.1} GB/s best (median {:.1}), STREAM {:.1} GB/s (copy {:.1}, triad {:.1}) with {} threads, {} MiB arrays",
        gbps(bw.read_bytes_per_second()),
        gbps(bw.read.median),
        gbps(bw.stream_bytes_per_second()),
        gbps(bw.copy.median),
        gbps(bw.triad.median),
        bw.threads,
        bw.array_bytes >> 20
    );
    if let Some(g) = &r.gpu {
        gpu_lines(s, g);
    }
    let gpu_procs = if r.noise.other_gpu_processes.is_empty() {
        String::new()
    } else {
        format!(
            ", other processes on the GPU: {:?}",
            r.noise.other_gpu_processes
        )
    };
    let _ = writeln!(
        s,
        "noise     other processes used {:.2} cores (limit {:.2}){gpu_procs}{}",
        r.noise.other_busy_cores,
        r.noise.limit_cores,
        if r.noise.noisy { " — NOISY" } else { "" }
    );
}

fn gpu_lines(s: &mut String, g: &crate::report::gpu::GpuRun) {
    let _ = writeln!(
        s,
        "gpu       {} (compute {}, {} SMs, {:.1} GiB, L2 {} MiB), kernels by NVRTC {}",
        g.device,
        g.compute_capability,
        g.multiprocessors,
        g.memory_bytes as f64 / (1u64 << 30) as f64,
        g.l2_bytes >> 20,
        g.nvrtc
    );
    let _ = writeln!(s, "launch    {}", g.launch_params);
    let b = &g.bandwidth;
    let _ = writeln!(
        s,
        "device    copy {:.0} GB/s best (read + written; roofline basis), read-only {:.0} GB/s best, {} MiB buffers",
        gbps(b.copy_bytes_per_second.best()),
        gbps(b.read_bytes_per_second.best()),
        b.buffer_bytes >> 20
    );
    if let Some(t) = &g.telemetry {
        let _ = writeln!(
            s,
            "nvml      {} samples: utilisation ≤ {:.0}%, memory ≤ {:.1} GiB, power ≤ {:.0} W, ≤ {:.0} °C, SM clock {:.0}–{:.0} MHz, throttle: {}",
            t.samples,
            100.0 * t.utilization_max,
            t.memory_used_max_bytes as f64 / (1u64 << 30) as f64,
            t.power_max_watts,
            t.temperature_max_celsius,
            t.sm_clock_min_hertz / 1e6,
            t.sm_clock_max_hertz / 1e6,
            if t.throttle_reasons.is_empty() {
                "none".to_string()
            } else {
                t.throttle_reasons.join(" ")
            }
        );
    }
}

fn gpu_kernel_section(s: &mut String, r: &BenchReport) {
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<18} {:>10} {:>5} {:>7} {:>10} {:>7} {:>8} {:>7}",
        "kernel", "shape", "lanes", "copies", "median ns", "MAD %", "GB/s", "copy %"
    );
    for k in &r.kernels {
        let lanes = k
            .params
            .split(',')
            .find_map(|p| p.strip_prefix("lanes_per_row="))
            .unwrap_or("?");
        let _ = writeln!(
            s,
            "{:<18} {:>10} {:>5} {:>7} {:>10.0} {:>7.2} {:>8.0} {:>7.1}",
            k.kernel_id,
            format!("{}x{}", k.rows, k.cols),
            lanes,
            k.matrices,
            k.ns_per_op.median,
            100.0 * k.ns_per_op.relative_mad(),
            gbps(k.bytes_per_second.median),
            k.roofline_ratio.map_or(f64::NAN, |r| 100.0 * r),
        );
    }
}

fn rate_line(name: &str, tokens: usize, tps: &Summary) -> String {
    format!(
        "{name:<9} {tokens} tokens: {:.2} tokens/s median (95% CI {:.2}–{:.2}, MAD {:.1}%, {} runs)",
        tps.median,
        tps.ci95[0],
        tps.ci95[1],
        100.0 * tps.relative_mad(),
        tps.samples.len()
    )
}

/// The ratio in `ratios` for `p`'s phase.
fn ratio_of<'a>(ratios: &'a [PhaseRatio], p: &PhaseResult) -> Option<&'a PhaseRatio> {
    ratios.iter().find(|x| x.phase == p.phase)
}

/// The smallest and largest of `v`.
fn range_of(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        })
}

/// ` (by repetition pair: median m, lo–hi)` of a ratio's pairs, where there are several.
fn pairs_note(r: &PhaseRatio) -> String {
    match &r.per_pair {
        Some(p) if p.samples.len() > 1 => {
            let (lo, hi) = range_of(&p.samples);
            format!(
                " (by repetition pair: median {:.3}, {lo:.3}–{hi:.3})",
                p.median
            )
        }
        _ => String::new(),
    }
}

/// One phase of a compared model or a peer, indented under its heading, `ratio` appended.
fn compared_phase_line(s: &mut String, p: &PhaseResult, ratio: &str) {
    let _ = writeln!(
        s,
        "          {:<8}  {:.2} tokens/s median (95% CI {:.2}–{:.2}){ratio}",
        p.phase.name(),
        p.tokens_per_second.median,
        p.tokens_per_second.ci95[0],
        p.tokens_per_second.ci95[1],
    );
}

/// Decode at one cache depth after `head`: tokens/s, `ratio` (to another model, if any), its
/// roofline, and the same-window ratio on a line of its own.
fn context_lines(s: &mut String, head: &str, c: &ContextDecode, ratio: &str) {
    let (t, rf) = (&c.tokens_per_second, &c.roofline);
    let _ = writeln!(
        s,
        "{head}: {:.2} tokens/s median (95% CI {:.2}–{:.2}){ratio}, {:.1}% of {:.2} tokens/s ({:.3} GB read per token, {:.3} GB of it KV cache)",
        t.median,
        t.ci95[0],
        t.ci95[1],
        100.0 * rf.ratio,
        rf.roofline_tokens_per_second,
        rf.bytes_per_token as f64 / 1e9,
        rf.kv_bytes_per_token as f64 / 1e9,
    );
    if let Some(w) = &rf.same_window {
        let _ = writeln!(s, "          same window: {}", window_ratio(w));
    }
}

fn model_section(s: &mut String, r: &BenchReport, profile: bool) {
    if let Some(m) = &r.model {
        // Shape and size only where the harness knew them (an adapted llama-bench run does not).
        let mut facts: Vec<String> = m.architecture.iter().cloned().collect();
        if let (Some(l), Some(h), Some(f), Some(q), Some(kv), Some(v)) =
            (m.layers, m.hidden, m.ffn, m.heads, m.kv_heads, m.vocab)
        {
            facts.push(format!(
                "{l} layers, hidden {h}, ffn {f}, {q}/{kv} heads, vocab {v}"
            ));
        }
        if let Some(b) = m.file_bytes {
            facts.push(format!("{:.2} GB", b as f64 / 1e9));
        }
        let facts = if facts.is_empty() {
            String::new()
        } else {
            format!(" — {}", facts.join(", "))
        };
        let _ = writeln!(
            s,
            "model     {}{facts}",
            m.name.as_deref().unwrap_or(&m.path)
        );
        let layout = m
            .weights_layout
            .as_ref()
            .map_or(String::new(), |l| format!(", {l}"));
        let layout = match &m.lm_head_layout {
            Some(l) => format!("{layout}, lm_head {l}"),
            None => layout,
        };
        let placement = match (
            &m.weights_placement,
            m.weights_huge_page_bytes,
            m.file_bytes,
        ) {
            (Some(p), Some(huge), Some(total)) => format!(
                " (weights {p}{layout}: {:.2} of {:.2} GB in 2 MiB pages)",
                huge as f64 / 1e9,
                total as f64 / 1e9
            ),
            (Some(p), _, _) => format!(" (weights {p}{layout})"),
            _ => String::new(),
        };
        let kv = m
            .kv_cache
            .as_ref()
            .map_or(String::new(), |t| format!(", KV cache {t}"));
        let _ = writeln!(s, "file      {}{placement}{kv}", m.path);
    }
    let _ = writeln!(s, "kernels   {} ({})", r.kernel_ids.join(", "), r.params);
    let _ = writeln!(s);
    for p in &r.phases {
        let _ = writeln!(
            s,
            "{}",
            rate_line(p.phase.name(), p.tokens, &p.tokens_per_second)
        );
    }
    if let Some(g) = &r.generation_128_seconds {
        let _ = writeln!(
            s,
            "latency   128-token generation {:.2} s median (95% CI {:.2}–{:.2})",
            g.median, g.ci95[0], g.ci95[1]
        );
    }
    if let Some(rf) = &r.decode_roofline {
        let _ = writeln!(
            s,
            "roofline  decode at {:.1}% of {:.2} tokens/s ({:.3} GB read per token, {:.3} GB of it KV cache, at this run's best {} bandwidth, {:.1} GB/s)",
            100.0 * rf.ratio,
            rf.roofline_tokens_per_second,
            rf.bytes_per_token as f64 / 1e9,
            rf.kv_bytes_per_token as f64 / 1e9,
            rf.bandwidth,
            gbps(rf.bandwidth_bytes_per_second)
        );
        if let Some(w) = &rf.same_window {
            let _ = writeln!(
                s,
                "          same window: {}; the model's bytes read after each at {:.1} GB/s median{}",
                window_ratio(w),
                gbps(w.read_bytes_per_second.median),
                window_spread(&w.read_bytes_per_second.samples)
            );
        }
    }
    for c in &r.decode_at_context {
        let head = format!(
            "context   decode {} tokens from position {}",
            c.tokens, c.positions
        );
        context_lines(s, &head, c, "");
    }
    if let Some(c) = &r.comparison {
        let name = c.model.name.as_deref().unwrap_or(&c.model.path);
        let params = c
            .params
            .as_deref()
            .map_or(String::new(), |p| format!(" with {p}"));
        // Named only where it differs from the main model's (`--compare-weights`).
        let placement = match (&c.model.weights_placement, r.model.as_ref()) {
            (Some(p), Some(m)) if m.weights_placement.as_ref() != Some(p) => {
                format!(", weights {p}")
            }
            _ => String::new(),
        };
        // Likewise the layout (`--compare-layout`, or parameters whose kernels read another).
        let placement = match (&c.model.weights_layout, r.model.as_ref()) {
            (Some(l), Some(m)) if m.weights_layout.as_ref() != Some(l) => {
                format!("{placement}, {l} layout")
            }
            _ => placement,
        };
        // Likewise the lm_head's (`--compare-lm-head`).
        let placement = match (&c.model.lm_head_layout, r.model.as_ref()) {
            (Some(l), Some(m)) if m.lm_head_layout.as_ref() != Some(l) => {
                format!("{placement}, lm_head {l}")
            }
            _ => placement,
        };
        // Likewise the KV cache (`--compare-kv-cache`).
        let kv = match (&c.model.kv_cache, r.model.as_ref()) {
            (Some(t), Some(m)) if m.kv_cache.as_ref() != Some(t) => format!(", KV cache {t}"),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "compared  {name}{params}{placement}{kv} ({}), decode tokens alternating with the model above:",
            c.kernel_ids.join(", ")
        );
        for p in &c.phases {
            let ratio = ratio_of(&c.ratios, p).map_or(String::new(), |x| {
                format!(", {:.3}x the model above{}", x.ratio, pairs_note(x))
            });
            compared_phase_line(s, p, &ratio);
        }
        let rf = &c.decode_roofline;
        // The bytes alone bound the decode ratio a configuration can show: at the same fraction
        // of the read, tokens/s go as the inverse of the bytes a token reads (a Q6_K lm_head
        // against the packed F16 one: 1.121 / 0.807 GB = 1.389x on 2B-4T).
        let bytes_ratio = match &r.decode_roofline {
            Some(main) if main.bytes_per_token != rf.bytes_per_token => format!(
                "; {:.3}x the model above at the same share of the read",
                main.bytes_per_token as f64 / rf.bytes_per_token as f64
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "          roofline  decode at {:.1}% of {:.2} tokens/s ({:.3} GB read per token{bytes_ratio})",
            100.0 * rf.ratio,
            rf.roofline_tokens_per_second,
            rf.bytes_per_token as f64 / 1e9
        );
        if let Some(w) = &rf.same_window {
            let _ = writeln!(s, "          same window: {}", window_ratio(w));
        }
        for x in &c.decode_at_context {
            let head = format!("          from position {}", x.decode.positions);
            let ratio = format!(", {:.3}x the model above", x.ratio);
            context_lines(s, &head, &x.decode, &ratio);
        }
    }
    if let Some(peer) = &r.peer {
        let _ = writeln!(
            s,
            "peer      {} (commit {}; {}), one run between each of the repetitions above:",
            peer.command,
            peer.commit,
            peer.kernel_ids.join(", ")
        );
        for p in &peer.phases {
            let ratio = ratio_of(&peer.ratios, p).map_or(String::new(), |x| {
                format!("; perfd runs {:.2}x the peer{}", x.ratio, pairs_note(x))
            });
            compared_phase_line(s, p, &ratio);
        }
        if let Some(x) = &peer.decode_per_read {
            let (lo, hi) = range_of(&x.samples);
            let reads = peer.decode_window_read.as_ref().map_or(String::new(), |w| {
                let (lo, hi) = range_of(&w.samples);
                format!(
                    "; reads after the peer's runs {:.1}–{:.1} GB/s",
                    lo / 1e9,
                    hi / 1e9
                )
            });
            let _ = writeln!(
                s,
                "          per read  decode {:.3}x the peer with each side's tokens/s divided by the read right after it (median of {} pairs, {lo:.3}–{hi:.3}){reads}",
                x.median,
                x.samples.len()
            );
        }
        if let Some(kv) = &peer.kv_cache {
            let ours = r.model.as_ref().and_then(|m| m.kv_cache.as_deref());
            let note = match ours {
                Some(o) if o != kv => format!(" (perfd's: {o})"),
                _ => String::new(),
            };
            let _ = writeln!(s, "          KV cache  {kv}{note}");
        }
        for c in &peer.decode_at_context {
            let d = &c.decode.tokens_per_second;
            let _ = writeln!(
                s,
                "          decode from position {}: {:.2} tokens/s median (95% CI {:.2}–{:.2}); perfd runs {:.2}x the peer",
                c.positions, d.median, d.ci95[0], d.ci95[1], c.ratio
            );
        }
    }
    if let Some(rss) = r.peak_rss_bytes {
        let both = if second_model_loaded(r) {
            " (both models loaded)"
        } else {
            ""
        };
        let _ = writeln!(s, "memory    peak RSS {:.2} GB{both}", rss as f64 / 1e9);
    }
    let compared_profile = r
        .comparison
        .as_ref()
        .map_or(&[][..], |c| &c.decode_profile[..]);
    let mut profiles = vec![
        (&r.decode_profile[..], "decode time per token".to_string()),
        (
            compared_profile,
            "compared model's decode time per token".to_string(),
        ),
    ];
    profiles.extend(r.decode_at_context.iter().map(|c| {
        (
            &c.decode_profile[..],
            format!("decode time per token from position {}", c.positions),
        )
    }));
    if let Some(c) = &r.comparison {
        profiles.extend(c.decode_at_context.iter().map(|x| {
            (
                &x.decode.decode_profile[..],
                format!(
                    "compared model's decode time per token from position {}",
                    x.decode.positions
                ),
            )
        }));
    }
    profiles.push((
        &r.prefill_profile[..],
        "prefill time per prompt token".to_string(),
    ));
    // The roofline's basis: on the CPU the run's best read pass, which may have come from between
    // the repetitions rather than from the STREAM rounds.
    let read = r
        .decode_roofline
        .as_ref()
        .filter(|rf| rf.bandwidth == "read" && rf.bandwidth_bytes_per_second > 0.0)
        .map_or(r.memory_bandwidth.read_bytes_per_second(), |rf| {
            rf.bandwidth_bytes_per_second
        });
    for (ops, what) in profiles {
        if profile && !ops.is_empty() {
            let _ = writeln!(s, "\n{what} by operation:");
            for op in ops {
                let _ = writeln!(
                    s,
                    "  {:<16} {:>9.3} ms  {:>5.1}%{}",
                    op.op,
                    1e3 * op.seconds_per_token,
                    100.0 * op.share,
                    streaming_rate(op, read)
                );
            }
        }
    }
    if let Some(m) = &r.model_crossval {
        let _ = writeln!(
            s,
            "\ncrossval  model vs scalar reference: {} (min cosine {:.9}, max |Δlogit| {:.2e}, greedy tokens {} over {} steps)",
            if m.pass { "pass" } else { "FAIL" },
            m.min_cosine,
            m.max_abs_diff,
            if m.tokens_identical { "identical" } else { "DIFFER" },
            m.steps
        );
    }
}

fn kernel_section(s: &mut String, r: &BenchReport) {
    let bw = &r.memory_bandwidth;
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<22} {:>11} {:>6} {:>4} {:>11} {:>8} {:>9} {:>7} {:>8}",
        "kernel", "shape", "where", "thr", "median ns", "MAD %", "GB/s", "read %", "STREAM%"
    );
    for k in &r.kernels {
        let threads = k
            .params
            .split(',')
            .find_map(|p| p.strip_prefix("threads="))
            .unwrap_or("?");
        let _ = writeln!(
            s,
            "{:<22} {:>11} {:>6} {:>4} {:>11.0} {:>8.2} {:>9.1} {:>7.1} {:>8.1}",
            k.kernel_id,
            format!("{}x{}", k.rows, k.cols),
            k.residency.name(),
            threads,
            k.ns_per_op.median,
            100.0 * k.ns_per_op.relative_mad(),
            gbps(k.bytes_per_second.median),
            k.roofline_ratio.map_or(f64::NAN, |r| 100.0 * r),
            100.0 * k.bytes_per_second.median / bw.stream_bytes_per_second(),
        );
    }
}

/// Whether the run held a second model in memory (`--compare-model`, `--compare-embeddings`,
/// `--compare-weights`, `--compare-layout` or `--compare-lm-head`: another file, or the same file
/// placed or ordered the other way), so that its peak RSS is not one model's. `--compare-params` alone shares the
/// model unless its kernels read the other layout.
fn second_model_loaded(r: &BenchReport) -> bool {
    match (&r.model, &r.comparison) {
        (Some(m), Some(c)) => {
            c.model.path != m.path
                || c.model.weights_placement != m.weights_placement
                || c.model.weights_layout != m.weights_layout
                || c.model.lm_head_layout != m.lm_head_layout
        }
        _ => false,
    }
}

/// Bytes per token below which an operation's streaming rate is not shown: an embedding row or
/// a handful of norms is latency, not bandwidth.
const RATE_MIN_BYTES: u64 = 1_000_000;

/// `  24.8 GB/s  86% of read` for an operation that reads enough bytes per token to stream, its
/// rate as a share of the run's best read-only bandwidth (the roofline's basis).
fn streaming_rate(op: &OpShare, read: f64) -> String {
    match (op.bytes_per_token, op.bytes_per_second()) {
        (Some(bytes), Some(rate)) if bytes >= RATE_MIN_BYTES => {
            let share = if read > 0.0 {
                format!("  {:>3.0}% of read", 100.0 * rate / read)
            } else {
                String::new()
            };
            format!("  {:>6.1} GB/s{share}", rate / 1e9)
        }
        _ => String::new(),
    }
}

/// Renders the report as plain text; `profile` adds the per-operation decode breakdown.
pub fn render(r: &BenchReport, profile: bool) -> String {
    let mut s = String::new();
    header(&mut s, r);
    if r.model.is_some() {
        model_section(&mut s, r, profile);
    }
    if !r.kernels.is_empty() && r.gpu.is_some() {
        gpu_kernel_section(&mut s, r);
    } else if !r.kernels.is_empty() {
        kernel_section(&mut s, r);
    }
    if let Some(cv) = &r.crossval {
        let _ = writeln!(s);
        for c in cv {
            let check = match &c.batch_check {
                Some(batch) => format!("{} + {batch}", c.check),
                None => c.check.clone(),
            };
            let _ = writeln!(
                s,
                "crossval  {:<22} {} (i32 mismatches {}, max rel err {:.1e}, {} shapes)",
                check,
                if c.pass { "pass" } else { "FAIL" },
                c.i32_mismatches,
                c.max_rel_err,
                c.shapes.len()
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(bytes: Option<u64>, seconds: f64) -> OpShare {
        OpShare {
            op: "lm_head".into(),
            seconds_per_token: seconds,
            share: 0.5,
            bytes_per_token: bytes,
        }
    }

    #[test]
    fn a_streaming_operation_shows_its_rate_against_the_read_bandwidth() {
        // 1 GB in 50 ms is 20 GB/s: 80 % of a 25 GB/s read.
        assert_eq!(
            streaming_rate(&op(Some(1_000_000_000), 0.05), 25e9),
            "    20.0 GB/s   80% of read"
        );
        // No read figure: the rate alone.
        assert_eq!(
            streaming_rate(&op(Some(1_000_000_000), 0.05), 0.0),
            "    20.0 GB/s"
        );
    }

    #[test]
    fn peak_rss_says_when_a_second_model_was_in_memory() {
        use crate::report::bench_report::Comparison;
        let mut r: BenchReport = serde_json::from_str(include_str!(
            "../../../tests/fixtures/bench_report_minimal.json"
        ))
        .unwrap();
        assert!(!second_model_loaded(&r));
        assert!(!render(&r, false).contains("both models"));
        let model = r.model.clone().unwrap();
        let compared = |model| Comparison {
            model,
            params: None,
            kernel_ids: Vec::new(),
            phases: Vec::new(),
            decode_roofline: r.decode_roofline.clone().unwrap(),
            ratios: Vec::new(),
            decode_profile: Vec::new(),
            decode_at_context: Vec::new(),
        };
        // Other kernel parameters on the very same model: one copy.
        let same = compared(model.clone());
        // Another file, or the same file placed the other way: two copies.
        let mut other_file = model.clone();
        other_file.path.push_str(".q6_k");
        let other_file = compared(other_file);
        let mut other_placement = model;
        other_placement.weights_placement = Some("mapped".into());
        let other_placement = compared(other_placement);
        r.comparison = Some(same);
        assert!(!second_model_loaded(&r));
        r.comparison = Some(other_file);
        assert!(second_model_loaded(&r));
        assert!(
            render(&r, false).contains("peak RSS")
                && render(&r, false).contains("(both models loaded)")
        );
        r.comparison = Some(other_placement);
        assert!(second_model_loaded(&r));
    }

    /// A compared configuration that reads fewer bytes a token says how far that alone moves
    /// its decode: the main model's bytes over its own.
    #[test]
    fn a_comparison_names_the_ratio_its_bytes_allow() {
        use crate::report::bench_report::Comparison;
        let mut r: BenchReport = serde_json::from_str(include_str!(
            "../../../tests/fixtures/bench_report_minimal.json"
        ))
        .unwrap();
        let main = r.decode_roofline.clone().unwrap();
        let mut fewer = main.clone();
        fewer.bytes_per_token = main.bytes_per_token * 4 / 5;
        r.comparison = Some(Comparison {
            model: r.model.clone().unwrap(),
            params: None,
            kernel_ids: Vec::new(),
            phases: Vec::new(),
            decode_roofline: fewer,
            ratios: Vec::new(),
            decode_profile: Vec::new(),
            decode_at_context: Vec::new(),
        });
        let text = render(&r, false);
        assert!(
            text.contains("; 1.250x the model above at the same share of the read)"),
            "{text}"
        );
        // The same bytes (other kernel parameters): nothing to say.
        if let Some(c) = r.comparison.as_mut() {
            c.decode_roofline.bytes_per_token = main.bytes_per_token;
        }
        assert!(!render(&r, false).contains("at the same share of the read"));
    }

    #[test]
    fn a_read_rate_that_moved_by_over_a_quarter_is_called_out() {
        let moved = window_spread(&[47e9, 49e9, 76e9]);
        assert!(moved.starts_with(" (47.0–76.0)"), "{moved}");
        assert!(moved.contains("memory bandwidth moved"), "{moved}");
        let steady = window_spread(&[47e9, 52e9, 50e9]);
        assert_eq!(steady, " (47.0–52.0)");
        assert_eq!(window_spread(&[47e9]), "");
        assert_eq!(window_spread(&[]), "");
    }

    #[test]
    fn small_or_unknown_reads_show_no_rate() {
        assert_eq!(streaming_rate(&op(Some(5_120), 1e-5), 25e9), "");
        assert_eq!(streaming_rate(&op(None, 0.05), 25e9), "");
        assert_eq!(streaming_rate(&op(Some(1_000_000_000), 0.0), 25e9), "");
    }
}
