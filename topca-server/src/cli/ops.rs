//! `config check`, `healthcheck`, `mail test`.

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::Duration,
};

use clap::{Args, Subcommand};

use super::{DataArgs, EXIT_CODES, non_empty};

/// The configuration file.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validates the configuration file (--config, TOPCA_CONFIG, or topca.toml in
    /// the data directory) and names the first wrong key; reads only.
    #[command(after_help = EXIT_CODES)]
    Check(DataArgs),
}

/// `healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The server's base URL (plain HTTP); /healthz is appended.
    #[arg(long, value_name = "URL", env = "TOPCA_HEALTHCHECK_URL",
          default_value = "http://127.0.0.1:8080", value_parser = non_empty)]
    pub url: String,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub timeout: u64,
}

/// Mail.
#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Sends a test message through the configured transport (SMTP, or the file
    /// outbox of the data directory) now, and says where it went.
    #[command(after_help = EXIT_CODES)]
    Test(MailTestArgs),
}

/// `mail test ADDRESS`.
#[derive(Debug, Args)]
pub struct MailTestArgs {
    /// The recipient.
    #[arg(value_parser = non_empty)]
    pub address: String,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// `config check`.
pub fn config(command: ConfigCommand) -> Result<(), String> {
    let ConfigCommand::Check(data) = command;
    let data_dir = std::path::PathBuf::from(
        data.data_dir
            .clone()
            .unwrap_or_else(|| "topca-data".to_owned()),
    );
    let Some(path) = topca_server::setup::config_file(data.config.clone(), &data_dir) else {
        return Err(format!(
            "there is no configuration file: give --config FILE, or put topca.toml in {}",
            data_dir.display()
        ));
    };
    for line in topca_server::config::check(&path).map_err(|e| e.to_string())? {
        println!("{line}");
    }
    Ok(())
}

/// `healthcheck`: `GET URL/healthz`; success only on `200`.
pub fn healthcheck(args: &HealthcheckArgs) -> Result<(), String> {
    let timeout = Duration::from_secs(args.timeout);
    let rest = args.url.trim().strip_prefix("http://").ok_or_else(|| {
        format!(
            "{:?} is not an http:// URL (probe the server over plain HTTP, e.g. on loopback)",
            args.url
        )
    })?;
    let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{:?} names no host", args.url));
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let address = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} has no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("cannot set the timeout: {e}"))?;
    let path = format!(
        "/{}{}",
        prefix.trim_end_matches('/'),
        topca_server::liveness::HEALTHZ
    )
    .replace("//", "/");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: topca-server healthcheck\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("cannot send the probe: {e}"))?;
    // The status line is all that matters; a few hundred bytes hold it.
    let mut head = [0u8; 256];
    let read = stream
        .read(&mut head)
        .map_err(|e| format!("no answer from {address}: {e}"))?;
    let answer = String::from_utf8_lossy(&head[..read]);
    let status = answer.lines().next().unwrap_or_default().to_owned();
    if status.split(' ').nth(1) == Some("200") {
        println!("healthy: {} answered {status}", args.url);
        Ok(())
    } else {
        Err(format!("unhealthy: {path} answered {status:?}"))
    }
}

/// `mail test ADDRESS`.
pub fn mail(command: MailCommand) -> Result<(), String> {
    let MailCommand::Test(args) = command;
    let options = args.data.options()?;
    let (_, config) = topca_server::setup::mail_config(&options).map_err(|e| e.to_string())?;
    let mailer = topca_mail::LettreMailer::new(&config).map_err(|e| e.to_string())?;
    let place = mailer
        .send_test(args.address.trim())
        .map_err(|e| format!("the test message to {} failed: {e}", args.address))?;
    println!("test message to {}: {place}", args.address.trim());
    Ok(())
}
