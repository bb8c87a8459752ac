//! `topca-server`: serves the centres, and the operator's commands (see
//! `topca-server --help`, and the README's "Operating TopCA").
//!
//! Exit codes: 0 success, 1 failure (with a message on standard error), 2 a
//! usage error.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // `--help` and `--version` exit 0 here; a usage error exits 2.
    let parsed = cli::Cli::try_parse().unwrap_or_else(|e| e.exit());
    match cli::run(parsed) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("topca-server: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
