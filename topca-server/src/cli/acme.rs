//! `acme eab add --profile NAME`: external account binding keys for ACME;
//! `acme renew-before`: the renewal cut-off ACME renewal information enforces.

use clap::{Args, Subcommand};

use super::{DataArgs, EXIT_CODES};

/// ACME.
#[derive(Debug, Subcommand)]
pub enum AcmeCommand {
    /// External account binding keys (RFC 8555 §7.3.4).
    #[command(subcommand)]
    Eab(EabCommand),
    /// Sets the renewal cut-off: ACME renewal information (RFC 9773) tells
    /// clients to renew at once every certificate issued before it (an
    /// issuing key or algorithm to move away from, a CA about to be
    /// replaced), on every node; `--clear` ends it.
    #[command(after_help = EXIT_CODES)]
    RenewBefore(RenewBeforeArgs),
}

/// `acme renew-before --issued-before now|YYYY-MM-DD` or `--clear`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false, id = "cutoff")]
pub struct RenewBeforeArgs {
    /// `now`, or a day (YYYY-MM-DD, from 00:00 UTC): certificates issued
    /// before it are to be renewed now.
    #[arg(long, value_name = "WHEN", group = "cutoff")]
    pub issued_before: Option<String>,
    /// Clears the cut-off: renewal windows follow each certificate's validity.
    #[arg(long, group = "cutoff")]
    pub clear: bool,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
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
    let lines = match command {
        AcmeCommand::Eab(EabCommand::Add(args)) => {
            let options = args.data.options()?;
            topca_server::setup::require_ca(&options.data_dir).map_err(|e| e.to_string())?;
            topca_server::acme::eab::add(&options, &args.profile).map_err(|e| e.to_string())?
        }
        AcmeCommand::RenewBefore(args) => {
            let at = match args.issued_before.as_deref().map(str::trim) {
                None => None,
                Some("now") => Some(std::time::SystemTime::now()),
                Some(day) => Some(topca_core::parse_utc_day(day).ok_or_else(|| {
                    format!("--issued-before {day:?} is neither now nor a day (YYYY-MM-DD)")
                })?),
            };
            let options = args.data.options()?;
            topca_server::setup::require_ca(&options.data_dir).map_err(|e| e.to_string())?;
            topca_server::acme::renewal::set_renew_before(&options, at)
                .map_err(|e| e.to_string())?
        }
    };
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
