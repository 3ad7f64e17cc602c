//! One module per `perfd` subcommand.

pub mod bench;
