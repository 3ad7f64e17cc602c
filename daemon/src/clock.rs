//! The one clock: Unix seconds for the store and the scheduler, RFC 3339 for reports and profiles.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now (0 on a clock before 1970, which no stored time can be compared with).
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The current time as RFC 3339 UTC.
pub fn rfc3339_now() -> Result<String, time::error::Format> {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)
}
