//! The document `perfd tune --json` prints (`bitnet-perfd/tune-report/v1`): what the daemon reads
//! back from a tuning child, and what gate bodies quote.

use serde::{Deserialize, Serialize};

use super::job::JobOutcome;
use super::profile::TunedProfile;

/// Schema id of the tune report.
pub const TUNE_SCHEMA: &str = "bitnet-perfd/tune-report/v1";

/// A finished tuning job, as printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneReport {
    /// [`TUNE_SCHEMA`].
    pub schema: String,
    /// Host fingerprint id.
    pub host_id: String,
    /// CPU model.
    pub cpu_model: String,
    /// Model key (preset or file).
    pub model: String,
    /// Objective.
    pub objective: String,
    /// Unit of the A/B values.
    pub unit: String,
    /// What started the job.
    pub trigger: String,
    /// `adopted` or `kept`.
    pub outcome: String,
    /// The job's result and evidence.
    pub job: JobOutcome,
    /// The adopted profile.
    pub profile: Option<TunedProfile>,
    /// Where the profile file was written.
    pub profile_file: Option<String>,
    /// Row id of the job in the store (None on a dry run).
    pub job_id: Option<i64>,
}

impl TuneReport {
    /// The gate's "Optimization Applied" line.
    pub fn optimization_applied(&self) -> String {
        if self.job.adopted {
            format!(
                "tuned profile adopted ({}): {}",
                self.job.before.diff_text(&self.job.after),
                self.job.why
            )
        } else {
            format!(
                "none — tuning ran ({} configurations): {}",
                self.job.evaluations, self.job.why
            )
        }
    }

    /// The gate's "Cross-Validation" line for the tuned candidates.
    pub fn crossval_line(&self) -> String {
        let rejected = self.job.rejected.len();
        let guard = self
            .job
            .crossval
            .as_ref()
            .map_or_else(|| "not run".to_string(), |g| g.summary());
        format!(
            "every candidate checked against the scalar reference before timing ({} evaluated, {rejected} rejected); profile in use: {guard}",
            self.job.evaluations
        )
    }
}
