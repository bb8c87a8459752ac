//! `acme eab add --profile NAME`: external account binding keys for ACME.

use clap::{Args, Subcommand};

use super::{DataArgs, EXIT_CODES};

/// ACME.
#[derive(Debug, Subcommand)]
pub enum AcmeCommand {
    /// External account binding keys (RFC 8555 §7.3.4).
    #[command(subcommand)]
    Eab(EabCommand),
}

/// External account binding keys.
#[derive(Debug, Subcommand)]
pub enum EabCommand {
    /// Makes an EAB key for an ACME profile and prints its key id and HMAC
    /// key once (certbot --eab-kid … --eab-hmac-key …); from its first key
    /// on, the profile takes new accounts only with a binding.
    #[command(after_help = EXIT_CODES)]
    Add(EabAddArgs),
}

/// `acme eab add --profile NAME`.
#[derive(Debug, Args)]
pub struct EabAddArgs {
    /// The ACME profile: NAME of the machine client `acme-NAME`, or
    /// `default` for the client `acme`.
    #[arg(long, value_name = "NAME")]
    pub profile: String,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Runs `acme …`.
pub fn run(command: AcmeCommand) -> Result<(), String> {
    let AcmeCommand::Eab(EabCommand::Add(args)) = command;
    let options = args.data.options()?;
    topca_server::setup::require_ca(&options.data_dir).map_err(|e| e.to_string())?;
    let lines = topca_server::acme::eab::add(&options, &args.profile).map_err(|e| e.to_string())?;
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
