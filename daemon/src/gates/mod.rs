//! GitHub gates: the `integrative:gate:perf` and `integrative:gate:throughput` check runs (commit
//! statuses with a personal token), the ledger comment, the tuned-profile pull request, and the
//! durable outbox that posts them.

pub mod check_runs;
pub mod client;
pub mod decide;
pub mod github_http;
pub mod ledger;
pub mod outbox;
pub mod outbox_handle;
pub mod post_failures;
pub mod pull_request;
pub mod statuses;

pub use decide::{Conclusion, GateOutcome};
