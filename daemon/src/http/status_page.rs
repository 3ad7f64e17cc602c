//! `/`: a small server-rendered status page — the latest result, recent runs, and an SVG chart of
//! decode tokens/sec per benchmarked commit.

use std::fmt::Write;

use crate::runner::heartbeat::unix_now;
use crate::state::DaemonState;
use crate::store::{RunRow, RunStatus};

/// Runs shown in the table and chart.
const SHOWN: usize = 50;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

/// SVG line chart of decode tokens/sec over successful runs, oldest left.
fn chart(runs: &[RunRow]) -> String {
    let points: Vec<(&RunRow, f64)> = runs
        .iter()
        .rev()
        .filter(|r| r.status == RunStatus::Success)
        .filter_map(|r| Some((r, r.decode_tps?)))
        .collect();
    if points.is_empty() {
        return "<p>No successful run yet.</p>".into();
    }
    let (w, h, pad) = (720.0, 240.0, 44.0);
    let max = points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.15;
    let x = |i: usize| {
        pad + (w - 2.0 * pad)
            * if points.len() == 1 {
                0.5
            } else {
                i as f64 / (points.len() - 1) as f64
            }
    };
    let y = |v: f64| h - pad - (h - 2.0 * pad) * v / max;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="decode tokens per second per commit">"#
    );
    let _ = write!(
        s,
        r##"<line x1="{pad}" y1="{0}" x2="{1}" y2="{0}" stroke="#888"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{0}" stroke="#888"/>"##,
        h - pad,
        w - pad
    );
    for frac in [0.0, 0.5, 1.0] {
        let v = max / 1.15 * frac;
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#444">{v:.1}</text>"##,
            pad - 4.0,
            y(v) + 4.0
        );
    }
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.1)))
        .collect();
    let _ = write!(
        s,
        r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>"##,
        path.join(" ")
    );
    for (i, (r, v)) in points.iter().enumerate() {
        let color = if r.noisy { "#d62728" } else { "#1f77b4" };
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{} — {v:.2} tokens/s{}</title></circle>"#,
            x(i),
            y(*v),
            esc(short(&r.commit)),
            if r.noisy { " (noisy)" } else { "" }
        );
    }
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" font-size="12" text-anchor="middle" fill="#444">benchmarked commits (oldest left)</text><text x="12" y="{}" font-size="12" fill="#444" transform="rotate(-90 12 {})" text-anchor="middle">decode tokens/s</text></svg>"##,
        w / 2.0,
        h - 8.0,
        h / 2.0,
        h / 2.0
    );
    s
}

/// Renders the page.
pub fn render(state: &DaemonState) -> Result<String, String> {
    let runs = state
        .store
        .lock()
        .map_err(|_| "store unavailable".to_string())?
        .runs(SHOWN)
        .map_err(|e| e.to_string())?;
    let config = state.config();
    let mode = match &config.repository {
        Some(r) => format!(
            "tracking <code>{}</code> branch <code>{}</code>",
            esc(&r.url),
            esc(&r.branch)
        ),
        None => "embedded default: benchmarking perfd's own kernels and model".into(),
    };
    let running = state.running.lock().ok().and_then(|r| r.clone());
    let mut s = String::from(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>bitnet-perfd</title><style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}
.success{color:#2a7}.fail{color:#c33}code{background:#f3f3f3;padding:0 3px}</style></head><body><h1>bitnet-perfd</h1>"#,
    );
    let _ = write!(
        s,
        "<p>Host <code>{}</code> ({}), {mode}.</p>",
        esc(&state.host.cpu_model),
        esc(&state.host.id)
    );
    match running {
        Some(r) => {
            let _ = write!(
                s,
                "<p>Running: commit <code>{}</code>, step {} for {:.0} s.</p>",
                esc(short(&r.commit)),
                esc(&r.step),
                unix_now() - r.started_at
            );
        }
        None => s.push_str("<p>Idle.</p>"),
    }
    s.push_str("<h2>Decode tokens/s per commit</h2>");
    s.push_str(&chart(&runs));
    s.push_str("<h2>Recent runs</h2><table><tr><th>#</th><th>commit</th><th>result</th><th>decode tok/s</th><th>prefill tok/s</th><th>kernels</th><th>reason</th></tr>");
    for r in &runs {
        let class = if r.status == RunStatus::Success {
            "success"
        } else {
            "fail"
        };
        let fmt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.2}"));
        let _ = write!(
            s,
            r#"<tr><td><a href="/api/v1/runs/{0}">{0}</a></td><td><code>{1}</code></td><td class="{class}">{2}{3}</td><td>{4}</td><td>{5}</td><td>{6}</td><td>{7}</td></tr>"#,
            r.id,
            esc(short(&r.commit)),
            r.status.name(),
            if r.noisy { " (noisy)" } else { "" },
            fmt(r.decode_tps),
            fmt(r.prefill_tps),
            esc(r.kernel_ids.as_deref().unwrap_or("")),
            esc(r.reason.as_deref().unwrap_or("")),
        );
    }
    s.push_str("</table><p><a href=\"/metrics\">/metrics</a> · <a href=\"/api/v1/runs\">/api/v1/runs</a></p></body></html>\n");
    Ok(s)
}
