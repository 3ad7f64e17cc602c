//! A gate's verdict on a commit: its conclusion and what it says. Decided in `gates::decide`,
//! kept with the run's verdicts, posted by the outbox.

use serde::{Deserialize, Serialize};

/// Check-run conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conclusion {
    /// Passed.
    Success,
    /// Failed.
    Failure,
    /// Nothing to judge yet (e.g. no baseline).
    Neutral,
}

impl Conclusion {
    /// Lower-case name (GitHub's spelling).
    pub fn name(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Neutral => "neutral",
        }
    }

    /// Value of `bitnet_gate_status`: 1 success, 0 neutral, −1 failure.
    pub fn metric_value(self) -> f64 {
        match self {
            Conclusion::Success => 1.0,
            Conclusion::Neutral => 0.0,
            Conclusion::Failure => -1.0,
        }
    }
}

/// One gate to post on a commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutcome {
    /// Check name (with the host suffix when configured).
    pub name: String,
    /// Commit.
    pub head_sha: String,
    /// Our id on the check run, so we find and update our own.
    pub external_id: String,
    /// Conclusion.
    pub conclusion: Conclusion,
    /// Check title.
    pub title: String,
    /// The evidence line.
    pub summary: String,
    /// Markdown body.
    pub text: String,
}
