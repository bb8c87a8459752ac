//! The command line: clap types only; each command runs in its own module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub mod acme;
pub mod admin;
pub mod ca;
pub mod client;
pub mod cmp;
pub mod data;
pub mod ops;
pub mod serve;

/// What `--help` says after the options of every command.
const EXIT_CODES: &str = "\
Exit codes: 0 success; 1 failure (the message says why); 2 usage error (a wrong or missing argument).

Secrets are never flags: TOPCA_CA_PASSPHRASE and TOPCA_KMC_MASTER_KEY (else secrets/ in the data \
directory), TOPCA_ADMIN_PASSWORD (else the first line of standard input), TOPCA_IMPORT_PASSPHRASE.";

/// TopCA: a certification authority, registration authority and key management
/// centre. Without a command it serves.
#[derive(Debug, Parser)]
#[command(
    name = "topca-server",
    version,
    propagate_version = true,
    args_conflicts_with_subcommands = true,
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The command; none serves.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// How to serve, when no command is given.
    #[command(flatten)]
    pub serve: serve::ServeArgs,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prepares the data directory on first start and serves the centres.
    #[command(after_help = EXIT_CODES)]
    Serve(serve::ServeArgs),
    /// Administrators.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
    /// The CA: its chain, a CRL now, bringing an existing or externally signed CA.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// Machine clients: API tokens that issue in one call.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Issuances that were reserved and never recorded.
    #[command(subcommand)]
    Issuance(admin::IssuanceCommand),
    /// A consistent backup of the data directory into a new folder.
    #[command(after_help = EXIT_CODES)]
    Backup(data::BackupArgs),
    /// Restores a backup into a data directory (the server stopped).
    #[command(after_help = EXIT_CODES)]
    Restore(data::RestoreArgs),
    /// Nodes of a CA kept in PostgreSQL.
    #[command(subcommand)]
    Node(data::NodeCommand),
    /// The configuration file.
    #[command(subcommand)]
    Config(ops::ConfigCommand),
    /// Probes a running server's /healthz: exit 0 when it answers 200, else 1.
    #[command(after_help = EXIT_CODES)]
    Healthcheck(ops::HealthcheckArgs),
    /// Mail.
    #[command(subcommand)]
    Mail(ops::MailCommand),
    /// CMP credentials: a reference and secret for MAC-protected CMP.
    #[command(subcommand)]
    CmpCredential(cmp::CmpCommand),
    /// ACME: external account binding keys.
    #[command(subcommand)]
    Acme(acme::AcmeCommand),
}

/// Where the data and the configuration are (every command that uses them).
#[derive(Debug, Clone, Default, Args)]
pub struct DataArgs {
    /// The data directory [default: topca-data].
    #[arg(long, value_name = "DIR", env = "TOPCA_DATA_DIR", value_parser = non_empty)]
    pub data_dir: Option<String>,
    /// The configuration file [default: topca.toml in the data directory, if present].
    #[arg(long, value_name = "FILE", env = "TOPCA_CONFIG", value_parser = non_empty)]
    pub config: Option<String>,
}

impl DataArgs {
    /// The options these give with the environment and the configuration file.
    pub fn options(&self) -> Result<topca_server::setup::Options, String> {
        self.flags().options()
    }

    /// As start-up flags.
    pub fn flags(&self) -> FlagsOf {
        FlagsOf(topca_server::setup::Flags {
            data_dir: self.data_dir.clone(),
            config: self.config.clone(),
            ..topca_server::setup::Flags::default()
        })
    }
}

/// Start-up flags on their way to options.
pub struct FlagsOf(pub topca_server::setup::Flags);

impl FlagsOf {
    /// The options, or the message saying which value is wrong.
    pub fn options(&self) -> Result<topca_server::setup::Options, String> {
        topca_server::setup::Options::from_flags(&self.0).map_err(|e| e.to_string())
    }
}

/// A value that is not empty (nor only spaces).
pub fn non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("the value is empty".into());
    }
    Ok(value.to_owned())
}

/// A path that is not empty.
pub fn non_empty_path(value: &str) -> Result<PathBuf, String> {
    non_empty(value).map(PathBuf::from)
}

/// Runs the command line; `Err` is the one-line message of a failure.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        None => serve::run(&cli.serve),
        Some(Command::Serve(args)) => serve::run(&args),
        Some(Command::Admin(command)) => admin::admin(command),
        Some(Command::Audit(command)) => admin::audit(command),
        Some(Command::Ca(command)) => ca::run(command),
        Some(Command::Client(command)) => client::run(command),
        Some(Command::Issuance(command)) => admin::issuance(command),
        Some(Command::Backup(args)) => data::backup(&args),
        Some(Command::Restore(args)) => data::restore(&args),
        Some(Command::Node(command)) => data::node(command),
        Some(Command::Config(command)) => ops::config(command),
        Some(Command::Healthcheck(args)) => ops::healthcheck(&args),
        Some(Command::Mail(command)) => ops::mail(command),
        Some(Command::CmpCredential(command)) => cmp::run(command),
        Some(Command::Acme(command)) => acme::run(command),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
