//! `topca-server [--data-dir DIR] [--listen ADDR:PORT] [--algorithm ALG] [--config FILE] [--demo]`:
//! prepares everything on first start (see `topca_server::setup`) and serves the
//! centres. `--demo` on the first start adds demonstration accounts (marked 演示,
//! two with automatic approval); a CA first started without it refuses it later.
//!
//! `topca-server audit verify [--data-dir DIR]`: checks the audit log's hash chain.
//!
//! `topca-server ca chain | ca crl [--data-dir DIR]`: prints the CA chain, or issues
//! a CRL now.
//!
//! `topca-server ca init --import-key KEY --import-cert CERT [--chain ROOT]`: makes
//! an existing CA this TopCA's issuing CA (key passphrase in
//! `TOPCA_IMPORT_PASSPHRASE`). `topca-server ca init --csr OUT [--algorithm ALG]
//! [--common-name CN] [--organization O]` makes the key and a request for an
//! external root; `topca-server ca import-cert CERT --chain ROOT` installs what the
//! root signed. Both before the first start.
//!
//! `topca-server backup DIR [--data-dir DIR]`: a new folder with a consistent copy
//! of the SQLite database (made while the server runs), the configuration, the CA
//! files (keys encrypted), the audit checkpoints and a manifest (see
//! `topca_server::backup`). `topca-server restore DIR --data-dir TARGET
//! [--master-key FILE] [--ca-passphrase FILE]` (server stopped) checks it all and
//! switches the target to the rebuilt data directory (see `topca_server::restore`).
//!
//! `topca-server node join --database URL --data-dir DIR`: brings up another node
//! of the CA kept in the database at URL in a fresh data directory, given the
//! first node's CA passphrase and KMC master key (`TOPCA_CA_PASSPHRASE` and
//! `TOPCA_KMC_MASTER_KEY`, or the files `secrets/ca-passphrase` and
//! `secrets/kmc-master.key` of DIR); start it with `TOPCA_DATABASE_URL=URL`.
//!
//! `topca-server issuance unfinished [--data-dir DIR | --database URL]`: lists the
//! serials reserved for signing whose certificate was never recorded as issued.
//!
//! `topca-server admin add NAME --roles super,ra,kmc [--data-dir DIR]`: creates an
//! administrator; the password (12 characters or more) comes from
//! `TOPCA_ADMIN_PASSWORD` or the first line of standard input (there is never a
//! default password).

use std::sync::Arc;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("topca-server: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("admin") {
        return add_admin(&args[1..]);
    }
    match args.first().map(String::as_str) {
        Some("audit") => return audit(&args[1..]),
        Some("ca") => return ca_command(&args[1..]),
        Some("backup") => return backup(&args[1..]),
        Some("restore") => return restore(&args[1..]),
        Some("node") => return node_join(&args[1..]),
        Some("issuance") => return issuance(&args[1..]),
        _ => {}
    }
    let options = topca_server::setup::Options::parse(args).map_err(|e| e.to_string())?;
    // Held while the server runs: a second server and `restore` are refused.
    let _lock = topca_server::data_lock::DataDirLock::acquire(&options.data_dir)
        .map_err(|e| e.to_string())?;
    let (state, report) = topca_server::setup::start(&options).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
        println!("TopCA is running.");
        for line in report {
            println!("  {line}");
        }
        let host = state
            .base_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .unwrap_or("127.0.0.1")
            .to_owned();
        let tls = topca_server::tls::server_config(&options.tls, &state, &host)
            .map_err(|e| e.to_string())?;
        let state = Arc::new(state);
        // SIGHUP reloads TLS files (see tls_reload) and never stops the server.
        tokio::spawn(topca_server::tls_reload::survive_hangups());
        tokio::spawn(topca_server::refresh_crls(Arc::clone(&state)));
        // Mails a stopped server left, then retries, for as long as it runs.
        tokio::spawn(topca_server::mail_outbox::send_queued(Arc::clone(
            &state.outbox,
        )));
        let app = topca_server::router(state);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        topca_server::serve::serve(
            listener,
            tls,
            app,
            topca_server::serve::ServeLimits::default(),
            shutdown,
        )
        .await;
        Ok(())
    })
}

/// `admin add NAME --roles LIST [options]`.
fn add_admin(args: &[String]) -> Result<(), String> {
    let usage =
        "usage: topca-server admin add NAME --roles super,ra,kmc [--data-dir DIR] [--config FILE]";
    let (Some("add"), Some(name)) = (args.first().map(String::as_str), args.get(1)) else {
        return Err(usage.into());
    };
    let mut rest = Vec::new();
    let mut roles = None;
    let mut iter = args[2..].iter();
    while let Some(arg) = iter.next() {
        if arg == "--roles" {
            roles = iter.next().cloned();
        } else {
            rest.push(arg.clone());
        }
    }
    let roles: Vec<topca_core::ra::AdminRole> = roles
        .ok_or(usage)?
        .split(',')
        .map(|r| {
            topca_core::ra::AdminRole::from_name(r)
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
    let options = topca_server::setup::Options::parse(rest).map_err(|e| e.to_string())?;
    topca_server::setup::add_admin(&options, name, &password, roles).map_err(|e| e.to_string())?;
    println!("administrator {name} created");
    Ok(())
}

/// `audit verify|checkpoint [options]`: the audit log is intact (keyed entries,
/// the latest signed checkpoint of the file), or the first finding; or a signed
/// checkpoint of the current head is appended to the file.
fn audit(args: &[String]) -> Result<(), String> {
    let usage = "usage: topca-server audit verify|checkpoint [--data-dir DIR] [--config FILE]";
    let options = topca_server::setup::Options::parse(args.get(1..).unwrap_or_default().to_vec())
        .map_err(|e| e.to_string())?;
    match args.first().map(String::as_str) {
        Some("verify") => {
            let verified = topca_server::audit_log::verify_offline(&options)
                .map_err(|e| format!("audit verification failed: {e}"))?;
            println!("{}", verified.describe());
            Ok(())
        }
        Some("checkpoint") => {
            let made =
                topca_server::audit_log::checkpoint_offline(&options).map_err(|e| e.to_string())?;
            println!(
                "audit checkpoint signed at entry {} into {}",
                made.sequence,
                topca_server::audit_log::checkpoint_file(&options.data_dir).display()
            );
            Ok(())
        }
        _ => Err(usage.into()),
    }
}

/// `issuance unfinished [--data-dir DIR | --database URL]`.
fn issuance(args: &[String]) -> Result<(), String> {
    let usage = "usage: topca-server issuance unfinished [--data-dir DIR | --database URL]";
    if args.first().map(String::as_str) != Some("unfinished") {
        return Err(usage.into());
    }
    let mut rest = args[1..].to_vec();
    let database = take_flag(&mut rest, "--database")?;
    let options = topca_server::setup::Options::parse(rest).map_err(|e| e.to_string())?;
    let store = topca_server::issuances::open_existing(&options, database.as_deref())
        .map_err(|e| e.to_string())?;
    for line in topca_server::issuances::unfinished_report(&store).map_err(|e| e.to_string())? {
        println!("{line}");
    }
    Ok(())
}

/// Takes `--flag VALUE` out of `args`.
fn take_flag(args: &mut Vec<String>, flag: &str) -> Result<Option<String>, String> {
    let Some(at) = args.iter().position(|a| a == flag) else {
        return Ok(None);
    };
    if at + 1 >= args.len() {
        return Err(format!("{flag} needs a value"));
    }
    let value = args.remove(at + 1);
    args.remove(at);
    Ok(Some(value))
}

/// `ca init ...`: import an existing CA, or make a request for an external root.
fn ca_init(mut args: Vec<String>) -> Result<(), String> {
    let import_key = take_flag(&mut args, "--import-key")?;
    let import_cert = take_flag(&mut args, "--import-cert")?;
    let chain = take_flag(&mut args, "--chain")?;
    let csr = take_flag(&mut args, "--csr")?;
    let common_name = take_flag(&mut args, "--common-name")?;
    let organization = take_flag(&mut args, "--organization")?;
    let options = topca_server::setup::Options::parse(args).map_err(|e| e.to_string())?;
    let dir = &options.data_dir;
    match (import_key, import_cert, csr) {
        (Some(key), Some(cert), None) => {
            let passphrase = std::env::var("TOPCA_IMPORT_PASSPHRASE")
                .ok()
                .map(zeroize::Zeroizing::new);
            let subject = topca_server::ca_init::import(
                dir,
                std::path::Path::new(&key),
                passphrase.as_deref().map(String::as_str),
                std::path::Path::new(&cert),
                chain.as_deref().map(std::path::Path::new),
            )
            .map_err(|e| e.to_string())?;
            println!("issuing CA imported: {subject}");
            Ok(())
        }
        (None, None, Some(out)) => {
            let name = common_name.unwrap_or_else(|| {
                format!("TopCA Issuing CA {}", options.algorithm.name())
            });
            let mut subject = topca_core::DistinguishedName::with_common_name(name).country("CN");
            if let Some(o) = organization {
                subject = subject.organization(o);
            }
            let pem = topca_server::ca_init::request(dir, options.algorithm, &subject)
                .map_err(|e| e.to_string())?;
            std::fs::write(&out, pem).map_err(|e| format!("cannot write {out}: {e}"))?;
            println!(
                "certificate request written to {out}; when the root has signed it, run: topca-server ca import-cert CERT --chain ROOT"
            );
            Ok(())
        }
        _ => Err("usage: topca-server ca init --import-key KEY --import-cert CERT [--chain ROOT] | ca init --csr OUT [--algorithm ALG] [--common-name CN] [--organization O]".into()),
    }
}

/// `ca import-cert CERT --chain ROOT`.
fn ca_import_cert(mut args: Vec<String>) -> Result<(), String> {
    let usage = "usage: topca-server ca import-cert CERT --chain ROOT [--data-dir DIR]";
    let chain = take_flag(&mut args, "--chain")?.ok_or(usage)?;
    if args.is_empty() {
        return Err(usage.into());
    }
    let cert = args.remove(0);
    let options = topca_server::setup::Options::parse(args).map_err(|e| e.to_string())?;
    let subject = topca_server::ca_init::import_signed(
        &options.data_dir,
        std::path::Path::new(&cert),
        std::path::Path::new(&chain),
    )
    .map_err(|e| e.to_string())?;
    println!("issuing CA installed: {subject}");
    Ok(())
}

/// `ca chain`, `ca crl`, `ca init`, `ca import-cert`.
fn ca_command(args: &[String]) -> Result<(), String> {
    let usage = "usage: topca-server ca chain | ca crl | ca init ... | ca import-cert ... [--data-dir DIR] [--config FILE]";
    let what = args.first().ok_or(usage)?;
    match what.as_str() {
        "init" => return ca_init(args[1..].to_vec()),
        "import-cert" => return ca_import_cert(args[1..].to_vec()),
        _ => {}
    }
    let options =
        topca_server::setup::Options::parse(args[1..].to_vec()).map_err(|e| e.to_string())?;
    let (state, _) = topca_server::setup::start(&options).map_err(|e| e.to_string())?;
    match what.as_str() {
        "chain" => {
            print!("{}", state.ca.chain_pem());
            Ok(())
        }
        "crl" => {
            // Under the publishing lease, as the serving nodes publish.
            let now = state.ca.environment().clock().now();
            let crl = topca_server::crl_sync::publish_since(
                &state,
                topca_server::crl_sync::CrlKind::Full,
                now,
            )
            .map_err(|e| e.message)?;
            println!(
                "CRL {} issued: {} revoked certificates, next update {}",
                crl.info.number,
                crl.entries,
                topca_core::format_utc(crl.info.next_update)
            );
            Ok(())
        }
        _ => Err(usage.into()),
    }
}

/// `backup DIR [options]`.
fn backup(args: &[String]) -> Result<(), String> {
    let usage = "usage: topca-server backup DIR [--data-dir DIR] [--config FILE]";
    let out = args.first().ok_or(usage)?;
    let rest = args[1..].to_vec();
    let config_flag = rest
        .iter()
        .position(|a| a == "--config")
        .and_then(|at| rest.get(at + 1).cloned());
    let options = topca_server::setup::Options::parse(rest).map_err(|e| e.to_string())?;
    let config = topca_server::setup::config_file(config_flag, &options.data_dir);
    let made = topca_server::backup::backup(&options, config.as_deref(), std::path::Path::new(out))
        .map_err(|e| e.to_string())?;
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

/// `restore DIR --data-dir TARGET [--master-key FILE] [--ca-passphrase FILE]`:
/// the server must be stopped.
fn restore(args: &[String]) -> Result<(), String> {
    let usage = "usage: topca-server restore DIR --data-dir TARGET [--master-key FILE] [--ca-passphrase FILE]";
    let backup = args.first().ok_or(usage)?;
    let mut rest = args[1..].to_vec();
    let master_key = take_flag(&mut rest, "--master-key")?;
    let ca_passphrase = take_flag(&mut rest, "--ca-passphrase")?;
    let options = topca_server::setup::Options::parse(rest).map_err(|e| e.to_string())?;
    let restored = topca_server::restore::restore(&topca_server::restore::RestoreRequest {
        backup: std::path::Path::new(backup),
        target: &options.data_dir,
        database_url: options.database_url.as_deref(),
        master_key_file: master_key.as_deref().map(std::path::Path::new),
        ca_passphrase_file: ca_passphrase.as_deref().map(std::path::Path::new),
    })
    .map_err(|e| e.to_string())?;
    println!(
        "restored {} into {}: the CA {} as of {} ({} audit entries verified)",
        backup,
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
fn node_join(args: &[String]) -> Result<(), String> {
    let usage = "usage: topca-server node join --database URL --data-dir DIR";
    if args.first().map(String::as_str) != Some("join") {
        return Err(usage.into());
    }
    let (mut database, mut dir) = (None, None);
    let mut iter = args[1..].iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--database" => database = iter.next().cloned(),
            "--data-dir" => dir = iter.next().map(std::path::PathBuf::from),
            _ => return Err(usage.into()),
        }
    }
    let (Some(database), Some(dir)) = (database, dir) else {
        return Err(usage.into());
    };
    let secrets = topca_server::nodes::JoinSecrets::given(&dir).map_err(|e| e.to_string())?;
    let subject =
        topca_server::nodes::join(&dir, &database, &secrets).map_err(|e| e.to_string())?;
    println!(
        "{} joined the CA {subject}; start it with TOPCA_DATABASE_URL set to the same database",
        dir.display()
    );
    Ok(())
}
