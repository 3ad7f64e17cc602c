//! One module per `perfd` subcommand (the bench suites live in `harness/`).

pub mod adapt;
pub mod bench;
pub mod check_config;
pub mod child_guard;
pub mod crossval_against;
pub mod gate;
pub mod history;
mod llama_bench_child;
pub mod model_logits;
pub mod model_write;
mod peer_llama_bench;
pub mod run;
pub mod tune;
pub mod tune_exhaustive;
