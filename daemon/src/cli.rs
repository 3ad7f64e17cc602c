//! Command-line interface of `perfd` (clap derive).

use clap::{Args, Parser, Subcommand};

/// perfd: benchmarks BitNet b1.58 ternary kernels and models, with honest, reproducible figures.
#[derive(Debug, Parser)]
#[command(name = "perfd", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the reference harness: measure kernels and print a bench report.
    Bench(BenchArgs),
}

/// Options of `perfd bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Benchmark the I2_S kernels (per kernel id and shape, with STREAM bandwidth).
    #[arg(long)]
    pub kernels: bool,
    /// Print the `bitnet-perfd/bench-report/v1` JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Run one configuration, `key=value,...` (see --list-params); default: every supported ISA.
    #[arg(long, value_name = "K=V,...")]
    pub params: Option<String>,
    /// Print the tunable parameter space of this host and exit.
    #[arg(long)]
    pub list_params: bool,
    /// Cross-validate every benchmarked configuration against the scalar reference first;
    /// a failure exits with status 2.
    #[arg(long)]
    pub crossval: bool,
    /// GEMV shapes as ROWSxCOLS, comma-separated; default: the four BitNet 2B-4T shapes.
    #[arg(long, value_name = "MxK,...")]
    pub shapes: Option<String>,
    /// Where the weights live: cache, dram, or both (comma-separated).
    #[arg(long, default_value = "cache,dram")]
    pub residency: String,
    /// Timed samples per measurement.
    #[arg(long, default_value_t = 11)]
    pub samples: usize,
    /// Minimum duration of one sample, in milliseconds.
    #[arg(long, default_value_t = 40)]
    pub sample_ms: u64,
    /// Average cores other processes may keep busy before the run is marked noisy.
    #[arg(long, default_value_t = 0.25)]
    pub noise_limit_cores: f64,
}
