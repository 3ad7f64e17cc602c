//! `/`: the server-rendered status page an operator opens first: readiness, SLO verdicts (a
//! breach in red, with its objective), the latest result against its roofline, the regression
//! verdict with its A/B evidence, gate states with links, the kernel table, the chart, and the
//! recent runs. No JavaScript.

use std::fmt::Write;

use super::status_chart::decode_chart;
use crate::clock::unix_now;
use crate::config::Config;
use crate::gates::GateOutcome;
use crate::report::BenchReport;
use crate::state::DaemonState;
use crate::store::{OutboxEntry, RunRow, RunStatus, Store, StoredVerdicts};
use crate::verdict::slo::SloVerdict;

/// Runs shown in the table and chart.
const SHOWN: usize = 50;

/// HTML-escapes text.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A commit as shown: its first 10 characters.
pub(super) fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}\
table{border-collapse:collapse;margin-bottom:1em}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}\
.ok,.success{color:#2a7}.bad,.fail,.failure{color:#c33;font-weight:600}.neutral,.unknown{color:#777}\
code{background:#f3f3f3;padding:0 3px}.banner{padding:.5em 1em;border-left:4px solid #c33;background:#fdf0f0}";

/// The newest run that has stored verdicts, with them.
fn latest_judged(store: &Store, runs: &[RunRow]) -> Option<(RunRow, StoredVerdicts)> {
    runs.iter()
        .find_map(|r| Some((r.clone(), store.verdicts(r.id).ok().flatten()?)))
}

/// The GitHub web address of a check run or status, from the API address and the entry.
fn gate_link(config: &Config, e: &OutboxEntry) -> Option<String> {
    let gh = config.github.as_ref()?;
    let web = if gh.api_url.trim_end_matches('/') == "https://api.github.com" {
        "https://github.com".to_string()
    } else {
        gh.api_url
            .trim_end_matches('/')
            .trim_end_matches("/api/v3")
            .to_string()
    };
    let id = e.remote_id.as_ref()?;
    Some(match config.github.as_ref()?.app_id {
        Some(_) => format!("{web}/{}/runs/{id}", gh.repository),
        None => format!("{web}/{}/commit/{}", gh.repository, e.commit),
    })
}

fn readiness(s: &mut String, state: &DaemonState) {
    if let Err(why) = state.health.readiness() {
        let _ = write!(
            s,
            r#"<p class="banner">Not ready: {}</p>"#,
            esc(&why).replace('\n', "<br>")
        );
    }
}

fn slo_section(s: &mut String, slos: &[SloVerdict]) {
    s.push_str("<h2>Objectives</h2>");
    if slos.is_empty() {
        s.push_str("<p>No SLO configured or no run judged yet.</p>");
        return;
    }
    s.push_str("<table><tr><th>SLO</th><th>objective</th><th>measured</th><th>verdict</th></tr>");
    for v in slos {
        let (class, word) = match v.ok {
            Some(true) => ("ok", "met"),
            Some(false) => ("bad", "BREACHED"),
            None => ("unknown", "not measured"),
        };
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td>{} {}</td><td>{}</td><td class="{class}">{word}</td></tr>"#,
            esc(&v.slo),
            esc(&v.comparison),
            v.target,
            v.observed.map_or("–".into(), |o| format!("{o:.2}")),
        );
    }
    s.push_str("</table>");
}

fn latest_section(s: &mut String, state: &DaemonState) {
    s.push_str("<h2>Latest result</h2>");
    let Some(latest) = state.published.latest() else {
        s.push_str("<p>No successful run yet.</p>");
        return;
    };
    let _ = write!(
        s,
        "<p>Run <a href=\"/api/v1/runs/{0}\">{0}</a>, commit <code>{1}</code>, kernels <code>{2}</code>.</p>",
        latest.row.id,
        esc(short(&latest.row.commit)),
        esc(latest.row.kernel_ids.as_deref().unwrap_or("–"))
    );
    if let Some(r) = &latest.report {
        result_table(s, r);
    }
    if let Some(k) = &latest.kernels {
        kernel_table(s, k);
    }
}

fn result_table(s: &mut String, r: &BenchReport) {
    s.push_str("<table><tr><th>figure</th><th>value</th></tr>");
    for p in &r.phases {
        let _ = write!(
            s,
            "<tr><td>{} tokens/s</td><td>{:.2} (95 % CI {:.2}–{:.2})</td></tr>",
            esc(p.phase.name()),
            p.tokens_per_second.median,
            p.tokens_per_second.ci95[0],
            p.tokens_per_second.ci95[1]
        );
    }
    if let Some(g) = &r.generation_128_seconds {
        let _ = write!(
            s,
            "<tr><td>128-token generation</td><td>{:.2} s</td></tr>",
            g.median
        );
    }
    if let Some(rf) = &r.decode_roofline {
        let _ = write!(
            s,
            "<tr><td>decode vs roofline</td><td>{:.1} % of {:.2} tokens/s ({:.3} GB per token at {:.1} GB/s {} bandwidth)</td></tr>",
            100.0 * rf.ratio,
            rf.roofline_tokens_per_second,
            rf.bytes_per_token as f64 / 1e9,
            rf.bandwidth_bytes_per_second / 1e9,
            esc(&rf.bandwidth)
        );
    }
    let bw = &r.memory_bandwidth;
    let _ = write!(
        s,
        "<tr><td>host memory bandwidth</td><td>read {:.1} GB/s, copy {:.1}, triad {:.1} ({} threads)</td></tr></table>",
        bw.read_bytes_per_second() / 1e9,
        bw.copy.median / 1e9,
        bw.triad.median / 1e9,
        bw.threads
    );
}

fn kernel_table(s: &mut String, k: &BenchReport) {
    if k.kernels.is_empty() {
        return;
    }
    s.push_str("<h3>Kernels</h3><table><tr><th>kernel</th><th>shape</th><th>residency</th><th>GB/s</th><th>of read bandwidth</th></tr>");
    for x in &k.kernels {
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td>{}×{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            esc(&x.kernel_id),
            x.rows,
            x.cols,
            x.residency.name(),
            x.bytes_per_second.median / 1e9,
            x.roofline_ratio
                .map_or("–".into(), |r| format!("{:.1} %", 100.0 * r))
        );
    }
    s.push_str("</table>");
}

fn regression_section(s: &mut String, judged: Option<&(RunRow, StoredVerdicts)>) {
    s.push_str("<h2>Regression</h2>");
    let Some((run, v)) = judged else {
        s.push_str("<p>No run judged yet.</p>");
        return;
    };
    let ab = v.ab.as_ref();
    let Some(a) = v.regression.as_ref() else {
        let _ = write!(
            s,
            "<p>Run {} (<code>{}</code>): no baseline on this host yet.</p>",
            run.id,
            esc(short(&run.commit))
        );
        return;
    };
    let _ = write!(
        s,
        "<p>Run {} (<code>{}</code>): {} {:.2} vs baseline {:.2} (ratio {:.3}{}{}), {}.</p>",
        run.id,
        esc(short(&run.commit)),
        esc(&a.metric),
        a.current_median,
        a.baseline_median,
        a.ratio,
        a.ratio_ci95.map_or(String::new(), |c| format!(
            ", 95 % CI {:.3}–{:.3}",
            c[0], c[1]
        )),
        a.mann_whitney.as_ref().map_or(String::new(), |m| format!(
            ", Mann-Whitney p {:.3}",
            m.p_value
        )),
        if a.suspected {
            "suspected"
        } else {
            "not suspected"
        }
    );
    if let Some(ab) = ab {
        let (class, word) = if ab.confirmed {
            ("bad", "CONFIRMED regression")
        } else {
            ("ok", "not confirmed")
        };
        let _ = write!(
            s,
            r#"<p>A/B against <code>{}</code> ({} design): {} runs of this build, mean ratio {:.3}, log likelihood ratio {:.1}: <span class="{class}">{word}</span>.</p>"#,
            esc(short(&ab.baseline_commit)),
            ab.design.name(),
            ab.candidate_runs(),
            ab.mean_ratio,
            ab.llr
        );
    }
}

fn gate_section(
    s: &mut String,
    config: &Config,
    judged: Option<&(RunRow, StoredVerdicts)>,
    posts: &[OutboxEntry],
) {
    let gates: Vec<GateOutcome> = judged.map(|(_, v)| v.gates.clone()).unwrap_or_default();
    if gates.is_empty() {
        return;
    }
    s.push_str("<h2>Gates</h2><table><tr><th>gate</th><th>conclusion</th><th>evidence</th><th>posted</th></tr>");
    for g in &gates {
        let post = posts.iter().find(|e| e.kind == "gate" && e.name == g.name);
        let posted = match post {
            Some(e) => match gate_link(config, e) {
                Some(url) => format!(r#"<a href="{}">{}</a>"#, esc(&url), esc(e.state.name())),
                None => esc(e.state.name()),
            },
            None => "–".into(),
        };
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="{1}">{1}</td><td>{2}</td><td>{posted}</td></tr>"#,
            esc(&g.name),
            g.conclusion.name(),
            esc(&g.summary)
        );
    }
    s.push_str("</table>");
}

fn runs_table(s: &mut String, runs: &[RunRow]) {
    s.push_str("<h2>Recent runs</h2><table><tr><th>#</th><th>commit</th><th>result</th><th>decode tok/s</th><th>prefill tok/s</th><th>kernels</th><th>reason</th></tr>");
    for r in runs {
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
    s.push_str("</table>");
}

/// Renders the page.
pub fn render(state: &DaemonState) -> Result<String, String> {
    let (runs, judged, posts) = {
        let store = state.store.lock();
        let runs = store.runs(SHOWN).map_err(|e| e.to_string())?;
        let judged = latest_judged(&store, &runs);
        let posts = match &judged {
            Some((run, _)) => store.outbox(Some(run.id), 20).map_err(|e| e.to_string())?,
            None => Vec::new(),
        };
        (runs, judged, posts)
    };
    let config = state.config();
    let mode = match &config.repository {
        Some(r) => format!(
            "tracking <code>{}</code> branch <code>{}</code>",
            esc(&r.url),
            esc(&r.branch)
        ),
        None => "embedded default: benchmarking perfd's own kernels and model".into(),
    };
    let mut s = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>bitnet-perfd</title><style>{STYLE}</style></head><body><h1>bitnet-perfd</h1>"#
    );
    let _ = write!(
        s,
        "<p>Host <code>{}</code> ({}), {mode}.</p>",
        esc(&state.host.cpu_model),
        esc(&state.host.id)
    );
    readiness(&mut s, state);
    match state.published.running() {
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
    let slos: Vec<SloVerdict> = state
        .published
        .verdicts()
        .map(|v| v.slos)
        .unwrap_or_default();
    slo_section(&mut s, &slos);
    latest_section(&mut s, state);
    regression_section(&mut s, judged.as_ref());
    gate_section(&mut s, &config, judged.as_ref(), &posts);
    s.push_str("<h2>Decode tokens/s per commit</h2>");
    s.push_str(&decode_chart(
        &runs,
        config.slo.decode_tokens_per_second_min,
    ));
    runs_table(&mut s, &runs);
    s.push_str("<p><a href=\"/metrics\">/metrics</a> · <a href=\"/api/v1/runs\">/api/v1/runs</a></p></body></html>\n");
    Ok(s)
}
