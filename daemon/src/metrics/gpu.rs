//! GPU metrics from NVML. Without an NVIDIA driver NVML does not load: the daemon says so once at
//! startup and the GPU families are simply absent.

use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::Nvml;

use super::family::{Family, Kind};
use crate::harness::host::gpu_telemetry::THROTTLE_REASONS;

/// A loaded NVML, or the reason there is none.
pub struct GpuCollector {
    nvml: Option<Nvml>,
}

impl std::fmt::Debug for GpuCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuCollector")
            .field("nvml", &self.nvml.is_some())
            .finish()
    }
}

impl GpuCollector {
    /// Tries to load NVML; logs one line either way.
    pub fn init() -> Self {
        match Nvml::init() {
            Ok(nvml) => {
                let n = nvml.device_count().unwrap_or(0);
                tracing::info!(devices = n, "NVML loaded: GPU metrics enabled");
                Self { nvml: Some(nvml) }
            }
            Err(e) => {
                tracing::info!(reason = %e, "no NVIDIA GPU driver: GPU metrics disabled");
                Self { nvml: None }
            }
        }
    }

    /// GPU families (empty without NVML); `Err` with the number of failed readings.
    pub fn collect(&self) -> Result<Vec<Family>, (Vec<Family>, u64)> {
        let Some(nvml) = &self.nvml else {
            return Ok(Vec::new());
        };
        let mut util = Family::new(
            "bitnet_gpu_utilization_ratio",
            "GPU busy fraction over the last sample period.",
            Kind::Gauge,
            Some("ratio"),
        );
        let mut mem = Family::new(
            "bitnet_gpu_memory_used_bytes",
            "GPU memory in use.",
            Kind::Gauge,
            Some("bytes"),
        );
        let mut mem_total = Family::new(
            "bitnet_gpu_memory_total_bytes",
            "GPU memory installed (the memory-pressure alert divides used by it).",
            Kind::Gauge,
            Some("bytes"),
        );
        let mut power = Family::new(
            "bitnet_gpu_power_watts",
            "GPU power draw.",
            Kind::Gauge,
            Some("watts"),
        );
        let mut temp = Family::new(
            "bitnet_gpu_temperature_celsius",
            "GPU core temperature.",
            Kind::Gauge,
            Some("celsius"),
        );
        let mut clock = Family::new(
            "bitnet_gpu_sm_clock_hertz",
            "GPU SM clock.",
            Kind::Gauge,
            Some("hertz"),
        );
        let mut throttle = Family::new(
            "bitnet_gpu_throttle_reasons",
            "1 for each clock throttle reason NVML reports active (power cap, thermal, ...), else 0.",
            Kind::Gauge,
            None,
        );
        let mut failures = 0u64;
        let count = nvml.device_count().map_err(|_| (Vec::new(), 1))?;
        for i in 0..count {
            let Ok(d) = nvml.device_by_index(i) else {
                failures += 1;
                continue;
            };
            let labels = || {
                vec![
                    ("gpu", i.to_string()),
                    ("name", d.name().unwrap_or_else(|_| "unknown".into())),
                ]
            };
            let mut read = |ok: Option<(&mut Family, f64)>| match ok {
                Some((f, v)) => {
                    f.push(labels(), v);
                }
                None => failures += 1,
            };
            read(
                d.utilization_rates()
                    .ok()
                    .map(|u| (&mut util, f64::from(u.gpu) / 100.0)),
            );
            let memory = d.memory_info().ok();
            read(memory.as_ref().map(|m| (&mut mem, m.used as f64)));
            read(memory.as_ref().map(|m| (&mut mem_total, m.total as f64)));
            read(
                d.power_usage()
                    .ok()
                    .map(|mw| (&mut power, f64::from(mw) / 1000.0)),
            );
            read(
                d.temperature(TemperatureSensor::Gpu)
                    .ok()
                    .map(|c| (&mut temp, f64::from(c))),
            );
            read(
                d.clock_info(Clock::SM)
                    .ok()
                    .map(|mhz| (&mut clock, f64::from(mhz) * 1e6)),
            );
            match d.current_throttle_reasons() {
                Ok(active) => {
                    for (flag, reason) in THROTTLE_REASONS {
                        let mut l = labels();
                        l.push(("reason", (*reason).to_string()));
                        throttle.push(l, if active.contains(*flag) { 1.0 } else { 0.0 });
                    }
                }
                Err(_) => failures += 1,
            }
        }
        let families = vec![util, mem, mem_total, power, temp, clock, throttle];
        if failures == 0 {
            Ok(families)
        } else {
            Err((families, failures))
        }
    }
}
