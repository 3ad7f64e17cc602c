//! A benchmark run as a value: how it ended (`RunStatus`), what it was (`RunRecord`), what it
//! measured on its way to the store (`NewRun`) and what the store gave back (`RunRow`).

use serde::{Deserialize, Serialize};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The harness produced a valid report.
    Success,
    /// The build command failed.
    BuildFailed,
    /// The harness failed or printed no valid report.
    HarnessFailed,
    /// A step exceeded its timeout and was killed.
    Timeout,
    /// The daemon was stopped during the run.
    Cancelled,
    /// The mainline could not be fetched.
    FetchFailed,
    /// The daemon died during the run (SIGKILL, crash, power loss); found at the next start.
    Interrupted,
}

impl RunStatus {
    /// Every status (metric label values).
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Success,
        RunStatus::BuildFailed,
        RunStatus::HarnessFailed,
        RunStatus::Timeout,
        RunStatus::Cancelled,
        RunStatus::FetchFailed,
        RunStatus::Interrupted,
    ];

    /// Stored and exported name.
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::BuildFailed => "build_failed",
            RunStatus::HarnessFailed => "harness_failed",
            RunStatus::Timeout => "timeout",
            RunStatus::Cancelled => "cancelled",
            RunStatus::FetchFailed => "fetch_failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// The status of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// What a run was and how it ended: the summary every stored run has, without its reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unix seconds the run started.
    pub started_at: f64,
    /// Unix seconds it ended.
    pub finished_at: f64,
    /// Commit benchmarked (perfd's own for the embedded default).
    pub commit: String,
    /// Branch tracked (`embedded` for the embedded default).
    pub branch: String,
    /// `embedded` or `repository`.
    pub source: String,
    /// How it ended.
    pub status: RunStatus,
    /// Why it failed, in words.
    pub reason: Option<String>,
    /// Host fingerprint id.
    pub host_id: String,
    /// The noise guard judged the stored attempt noisy.
    pub noisy: bool,
    /// Attempts made (noise retries included).
    pub attempts: u32,
    /// Kernel parameters.
    pub params: Option<String>,
    /// Kernel ids executed, comma-separated.
    pub kernel_ids: Option<String>,
    /// Median decode tokens/sec.
    pub decode_tps: Option<f64>,
    /// Median prefill tokens/sec.
    pub prefill_tps: Option<f64>,
}

/// A run to record: its record and what it measured (serialisable: a run the store cannot take
/// waits in the spool as JSON, in the same flat shape as before the record was split out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// The summary.
    #[serde(flatten)]
    pub record: RunRecord,
    /// The model report, as printed by the harness.
    pub report_json: Option<String>,
    /// The kernel report, when one was run.
    pub kernels_json: Option<String>,
    /// Samples: (series, values), e.g. ("decode_tps", [...]).
    pub samples: Vec<(String, Vec<f64>)>,
}

impl std::ops::Deref for NewRun {
    type Target = RunRecord;
    fn deref(&self) -> &RunRecord {
        &self.record
    }
}

impl std::ops::DerefMut for NewRun {
    fn deref_mut(&mut self) -> &mut RunRecord {
        &mut self.record
    }
}

/// A stored run: its row id and its record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    /// Row id.
    pub id: i64,
    /// The summary.
    #[serde(flatten)]
    pub record: RunRecord,
}

impl std::ops::Deref for RunRow {
    type Target = RunRecord;
    fn deref(&self) -> &RunRecord {
        &self.record
    }
}
