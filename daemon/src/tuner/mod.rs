//! The tuner (DESIGN §8): searches the kernel parameter space for a faster configuration of this
//! host, behind the cross-validation guard, and adopts a winner only when an interleaved A/B shows
//! it is faster. `perfd tune` runs it by hand; the daemon runs it on a breach, a confirmed
//! regression or an Alertmanager alert.

pub mod adoption;
pub mod guard;
pub mod harness_probe;
pub mod job;
pub mod memory;
pub mod objective;
pub mod probe;
pub mod profile;
pub mod report;
pub mod search;
pub mod space;
pub mod store_memory;

pub use job::{JobOutcome, JobSpec};
pub use objective::Objective;
pub use probe::{EngineProbe, Probe, ProbeError};
pub use profile::TunedProfile;
pub use report::{TuneReport, TUNE_SCHEMA};
pub use space::{Candidate, TuneSpace};
