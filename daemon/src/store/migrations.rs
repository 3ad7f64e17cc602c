//! Schema migrations, applied in order; `PRAGMA user_version` records how many have run.

use rusqlite::Connection;

use super::StoreError;

/// Each entry upgrades the schema by one version.
const MIGRATIONS: &[&str] = &[
    // 1: runs and their samples.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL NOT NULL,
        commit_sha TEXT NOT NULL,
        branch TEXT NOT NULL,
        source TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        host_id TEXT NOT NULL,
        noisy INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 1,
        params TEXT,
        kernel_ids TEXT,
        decode_tps REAL,
        prefill_tps REAL,
        report_json TEXT,
        kernels_json TEXT
    );
    CREATE INDEX runs_commit ON runs(commit_sha);
    CREATE INDEX runs_host_status ON runs(host_id, status);
    CREATE TABLE samples (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        series TEXT NOT NULL,
        idx INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (run_id, series, idx)
    );",
    // 2: verdicts per run and the gate outbox.
    "CREATE TABLE verdicts (
        run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        slo_json TEXT,
        regression_json TEXT,
        ab_json TEXT,
        confirmed_regression INTEGER NOT NULL DEFAULT 0,
        gates_json TEXT
    );
    CREATE TABLE gate_outbox (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        commit_sha TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        remote_id TEXT,
        posted_at REAL
    );
    CREATE INDEX gate_outbox_pending ON gate_outbox(state, next_attempt_at);",
    // 3: runs kept out of later baselines: confirmed regressions and inconclusive A/Bs (their
    // pairs carry over to the next commit; absorbing them would hide the step).
    "ALTER TABLE verdicts ADD COLUMN baseline_excluded INTEGER NOT NULL DEFAULT 0;
     UPDATE verdicts SET baseline_excluded = confirmed_regression;",
    // 4: the tuner: what it learnt (guard reports, timed pairs; resumable), its jobs and the
    // profiles it adopted.
    "CREATE TABLE tuning_guards (
        scope TEXT NOT NULL,
        params TEXT NOT NULL,
        pass INTEGER NOT NULL,
        report_json TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (scope, params)
    );
    CREATE TABLE tuning_pairs (
        scope TEXT NOT NULL,
        incumbent TEXT NOT NULL,
        candidate TEXT NOT NULL,
        idx INTEGER NOT NULL,
        a REAL NOT NULL,
        b REAL NOT NULL,
        PRIMARY KEY (scope, incumbent, candidate, idx)
    );
    CREATE TABLE tuning_jobs (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL NOT NULL,
        host_id TEXT NOT NULL,
        model TEXT NOT NULL,
        objective TEXT NOT NULL,
        trigger TEXT NOT NULL,
        outcome TEXT NOT NULL,
        evaluations INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        gain REAL,
        before_params TEXT NOT NULL,
        after_params TEXT NOT NULL,
        outcome_json TEXT NOT NULL
    );
    CREATE TABLE tuned_profiles (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES tuning_jobs(id),
        host_id TEXT NOT NULL,
        model TEXT NOT NULL,
        objective TEXT NOT NULL,
        params TEXT NOT NULL,
        adopted_at REAL NOT NULL,
        profile_toml TEXT NOT NULL
    );
    CREATE INDEX tuned_profiles_key ON tuned_profiles(host_id, model, objective, id);",
];

/// Applies every migration the database has not seen, each in its own transaction.
pub(super) fn apply(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let err = |source| StoreError::Sqlite {
        path: path.into(),
        source,
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            path: path.into(),
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(err)?;
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}
