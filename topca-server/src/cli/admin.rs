//! `admin add`, `audit verify|checkpoint`, `issuance unfinished`.

use clap::{Args, Subcommand};

use super::{DataArgs, EXIT_CODES, non_empty};

/// Administrators.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Creates an administrator; the password (12 characters or more) comes from
    /// TOPCA_ADMIN_PASSWORD or the first line of standard input (there is never
    /// a default password).
    #[command(after_help = EXIT_CODES)]
    Add(AddArgs),
}

/// `admin add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The login name.
    #[arg(value_parser = non_empty)]
    pub name: String,
    /// The roles, comma-separated: super, ra, kmc.
    #[arg(long, value_name = "LIST", value_parser = non_empty)]
    pub roles: String,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// The audit log.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Checks the audit log's keyed hash chain and its latest signed checkpoint
    /// (reads only).
    #[command(after_help = EXIT_CODES)]
    Verify(DataArgs),
    /// Appends a checkpoint of the current head, signed by the issuing CA.
    #[command(after_help = EXIT_CODES)]
    Checkpoint(DataArgs),
}

/// Issuances.
#[derive(Debug, Subcommand)]
pub enum IssuanceCommand {
    /// Lists the serials reserved for signing whose certificate was never
    /// recorded as issued (reads only).
    #[command(after_help = EXIT_CODES)]
    Unfinished(UnfinishedArgs),
}

/// `issuance unfinished`.
#[derive(Debug, Args)]
pub struct UnfinishedArgs {
    /// A database to read instead of the data directory's.
    #[arg(long, value_name = "URL", value_parser = non_empty)]
    pub database: Option<String>,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// `admin add NAME --roles LIST`.
pub fn admin(command: AdminCommand) -> Result<(), String> {
    let AdminCommand::Add(args) = command;
    let name = args.name.trim();
    let roles: Vec<topca_core::ra::AdminRole> = args
        .roles
        .split(',')
        .map(|r| {
            topca_core::ra::AdminRole::from_name(r.trim())
                .ok_or_else(|| format!("unknown role {r:?}; use super, ra or kmc"))
        })
        .collect::<Result<_, _>>()?;
    let password = match std::env::var("TOPCA_ADMIN_PASSWORD") {
        Ok(p) => zeroize::Zeroizing::new(p),
        Err(_) => {
            eprintln!("password for {name}:");
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the password: {e}"))?;
            zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned())
        }
    };
    let options = args.data.options()?;
    topca_server::setup::add_admin(&options, name, &password, roles).map_err(|e| e.to_string())?;
    println!("administrator {name} created");
    Ok(())
}

/// `audit verify|checkpoint`: the audit log is intact (keyed entries, the latest
/// signed checkpoint of the file), or the first finding; or a signed checkpoint
/// of the current head is appended to the file.
pub fn audit(command: AuditCommand) -> Result<(), String> {
    match command {
        AuditCommand::Verify(data) => {
            let options = data.options()?;
            topca_server::setup::require_ca(&options.data_dir).map_err(|e| e.to_string())?;
            let verified = topca_server::audit_log::verify_offline(&options)
                .map_err(|e| format!("audit verification failed: {e}"))?;
            println!("{}", verified.describe());
            Ok(())
        }
        AuditCommand::Checkpoint(data) => {
            let options = data.options()?;
            topca_server::setup::require_ca(&options.data_dir).map_err(|e| e.to_string())?;
            let made =
                topca_server::audit_log::checkpoint_offline(&options).map_err(|e| e.to_string())?;
            println!(
                "audit checkpoint signed at entry {} into {}",
                made.sequence,
                topca_server::audit_log::checkpoint_file(&options.data_dir).display()
            );
            Ok(())
        }
    }
}

/// `issuance unfinished [--database URL]`.
pub fn issuance(command: IssuanceCommand) -> Result<(), String> {
    let IssuanceCommand::Unfinished(args) = command;
    let options = args.data.options()?;
    let store = topca_server::issuances::open_existing(&options, args.database.as_deref())
        .map_err(|e| e.to_string())?;
    for line in topca_server::issuances::unfinished_report(&store).map_err(|e| e.to_string())? {
        println!("{line}");
    }
    Ok(())
}
