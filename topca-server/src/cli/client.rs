//! `client add|list|revoke`: machine clients and their API tokens.

use clap::{Args, Subcommand};

use super::{DataArgs, EXIT_CODES, non_empty};

/// Machine clients.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Adds a machine client for an account and prints its API token once.
    #[command(after_help = EXIT_CODES)]
    Add(AddArgs),
    /// Lists the machine clients (reads only).
    #[command(after_help = EXIT_CODES)]
    List(DataArgs),
    /// Revokes a machine client: its token is refused from the next request on.
    #[command(after_help = EXIT_CODES)]
    Revoke(RevokeArgs),
}

/// `client add NAME --account ID …`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The client's name (letters, digits, '.', '-', '_').
    #[arg(value_parser = non_empty)]
    pub name: String,
    /// The account it issues for.
    #[arg(long, value_name = "ID")]
    pub account: u64,
    /// Profiles it may use, comma-separated, default first: tls-server,
    /// tls-client, short-lived (TLS server, at most 7 days, no CRL or OCSP;
    /// RFC 9608). For an ACME client (`acme`, `acme-NAME`) these are the
    /// profiles its directory offers; the first is what an order without a
    /// `profile` gets.
    #[arg(long, value_name = "LIST", default_value = "tls-server")]
    pub profile: String,
    /// Domain suffixes its names must end in, comma-separated (on top of the
    /// account's server policy).
    #[arg(long, value_name = "SUFFIXES", default_value = "")]
    pub allowed_names: String,
    /// The longest validity, in days [default: the account's].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub validity_days: Option<u32>,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// `client revoke NAME|ID`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The client's name or number.
    #[arg(value_parser = non_empty)]
    pub name: String,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Runs `client …`.
pub fn run(command: ClientCommand) -> Result<(), String> {
    use topca_server::machine_clients as clients;
    let lines = match command {
        ClientCommand::Add(args) => {
            let options = args.data.options()?;
            topca_server::setup::require_ca(&options.data_dir).map_err(|e| e.to_string())?;
            let spec = clients::ClientSpec {
                name: args.name,
                account: args.account,
                profiles: args.profile,
                allowed_names: args.allowed_names,
                validity_days: args.validity_days,
            };
            clients::add(&options, &spec).map_err(|e| e.to_string())?
        }
        ClientCommand::List(data) => {
            let options = data.options()?;
            topca_server::setup::require_ca(&options.data_dir).map_err(|e| e.to_string())?;
            clients::list(&options).map_err(|e| e.to_string())?
        }
        ClientCommand::Revoke(args) => {
            let options = args.data.options()?;
            topca_server::setup::require_ca(&options.data_dir).map_err(|e| e.to_string())?;
            vec![clients::revoke(&options, &args.name).map_err(|e| e.to_string())?]
        }
    };
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
