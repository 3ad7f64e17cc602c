//! The status page's SVG chart: decode tokens/s of successful runs per benchmarked commit, with
//! the decode SLO as a dashed line. Server-rendered, readable without JavaScript.

use std::fmt::Write;

use super::status_page::{esc, short};
use crate::store::{RunRow, RunStatus};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 280.0;
/// Left margin: room for the y-axis title *and* the tick labels beside it.
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 18.0;
/// Bottom margin: room for the rotated commit labels.
const BOTTOM: f64 = 78.0;
/// Most x-axis labels drawn (every k-th commit beyond that).
const MAX_LABELS: usize = 16;

/// A tick label of at most 6 characters, so it never reaches the axis title.
fn tick(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The chart of `runs` (newest first, as the store returns them), oldest commit left.
pub fn decode_chart(runs: &[RunRow], slo_min: Option<f64>) -> String {
    let points: Vec<(&RunRow, f64)> = runs
        .iter()
        .rev()
        .filter(|r| r.status == RunStatus::Success)
        .filter_map(|r| Some((r, r.decode_tps?)))
        .collect();
    if points.is_empty() {
        return "<p>No successful run yet.</p>".into();
    }
    let top_value = points
        .iter()
        .map(|p| p.1)
        .chain(slo_min)
        .fold(0.0, f64::max)
        * 1.15;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| {
        LEFT + plot_w
            * if points.len() == 1 {
                0.5
            } else {
                i as f64 / (points.len() - 1) as f64
            }
    };
    let y = |v: f64| TOP + plot_h - plot_h * v / top_value;
    let bottom = TOP + plot_h;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="decode tokens per second per commit">"#
    );
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{0}" y2="{bottom}" stroke="#888"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#888"/>"##,
        WIDTH - RIGHT
    );
    for frac in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let v = top_value / 1.15 * frac;
        let _ = write!(
            s,
            r##"<text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="#444">{4}</text><line x1="{LEFT}" y1="{2:.1}" x2="{3}" y2="{2:.1}" stroke="#eee"/>"##,
            LEFT - 6.0,
            y(v) + 4.0,
            y(v),
            WIDTH - RIGHT,
            tick(v)
        );
    }
    // The axis title sits left of the widest tick label, never on top of one.
    let mid = TOP + plot_h / 2.0;
    let _ = write!(
        s,
        r##"<text x="14" y="{mid}" font-size="12" fill="#444" transform="rotate(-90 14 {mid})" text-anchor="middle">decode tokens/s</text>"##
    );
    if let Some(min) = slo_min {
        let _ = write!(
            s,
            r##"<line class="slo" x1="{LEFT}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#c33" stroke-dasharray="6 4"/><text x="{2}" y="{3:.1}" font-size="11" text-anchor="end" fill="#c33">SLO ≥ {min}</text>"##,
            y(min),
            WIDTH - RIGHT,
            WIDTH - RIGHT - 2.0,
            y(min) - 4.0
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
    let every = points.len().div_ceil(MAX_LABELS).max(1);
    for (i, (r, v)) in points.iter().enumerate() {
        let below = slo_min.is_some_and(|m| *v < m);
        let color = if below || r.noisy {
            "#d62728"
        } else {
            "#1f77b4"
        };
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{} — {v:.2} tokens/s{}{}</title></circle>"#,
            x(i),
            y(*v),
            esc(short(&r.commit)),
            if r.noisy { " (noisy)" } else { "" },
            if below { " (below the SLO)" } else { "" }
        );
        if i % every == 0 || i + 1 == points.len() {
            let (lx, ly) = (x(i), bottom + 12.0);
            let _ = write!(
                s,
                r##"<text x="{lx:.1}" y="{ly:.1}" font-size="10" font-family="monospace" fill="#444" text-anchor="end" transform="rotate(-45 {lx:.1} {ly:.1})">{}</text>"##,
                esc(&r.commit.chars().take(7).collect::<String>())
            );
        }
    }
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" font-size="12" text-anchor="middle" fill="#444">benchmarked commit (oldest left)</text></svg>"##,
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0
    );
    s
}
