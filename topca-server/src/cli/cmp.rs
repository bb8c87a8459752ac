//! `cmp-credential add`: CMP shared secrets (reference + secret).

use clap::{Args, Subcommand};

use super::{DataArgs, EXIT_CODES};

/// CMP credentials.
#[derive(Debug, Subcommand)]
pub enum CmpCommand {
    /// Makes a CMP credential for an account and prints its reference and
    /// secret once (for `openssl cmp -ref … -secret pass:…`).
    #[command(after_help = EXIT_CODES)]
    Add(AddArgs),
}

/// `cmp-credential add --account ID`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The account it enrolls for.
    #[arg(long, value_name = "ID")]
    pub account: u64,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Runs `cmp-credential …`.
pub fn run(command: CmpCommand) -> Result<(), String> {
    let CmpCommand::Add(args) = command;
    let options = args.data.options()?;
    topca_server::setup::require_ca(&options.data_dir).map_err(|e| e.to_string())?;
    let lines =
        topca_server::cmp::credential::add(&options, args.account).map_err(|e| e.to_string())?;
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
