//! Why a run produced no result: one variant per cause, each with the words a user reads in the
//! stored reason, and the run status it is recorded as.

use std::time::Duration;

use super::child_process::{CommandResult, Ending};
use crate::run::RunStatus;

/// A run (or one of its steps) that did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunFailure {
    /// A child process could not be started.
    #[error("cannot start the {label}: {cause}")]
    Spawn {
        /// What was being started (`harness`, `build`).
        label: String,
        /// The operating system's error.
        cause: String,
    },
    /// A step ran past its timeout and was killed.
    #[error("{0}")]
    TimedOut(String),
    /// perfd is stopping: the step was cancelled.
    #[error("{0}")]
    Cancelled(String),
    /// The build failed.
    #[error("{0}")]
    BuildFailed(String),
    /// The harness failed or printed no usable report.
    #[error("{0}")]
    HarnessFailed(String),
    /// The mainline could not be fetched or checked out.
    #[error("{0}")]
    FetchFailed(String),
    /// perfd itself could not run the step (its binary, its directories).
    #[error("{0}")]
    Setup(String),
}

impl RunFailure {
    /// The status the run is recorded with.
    pub fn status(&self) -> RunStatus {
        match self {
            RunFailure::Spawn { .. } | RunFailure::HarnessFailed(_) | RunFailure::Setup(_) => {
                RunStatus::HarnessFailed
            }
            RunFailure::TimedOut(_) => RunStatus::Timeout,
            RunFailure::Cancelled(_) => RunStatus::Cancelled,
            RunFailure::BuildFailed(_) => RunStatus::BuildFailed,
            RunFailure::FetchFailed(_) => RunStatus::FetchFailed,
        }
    }

    /// A child that ended unsuccessfully: timed out, cancelled, or failed as `failed` says
    /// (a build or a harness), with the child's own words appended.
    pub fn of_child(
        r: &CommandResult,
        label: &str,
        timeout: Duration,
        detail: String,
        failed: fn(String) -> RunFailure,
    ) -> RunFailure {
        let reason = format!("{}{detail}", r.describe(label, timeout));
        match r.ending {
            Ending::TimedOut => RunFailure::TimedOut(reason),
            Ending::Cancelled => RunFailure::Cancelled(reason),
            _ => failed(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_recorded_with_its_status_and_words() {
        let f = RunFailure::Spawn {
            label: "harness".into(),
            cause: "No such file or directory".into(),
        };
        assert_eq!(f.status(), RunStatus::HarnessFailed);
        assert_eq!(
            f.to_string(),
            "cannot start the harness: No such file or directory"
        );
        assert_eq!(
            RunFailure::BuildFailed("x".into()).status(),
            RunStatus::BuildFailed
        );
        assert_eq!(
            RunFailure::TimedOut("x".into()).status(),
            RunStatus::Timeout
        );
        assert_eq!(
            RunFailure::FetchFailed("x".into()).status(),
            RunStatus::FetchFailed
        );
    }
}
