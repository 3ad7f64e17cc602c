//! Runs as values: their status and record, the row the store returns, the recorded run with its
//! reports, and a run as the baseline sees it. The store keeps them; it does not define them.

mod baseline;
mod record;
mod recorded;

pub use baseline::BaselineRun;
pub use record::{NewRun, RunRecord, RunRow, RunStatus};
pub use recorded::RecordedRun;
