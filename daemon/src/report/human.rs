//! Human-readable rendering of a bench report: one table row per kernel measurement.

use std::fmt::Write;

use super::BenchReport;

fn gbps(bytes_per_second: f64) -> f64 {
    bytes_per_second / 1e9
}

/// Renders the report as plain-text tables.
pub fn render(r: &BenchReport) -> String {
    let mut s = String::new();
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
        "memory    STREAM {:.1} GB/s (copy {:.1}, triad {:.1}; read-only {:.1}) with {} threads, {} MiB arrays",
        gbps(bw.stream_bytes_per_second()),
        gbps(bw.copy.median),
        gbps(bw.triad.median),
        gbps(bw.read.median),
        bw.threads,
        bw.array_bytes >> 20
    );
    let _ = writeln!(
        s,
        "noise     other processes used {:.2} cores (limit {:.2}){}",
        r.noise.other_busy_cores,
        r.noise.limit_cores,
        if r.noise.noisy { " — NOISY" } else { "" }
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<22} {:>11} {:>6} {:>4} {:>11} {:>8} {:>9} {:>7} {:>8}",
        "kernel", "shape", "where", "thr", "median ns", "MAD %", "GB/s", "roof %", "vs read%"
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
            100.0 * k.bytes_per_second.median / bw.read.median,
        );
    }
    if let Some(cv) = &r.crossval {
        let _ = writeln!(s);
        for c in cv {
            let _ = writeln!(
                s,
                "crossval  {:<22} {} (i32 mismatches {}, max rel err {:.1e}, {} shapes)",
                c.check,
                if c.pass { "pass" } else { "FAIL" },
                c.i32_mismatches,
                c.max_rel_err,
                c.shapes.len()
            );
        }
    }
    s
}
