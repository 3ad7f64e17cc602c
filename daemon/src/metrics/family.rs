//! Metric families as the collectors build them at scrape time: name, HELP, type, unit and
//! labelled values. The exposition crates write them (`encode.rs`).

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
    /// Unit (the name's suffix, per OpenMetrics), if any.
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

    /// The name samples carry (`_total` added to counters).
    pub fn sample_name(&self) -> String {
        match self.kind {
            Kind::Counter => format!("{}_total", self.name),
            Kind::Gauge => self.name.to_string(),
        }
    }
}
