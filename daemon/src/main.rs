//! `perfd` binary: parses the command line, runs the subcommand, maps errors to exit statuses.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use perfd::cli::{AdaptCommand, Cli, Command, ModelCommand};
use perfd::commands;
use perfd::UsageError;

/// Exit status for usage and configuration errors (sysexits EX_USAGE).
const EXIT_USAGE: u8 = 64;
/// Exit status when cross-validation against the reference failed.
const EXIT_CROSSVAL: u8 = 2;

/// Output of a command that cannot fail cross-validation.
fn text(stdout: String) -> commands::bench::BenchOutcome {
    commands::bench::BenchOutcome {
        stdout,
        crossval_failed: false,
    }
}

/// The error and its causes on one line, each cause once: library errors often print their
/// source in their own message too (`path: No such device`), which `{:#}` would repeat.
fn describe(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(text.as_str()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; real usage errors exit 64 like ours.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let result = match &cli.command {
        Command::Bench(args) => commands::bench::run(args),
        Command::Model(ModelCommand::Write(args)) => commands::model_write::run(args).map(text),
        Command::Model(ModelCommand::Logits(args)) => commands::model_logits::run(args).map(text),
        Command::Run(args) => commands::run::run(args).map(|()| text(String::new())),
        Command::Tune(args) => commands::tune::run(args).map(text),
        Command::CheckConfig(args) => commands::check_config::run(args).map(text),
        Command::History(args) => commands::history::run(args).map(text),
        Command::Gate(args) => commands::gate::run(args).map(text),
        Command::Adapt(AdaptCommand::LlamaBench(args)) => commands::adapt::run(args).map(text),
        Command::ChildGuard(args) => commands::child_guard::run(args).map(|()| text(String::new())),
    };
    match result {
        Ok(outcome) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(outcome.stdout.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            if outcome.crossval_failed {
                eprintln!("perfd: cross-validation FAILED (the report above says where)");
                return ExitCode::from(EXIT_CROSSVAL);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("perfd: error: {}", describe(&e));
            if e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<bitnet_kernels::KernelError>()
                    .is_some_and(|k| {
                        matches!(
                            k,
                            bitnet_kernels::KernelError::Param { .. }
                                | bitnet_kernels::KernelError::IsaUnsupported(..)
                        )
                    })
            {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
