//! Prometheus exposition: text format 0.0.4 and OpenMetrics 1.0 from the same families.

use std::fmt::Write;

/// Content type of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A monotonically increasing count; the family name has no `_total`, samples do.
    Counter,
}

/// One labelled value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label pairs.
    pub labels: Vec<(&'static str, String)>,
    /// Value.
    pub value: f64,
}

/// A metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Name without the counter `_total` suffix.
    pub name: &'static str,
    /// HELP text.
    pub help: &'static str,
    /// Type.
    pub kind: Kind,
    /// Unit (must be the name's suffix, per OpenMetrics), if any.
    pub unit: Option<&'static str>,
    /// Samples; a family without samples is not written.
    pub samples: Vec<Sample>,
}

impl Family {
    /// A family with no samples yet.
    pub fn new(
        name: &'static str,
        help: &'static str,
        kind: Kind,
        unit: Option<&'static str>,
    ) -> Self {
        Self {
            name,
            help,
            kind,
            unit,
            samples: Vec::new(),
        }
    }

    /// Adds a sample (non-finite values are dropped: they are not measurements).
    pub fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) -> &mut Self {
        if value.is_finite() {
            self.samples.push(Sample { labels, value });
        }
        self
    }
}

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

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn value(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:e}")
    }
}

/// Encodes the families in `format`.
pub fn encode(families: &[Family], format: Format) -> String {
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let counter = f.kind == Kind::Counter;
        let sample_name = if counter {
            format!("{}_total", f.name)
        } else {
            f.name.to_string()
        };
        // 0.0.4 names the family as its samples are named; OpenMetrics names it without `_total`.
        let family_name = if format == Format::Text {
            sample_name.as_str()
        } else {
            f.name
        };
        let kind = if counter { "counter" } else { "gauge" };
        let _ = writeln!(out, "# HELP {family_name} {}", escape_help(f.help));
        let _ = writeln!(out, "# TYPE {family_name} {kind}");
        if let (Format::OpenMetrics, Some(unit)) = (format, f.unit) {
            let _ = writeln!(out, "# UNIT {family_name} {unit}");
        }
        for s in &f.samples {
            out.push_str(&sample_name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", value(s.value));
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
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
        let t = encode(&families(), Format::Text);
        assert!(t.contains(
            "# TYPE bitnet_runs_total counter\nbitnet_runs_total{result=\"success\"} 3\n"
        ));
        assert!(t.contains("bitnet_x_seconds{phase=\"de\\\"co\\\\de\\n\"} 2.5e-1"));
        assert!(!t.contains("bitnet_empty"));
        assert!(!t.contains("# EOF") && !t.contains("# UNIT"));
    }

    #[test]
    fn openmetrics_format() {
        let t = encode(&families(), Format::OpenMetrics);
        assert!(t.contains("# TYPE bitnet_runs counter\nbitnet_runs_total{result=\"success\"} 3\n"));
        assert!(t.contains("# UNIT bitnet_x_seconds seconds"));
        assert!(t.ends_with("# EOF\n"));
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
