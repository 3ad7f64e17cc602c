//! A tuned profile: the adopted parameters for one host fingerprint, model and objective, with
//! the evidence that put them there. Kept in the store (the daemon's source of truth) and written
//! as TOML — in the state directory, and as the file a tuning pull request proposes.

use serde::{Deserialize, Serialize};

use super::space::Candidate;

/// An adopted configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunedProfile {
    /// Host fingerprint id.
    pub host: String,
    /// CPU model, for people reading the file.
    pub cpu: String,
    /// Model (preset name or file).
    pub model: String,
    /// Objective it was tuned for.
    pub objective: String,
    /// The parameters, `k=v,...` (what `--params` and `PERFD_PARAMS` take).
    pub params: String,
    /// The profile it replaced.
    pub replaced: String,
    /// Geometric-mean gain over the replaced profile in the adoption A/B.
    pub gain: f64,
    /// 95 % confidence interval of the gain.
    pub gain_ci95: [f64; 2],
    /// p-value of the adoption test.
    pub p_value: f64,
    /// Cross-validation of the adopted parameters, in words.
    pub crossval: String,
    /// When it was adopted (RFC 3339).
    pub adopted_at: String,
}

impl TunedProfile {
    /// The parameters as a candidate.
    pub fn candidate(&self) -> Result<Candidate, String> {
        Candidate::parse(&self.params)
    }

    /// The TOML document, with a header saying where it came from.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        Ok(format!(
            "# Tuned kernel profile written by `perfd tune` (bitnet-perfd). Every candidate passed the\n\
             # cross-validation guard; the winner was adopted by an interleaved A/B. Re-run with\n\
             # `perfd bench --params \"{}\"`.\n{}",
            self.params,
            toml::to_string(self)?
        ))
    }

    /// Reads a profile document.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

/// File name of a profile in a directory: one per host fingerprint, model and objective.
pub fn file_name(host: &str, model: &str, objective: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    if model.is_empty() && objective == "decode" {
        format!("{}.toml", clean(host))
    } else {
        format!("{}-{}-{}.toml", clean(host), clean(model), clean(objective))
    }
}

/// The model a profile belongs to: the model file's path, else the preset's name.
pub fn model_key(preset: &str, model: Option<&std::path::Path>) -> String {
    model.map_or_else(|| preset.to_string(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_round_trip_through_toml() {
        let p = TunedProfile {
            host: "abc123".into(),
            cpu: "Intel Xeon".into(),
            model: "tiny".into(),
            objective: "decode".into(),
            params: "isa=avx2,threads=2".into(),
            replaced: "isa=avx2,threads=1".into(),
            gain: 0.42,
            gain_ci95: [0.3, 0.5],
            p_value: 1e-6,
            crossval: "pass".into(),
            adopted_at: "2026-11-26T00:00:00Z".into(),
        };
        let text = p.to_toml().unwrap();
        assert!(text.starts_with("# Tuned kernel profile"));
        assert_eq!(TunedProfile::from_toml(&text).unwrap(), p);
        assert_eq!(
            file_name("abc", "2b4t", "kernel:1x2"),
            "abc-2b4t-kernel_1x2.toml"
        );
    }
}
