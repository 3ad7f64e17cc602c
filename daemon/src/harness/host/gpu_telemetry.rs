//! NVML sampled on a thread while a CUDA run is in progress: utilisation, memory, power,
//! temperature, SM clock, throttle reasons, and the other processes on the GPU (the noise guard's
//! GPU half). Without NVML (no driver) there is nothing to sample and the report says nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nvml_wrapper::bitmasks::device::ThrottleReasons;
use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::Nvml;

use crate::report::gpu::GpuTelemetry;

/// Throttle reasons worth reporting, with NVML's names.
pub const THROTTLE_REASONS: &[(ThrottleReasons, &str)] = &[
    (
        ThrottleReasons::APPLICATIONS_CLOCKS_SETTING,
        "applications_clocks_setting",
    ),
    (ThrottleReasons::SW_POWER_CAP, "sw_power_cap"),
    (ThrottleReasons::HW_SLOWDOWN, "hw_slowdown"),
    (ThrottleReasons::SYNC_BOOST, "sync_boost"),
    (ThrottleReasons::SW_THERMAL_SLOWDOWN, "sw_thermal_slowdown"),
    (ThrottleReasons::HW_THERMAL_SLOWDOWN, "hw_thermal_slowdown"),
    (
        ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN,
        "hw_power_brake_slowdown",
    ),
];

/// The names of the active reasons in `r`.
pub fn throttle_reason_names(r: ThrottleReasons) -> Vec<&'static str> {
    THROTTLE_REASONS
        .iter()
        .filter(|(flag, _)| r.contains(*flag))
        .map(|&(_, name)| name)
        .collect()
}

/// A running sampler.
#[derive(Debug)]
pub struct GpuSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Option<GpuTelemetry>>,
}

impl GpuSampler {
    /// Starts sampling device `ordinal` every `period`; `None` where NVML does not load.
    pub fn start(ordinal: u32, period: Duration) -> Option<Self> {
        let nvml = Nvml::init().ok()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("perfd-nvml".into())
            .spawn(move || sample_until(&nvml, ordinal, period, &flag))
            .ok()?;
        Some(Self { stop, handle })
    }

    /// Stops sampling and returns what was seen (`None` if no sample could be read).
    pub fn finish(self) -> Option<GpuTelemetry> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().ok().flatten()
    }
}

fn sample_until(
    nvml: &Nvml,
    ordinal: u32,
    period: Duration,
    stop: &AtomicBool,
) -> Option<GpuTelemetry> {
    let device = nvml.device_by_index(ordinal).ok()?;
    let own = std::process::id();
    let mut t = GpuTelemetry {
        samples: 0,
        utilization_max: 0.0,
        memory_used_max_bytes: 0,
        memory_total_bytes: 0,
        power_max_watts: 0.0,
        temperature_max_celsius: 0.0,
        sm_clock_min_hertz: f64::INFINITY,
        sm_clock_max_hertz: 0.0,
        throttle_reasons: Vec::new(),
        other_processes: Vec::new(),
    };
    loop {
        // A reading NVML refuses (some are not supported on every board) is left out of the
        // sample rather than recorded as zero.
        if let Ok(u) = device.utilization_rates() {
            t.utilization_max = t.utilization_max.max(f64::from(u.gpu) / 100.0);
        }
        if let Ok(m) = device.memory_info() {
            t.memory_used_max_bytes = t.memory_used_max_bytes.max(m.used);
            t.memory_total_bytes = m.total;
        }
        if let Ok(mw) = device.power_usage() {
            t.power_max_watts = t.power_max_watts.max(f64::from(mw) / 1000.0);
        }
        if let Ok(c) = device.temperature(TemperatureSensor::Gpu) {
            t.temperature_max_celsius = t.temperature_max_celsius.max(f64::from(c));
        }
        if let Ok(mhz) = device.clock_info(Clock::SM) {
            let hz = f64::from(mhz) * 1e6;
            t.sm_clock_min_hertz = t.sm_clock_min_hertz.min(hz);
            t.sm_clock_max_hertz = t.sm_clock_max_hertz.max(hz);
        }
        if let Ok(r) = device.current_throttle_reasons() {
            for name in throttle_reason_names(r) {
                if !t.throttle_reasons.iter().any(|n| n == name) {
                    t.throttle_reasons.push(name.to_string());
                }
            }
        }
        let procs = device
            .running_compute_processes()
            .into_iter()
            .chain(device.running_graphics_processes())
            .flatten();
        for p in procs {
            if p.pid != own && !t.other_processes.contains(&p.pid) {
                t.other_processes.push(p.pid);
            }
        }
        t.samples += 1;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        std::thread::sleep(period);
    }
    if !t.sm_clock_min_hertz.is_finite() {
        t.sm_clock_min_hertz = 0.0;
    }
    Some(t)
}
