//! `topca-server`: serves the centres, and the operator's commands (see
//! `topca-server --help`, and the README's "Operating TopCA").
//!
//! Exit codes: 0 success, 1 failure (with a message on standard error), 2 a
//! usage error.

mod cli;

use clap::Parser;

/// jemalloc instead of glibc's malloc: glibc gives each busy thread its own
/// arena (up to 8 per core) and keeps what an arena once held, so the server's
/// RSS grew from burst to burst; jemalloc's few arenas give freed pages back
/// after a while. It is also the process's `malloc` (the workspace's
/// `unprefixed_malloc_on_supported_platforms`), so SQLite's page caches and
/// aws-lc's signing buffers leave glibc's arenas too; its options are built in
/// (`.cargo/config.toml`). Measured in the README's "Memory".
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
