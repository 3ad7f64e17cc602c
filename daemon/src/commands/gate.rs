//! `perfd gate RUN`: (re)posts the gates decided for a stored run through the outbox, now.

use anyhow::{bail, Context, Result};

use crate::cli::GateArgs;
use crate::gates::outbox::{process_due, Poster};
use crate::gates::GateOutcome;
use std::sync::Arc;

use crate::clock::unix_now;
use crate::gates::outbox_handle::Outbox;
use crate::health::Health;
use crate::store::{Store, StoreHandle};

use super::run::{config_path, load_config};

/// Queues the run's gates again and posts everything due; returns a report of the outbox.
pub fn run(args: &GateArgs) -> Result<String> {
    let path = config_path(args.config.as_deref());
    let config = load_config(path.as_deref())?;
    let db = crate::state_dir::history_db(&config.state_dir());
    anyhow::ensure!(db.exists(), "no history database at {}", db.display());
    let mut store = Store::open(&db)?;
    let row = store
        .run(args.run)?
        .with_context(|| format!("no run {} in {}", args.run, db.display()))?;
    let gates: Vec<GateOutcome> = store.verdicts(row.id)?.map(|v| v.gates).unwrap_or_default();
    if gates.is_empty() {
        bail!(
            "run {} has no gates (embedded runs and cancelled runs are not gated)",
            row.id
        );
    }
    for g in &gates {
        store.enqueue(
            row.id,
            "gate",
            &g.name,
            &g.head_sha,
            &serde_json::to_value(g)?,
            unix_now(),
        )?;
    }
    let store = StoreHandle::new(store);
    let outbox = Outbox::new(store.clone(), Arc::new(Health::default()), config.github);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut cache = Poster::default();
        while process_due(&outbox, &mut cache).await > 0 {}
    });
    let store = store.lock();
    let mut out = String::new();
    for e in store.outbox(Some(row.id), 20)? {
        out.push_str(&format!(
            "{:<32} {:<10} attempts {:>2}  {}\n",
            e.name,
            serde_json::to_value(e.state)?.as_str().unwrap_or(""),
            e.attempts,
            e.last_error.unwrap_or_default()
        ));
    }
    Ok(out)
}
