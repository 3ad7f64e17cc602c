//! Memory this host can give a benchmark right now, and how much of it the bandwidth
//! measurements may take.

use sysinfo::System;

/// Memory available to new allocations (Linux `MemAvailable`), in bytes.
pub fn available_bytes() -> u64 {
    let mut sys = System::new();
    sys.refresh_memory();
    sys.available_memory()
}
