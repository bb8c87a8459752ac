//! `backup`, `restore`, `node join`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{DataArgs, EXIT_CODES, non_empty, non_empty_path};

/// `backup DIR`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new folder to write (an existing one is refused).
    #[arg(value_parser = non_empty_path)]
    pub out: PathBuf,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// `restore DIR`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup folder.
    #[arg(value_parser = non_empty_path)]
    pub backup: PathBuf,
    /// The KMC master key file, when the backup's data directory kept it apart.
    #[arg(long, value_name = "FILE", value_parser = non_empty_path)]
    pub master_key: Option<PathBuf>,
    /// The CA passphrase file, when the backup's data directory kept it apart.
    #[arg(long, value_name = "FILE", value_parser = non_empty_path)]
    pub ca_passphrase: Option<PathBuf>,
    /// The target data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Nodes.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Brings up another node of the CA kept in the database at --database in a
    /// fresh data directory, given the first node's CA passphrase and KMC master
    /// key (TOPCA_CA_PASSPHRASE and TOPCA_KMC_MASTER_KEY, or the files
    /// secrets/ca-passphrase and secrets/kmc-master.key of the directory); start
    /// it with TOPCA_DATABASE_URL set to the same database.
    #[command(after_help = EXIT_CODES)]
    Join(JoinArgs),
}

/// `node join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The CA's PostgreSQL database.
    #[arg(long, value_name = "URL", env = "TOPCA_DATABASE_URL", value_parser = non_empty)]
    pub database: String,
    /// The new node's data directory.
    #[arg(long, value_name = "DIR", value_parser = non_empty_path)]
    pub data_dir: PathBuf,
}

/// `backup DIR`: a consistent copy of the data directory and a manifest.
pub fn backup(args: &BackupArgs) -> Result<(), String> {
    let options = args.data.options()?;
    topca_server::setup::require_ca(&options.data_dir).map_err(|e| e.to_string())?;
    let config = topca_server::setup::config_file(args.data.config.clone(), &options.data_dir);
    let made = topca_server::backup::backup(&options, config.as_deref(), &args.out)
        .map_err(|e| e.to_string())?;
    let out = args.out.display();
    let manifest = &made.manifest;
    println!(
        "backup of the CA {} (issuing certificate SHA-256 {}) written to {out}",
        manifest.ca.issuing_subject, manifest.ca.issuing_sha256
    );
    for file in &manifest.files {
        println!(
            "  {:<20} {:>10} bytes  SHA-256 {}",
            file.path, file.bytes, file.sha256
        );
    }
    match made.audit_entries {
        Some(entries) => println!("  the copy's audit log verifies ({entries} entries)"),
        None => println!(
            "  the PostgreSQL database is not in it: back it up with pg_dump, or use point-in-time recovery (base backup and archived WAL)"
        ),
    }
    println!("not in the backup; keep them apart and supply them at restore:");
    for needed in &manifest.not_included {
        println!("  - {}: {}", needed.what, needed.supply);
    }
    Ok(())
}

/// `restore DIR`: the server must be stopped.
pub fn restore(args: &RestoreArgs) -> Result<(), String> {
    let options = args.data.options()?;
    let restored = topca_server::restore::restore(&topca_server::restore::RestoreRequest {
        backup: &args.backup,
        target: &options.data_dir,
        database_url: options.database_url.as_deref(),
        master_key_file: args.master_key.as_deref(),
        ca_passphrase_file: args.ca_passphrase.as_deref(),
    })
    .map_err(|e| e.to_string())?;
    println!(
        "restored {} into {}: the CA {} as of {} ({} audit entries verified)",
        args.backup.display(),
        options.data_dir.display(),
        restored.manifest.ca.issuing_subject,
        restored.manifest.created,
        restored.audit_entries
    );
    if let Some(previous) = &restored.previous {
        println!(
            "the data directory it replaced is kept as {}",
            previous.display()
        );
    }
    for var in &restored.from_environment {
        println!(
            "start the server with {var} set as now: it was not written into the data directory"
        );
    }
    Ok(())
}

/// `node join --database URL --data-dir DIR`.
pub fn node(command: NodeCommand) -> Result<(), String> {
    let NodeCommand::Join(args) = command;
    let dir = &args.data_dir;
    let secrets = topca_server::nodes::JoinSecrets::given(dir).map_err(|e| e.to_string())?;
    let subject =
        topca_server::nodes::join(dir, &args.database, &secrets).map_err(|e| e.to_string())?;
    println!(
        "{} joined the CA {subject}; start it with TOPCA_DATABASE_URL set to the same database",
        dir.display()
    );
    Ok(())
}
