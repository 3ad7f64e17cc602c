//! The daemon's configuration: one TOML file (`/etc/perfd/perfd.toml`), typed, with every error
//! naming its key and line. No file at all means the embedded default.

mod file;
mod load;

pub use file::{
    BenchmarkSection, Config, DaemonSection, GithubSection, NoiseSection, RegressionSection,
    RepositorySection, ScheduleSection, SloSection, TunerSection,
};
pub use load::{
    load_file, parse, ConfigError, ConfigErrors, DEFAULT_CONFIG_PATH, MAX_DURATION_SECS,
};
