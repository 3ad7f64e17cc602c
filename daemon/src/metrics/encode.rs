//! `/metrics` in either exposition format, each written by a maintained crate from the same
//! families: Prometheus text 0.0.4 by `prometheus` (through [`DaemonCollector`], a custom
//! `Collector` that derives every figure from the daemon's state and store at scrape time), and
//! OpenMetrics 1.0 by `prometheus-client` (the Prometheus project's Rust client; the `prometheus`
//! crate writes no OpenMetrics), chosen by the scraper's `Accept` header.

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::Encoder;

use super::collect::collect;
use super::family::{Family, Kind};
use super::gpu::GpuCollector;
use crate::state::DaemonState;

/// Content type of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Which exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// Picks the format from an `Accept` header (OpenMetrics only when asked for).
    pub fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The response content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// An encoder failed (never expected: the input is ours and well-formed).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode metrics: {0}")]
pub struct EncodeError(String);

/// The `prometheus` crate's view of the daemon: every family built at scrape time.
pub struct DaemonCollector<'a> {
    state: &'a DaemonState,
    gpu: &'a GpuCollector,
}

impl<'a> DaemonCollector<'a> {
    /// A collector over the daemon's state and NVML.
    pub fn new(state: &'a DaemonState, gpu: &'a GpuCollector) -> Self {
        Self { state, gpu }
    }

    /// The families of this scrape.
    pub fn families(&self) -> Vec<Family> {
        collect(self.state, self.gpu)
    }
}

impl Collector for DaemonCollector<'_> {
    /// The families are only known at scrape time (a collector of an exporter), so none are
    /// described up front; this collector is encoded directly, not through a registry.
    fn desc(&self) -> Vec<&Desc> {
        Vec::new()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.families().iter().filter_map(to_proto).collect()
    }
}

/// One family as the `prometheus` crate's protobuf model (None without samples).
fn to_proto(f: &Family) -> Option<MetricFamily> {
    if f.samples.is_empty() {
        return None;
    }
    let mut mf = MetricFamily::default();
    mf.set_name(f.sample_name());
    mf.set_help(f.help.to_string());
    mf.set_field_type(match f.kind {
        Kind::Counter => MetricType::COUNTER,
        Kind::Gauge => MetricType::GAUGE,
    });
    for s in &f.samples {
        let mut m = proto::Metric::default();
        let labels = s
            .labels
            .iter()
            .map(|(k, v)| {
                let mut l = proto::LabelPair::default();
                l.set_name(k.to_string());
                l.set_value(v.clone());
                l
            })
            .collect();
        m.set_label(labels);
        match f.kind {
            Kind::Counter => {
                let mut c = proto::Counter::default();
                c.set_value(s.value);
                m.set_counter(c);
            }
            Kind::Gauge => {
                let mut g = proto::Gauge::default();
                g.set_value(s.value);
                m.set_gauge(g);
            }
        }
        mf.mut_metric().push(m);
    }
    Some(mf)
}

/// Prometheus text 0.0.4 of `families`.
pub fn text(families: &[MetricFamily]) -> Result<String, EncodeError> {
    let mut buf = Vec::new();
    prometheus::TextEncoder::new()
        .encode(families, &mut buf)
        .map_err(|e| EncodeError(e.to_string()))?;
    String::from_utf8(buf).map_err(|e| EncodeError(e.to_string()))
}

/// The families as a `prometheus-client` collector (OpenMetrics).
#[derive(Debug)]
struct OpenMetricsFamilies(Vec<Family>);

impl prometheus_client::collector::Collector for OpenMetricsFamilies {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        use prometheus_client::metrics::MetricType as OmType;
        use prometheus_client::registry::Unit;
        for f in self.0.iter().filter(|f| !f.samples.is_empty()) {
            // prometheus-client appends the unit to the name itself.
            let (name, unit) = match f.unit {
                Some(u) => (
                    f.name.strip_suffix(&format!("_{u}")).unwrap_or(f.name),
                    Some(Unit::Other(u.to_string())),
                ),
                None => (f.name, None),
            };
            let kind = match f.kind {
                Kind::Counter => OmType::Counter,
                Kind::Gauge => OmType::Gauge,
            };
            let mut family = encoder.encode_descriptor(name, f.help, unit.as_ref(), kind)?;
            for s in &f.samples {
                let labels: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                let metric = family.encode_family(&labels)?;
                match f.kind {
                    Kind::Counter => ConstCounter::new(s.value).encode(metric)?,
                    Kind::Gauge => ConstGauge::new(s.value).encode(metric)?,
                }
            }
        }
        Ok(())
    }
}

/// OpenMetrics 1.0 text of `families`.
pub fn openmetrics(families: Vec<Family>) -> Result<String, EncodeError> {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(OpenMetricsFamilies(families)));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .map_err(|e| EncodeError(e.to_string()))?;
    Ok(out)
}

/// `/metrics` in `format`.
pub fn scrape(
    state: &DaemonState,
    gpu: &GpuCollector,
    format: Format,
) -> Result<String, EncodeError> {
    let collector = DaemonCollector::new(state, gpu);
    match format {
        Format::Text => text(&collector.collect()),
        Format::OpenMetrics => openmetrics(collector.families()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families() -> Vec<Family> {
        let mut g = Family::new("bitnet_x_seconds", "A gauge.", Kind::Gauge, Some("seconds"));
        g.push(vec![("phase", "de\"co\\de\n".into())], 0.25);
        let mut c = Family::new("bitnet_runs", "A counter.", Kind::Counter, None);
        c.push(vec![("result", "success".into())], 3.0);
        let empty = Family::new("bitnet_empty", "No samples.", Kind::Gauge, None);
        vec![g, c, empty]
    }

    #[test]
    fn text_format() {
        let mfs: Vec<_> = families().iter().filter_map(to_proto).collect();
        let t = text(&mfs).unwrap();
        assert!(
            t.contains("# HELP bitnet_runs_total A counter.\n# TYPE bitnet_runs_total counter\nbitnet_runs_total{result=\"success\"} 3\n"),
            "{t}"
        );
        assert!(t.contains("# TYPE bitnet_x_seconds gauge\n"), "{t}");
        assert!(
            t.contains("bitnet_x_seconds{phase=\"de\\\"co\\\\de\\n\"} 0.25"),
            "{t}"
        );
        assert!(!t.contains("bitnet_empty"), "{t}");
        assert!(!t.contains("# EOF") && !t.contains("# UNIT"), "{t}");
    }

    #[test]
    fn openmetrics_format() {
        let t = openmetrics(families()).unwrap();
        assert!(t.contains("# TYPE bitnet_runs counter\n"), "{t}");
        assert!(t.contains("bitnet_runs_total{result=\"success\"} 3"), "{t}");
        assert!(t.contains("# UNIT bitnet_x_seconds seconds\n"), "{t}");
        assert!(t.contains("# TYPE bitnet_x_seconds gauge\n"), "{t}");
        assert!(!t.contains("bitnet_empty"), "{t}");
        assert!(t.ends_with("# EOF\n"), "{t}");
    }

    #[test]
    fn negotiation() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
    }
}
