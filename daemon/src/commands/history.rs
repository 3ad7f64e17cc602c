//! `perfd history`: the stored runs, newest first.

use std::fmt::Write;

use anyhow::{Context, Result};
use time::OffsetDateTime;

use crate::cli::HistoryArgs;
use crate::store::Store;

use super::run::{config_path, load_config};

fn when(unix: f64) -> String {
    OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{unix:.0}"))
}

/// Lists runs as a table or JSON.
pub fn run(args: &HistoryArgs) -> Result<String> {
    let dir = match &args.state_dir {
        Some(d) => d.clone(),
        None => load_config(config_path(args.config.as_deref()).as_deref())?.state_dir(),
    };
    let db = crate::state_dir::history_db(&dir);
    anyhow::ensure!(
        db.exists(),
        "no history database at {} (has the daemon run here?)",
        db.display()
    );
    let store = Store::open(&db).with_context(|| format!("open {}", db.display()))?;
    let runs = store.runs(args.limit)?;
    if args.json {
        return Ok(serde_json::to_string_pretty(&serde_json::json!({ "runs": runs }))? + "\n");
    }
    let mut s = format!(
        "{:>5}  {:<20}  {:<12}  {:<15}  {:>10}  {:>11}  reason\n",
        "run", "finished (UTC)", "commit", "result", "decode t/s", "prefill t/s"
    );
    for r in &runs {
        let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}"));
        let _ = writeln!(
            s,
            "{:>5}  {:<20}  {:<12}  {:<15}  {:>10}  {:>11}  {}",
            r.id,
            when(r.finished_at),
            r.commit.get(..12).unwrap_or(&r.commit),
            format!("{}{}", r.status.name(), if r.noisy { "*" } else { "" }),
            f(r.decode_tps),
            f(r.prefill_tps),
            r.reason.as_deref().unwrap_or("")
        );
    }
    if runs.is_empty() {
        s.push_str("(no runs yet)\n");
    }
    Ok(s)
}
