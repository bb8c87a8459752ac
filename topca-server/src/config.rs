//! The configuration file (`topca.toml`): reading it for the server, and
//! `topca-server config check`, which names the key that is wrong.

use std::path::{Path, PathBuf};

use crate::{files::read, logging::LogFormat, setup::SetupError};

/// The configuration file (`topca.toml`): every key optional; environment
/// variables and flags override it.
///
/// ```toml
/// listen = "0.0.0.0:8443"
/// algorithm = "sm2"
/// ocsp_algorithm = "p256"                # the OCSP responder's key; the CA's by default
/// public_url = "https://ca.example.cn"
/// delta_crl = true
/// crl_refresh_minutes = 10               # the CRL schedule
/// kmc_quarantine_hours = 24              # before a console-made KMC admin may recover keys
/// trusted_proxies = ["10.0.0.0/24"]      # balancers whose X-Forwarded-For names the client
/// metrics_allow = ["10.0.5.0/24"]        # Prometheus servers besides loopback
/// log_format = "json"                    # or "text" (the default)
/// log_level = "info"                     # a filter; RUST_LOG wins over it
/// shutdown_timeout = 30                  # seconds to drain on SIGTERM/SIGINT
///
/// [database]
/// url = "postgres://topca:secret@db.example.cn/topca"
///
/// [tls]                                  # HTTPS for the server itself:
/// certificate = "/etc/topca/tls.pem"     # a chain and key from files, or
/// key = "/etc/topca/tls.key"
/// # mode = "self"                        # a certificate from TopCA's own CA
///
/// [mail]
/// url = "smtp://topca:secret@mail.example.cn:587?tls=required"
/// from = "TopCA 证书服务 <ca@example.cn>"
/// trusted_ca = "/etc/topca/mail-ca.pem"
/// ```
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub(crate) listen: Option<String>,
    pub(crate) algorithm: Option<String>,
    pub(crate) ocsp_algorithm: Option<String>,
    pub(crate) public_url: Option<String>,
    pub(crate) delta_crl: Option<bool>,
    pub(crate) crl_refresh_minutes: Option<u64>,
    pub(crate) kmc_quarantine_hours: Option<u64>,
    pub(crate) trusted_proxies: Option<Vec<String>>,
    pub(crate) metrics_allow: Option<Vec<String>>,
    pub(crate) log_format: Option<String>,
    pub(crate) log_level: Option<String>,
    pub(crate) shutdown_timeout: Option<u64>,
    #[serde(default)]
    pub(crate) database: DatabaseSection,
    #[serde(default)]
    pub(crate) tls: TlsSection,
    #[serde(default)]
    pub(crate) mail: MailSection,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DatabaseSection {
    pub(crate) url: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSection {
    /// `"self"`: a certificate from the server's own CA, issued at each start.
    pub(crate) mode: Option<String>,
    pub(crate) certificate: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MailSection {
    pub(crate) url: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) trusted_ca: Option<PathBuf>,
}

/// The configuration file in use: `--config` (`flag`), else `TOPCA_CONFIG`, else
/// `topca.toml` in the data directory `data_dir` when present.
pub fn config_file(flag: Option<String>, data_dir: &Path) -> Option<PathBuf> {
    flag.or_else(|| {
        std::env::var("TOPCA_CONFIG")
            .ok()
            .filter(|v| !v.trim().is_empty())
    })
    .map(PathBuf::from)
    .or_else(|| Some(data_dir.join("topca.toml")).filter(|p| p.exists()))
}

/// Reads and parses the configuration file at `path`; an unknown key or a value
/// of the wrong type is named in the error.
pub fn load(path: &Path) -> Result<ConfigFile, SetupError> {
    let text = read(path)?;
    toml::from_str::<ConfigFile>(&text).map_err(|e| {
        SetupError::Usage(format!(
            "{}: {}",
            path.display(),
            e.to_string().trim().replace('\n', " ")
        ))
    })
}

/// What the process itself takes from the configuration file: the log format
/// and level and the shutdown timeout (flags and environment override them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operations {
    /// `log_format`.
    pub log_format: Option<LogFormat>,
    /// `log_level`.
    pub log_level: Option<String>,
    /// `shutdown_timeout`, in seconds.
    pub shutdown_timeout: Option<u64>,
}

/// The operations keys of the configuration file at `path`, checked.
pub fn operations(path: &Path) -> Result<Operations, SetupError> {
    let file = load(path)?;
    let wrong = |key: &str, why: String| {
        SetupError::Usage(format!("{}: key `{key}`: {why}", path.display()))
    };
    let log_format = file
        .log_format
        .as_deref()
        .map(str::parse::<LogFormat>)
        .transpose()
        .map_err(|e| wrong("log_format", e))?;
    if let Some(level) = &file.log_level {
        tracing_subscriber::EnvFilter::try_new(level)
            .map_err(|e| wrong("log_level", format!("{level:?} is not a log filter: {e}")))?;
    }
    Ok(Operations {
        log_format,
        log_level: file.log_level,
        shutdown_timeout: file.shutdown_timeout,
    })
}

/// `topca-server config check`: parses the file at `path` and checks every
/// value it sets; the error names the first wrong key. Nothing is created or
/// opened (the database and mail server are not contacted).
pub fn check(path: &Path) -> Result<Vec<String>, SetupError> {
    let ops = operations(path)?;
    let file = load(path)?;
    let wrong = |key: &str, why: String| {
        SetupError::Usage(format!("{}: key `{key}`: {why}", path.display()))
    };
    if let Some(listen) = &file.listen {
        listen
            .parse::<std::net::SocketAddr>()
            .map_err(|_| wrong("listen", format!("{listen:?} is not ADDRESS:PORT")))?;
    }
    for (key, value) in [
        ("algorithm", &file.algorithm),
        ("ocsp_algorithm", &file.ocsp_algorithm),
    ] {
        if let Some(algorithm) = value {
            algorithm.parse::<topca_core::KeyAlgorithm>().map_err(|_| {
                wrong(
                    key,
                    format!("{algorithm:?} is not one of rsa2048, rsa3072, rsa4096, p256, p384, ed25519, sm2"),
                )
            })?;
        }
    }
    if let Some(url) = &file.public_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(wrong(
            "public_url",
            format!("{url:?} is not an http(s) URL"),
        ));
    }
    if file
        .crl_refresh_minutes
        .is_some_and(|m| !(1..=24 * 60).contains(&m))
    {
        return Err(wrong("crl_refresh_minutes", "must be 1 to 1440".into()));
    }
    if file
        .shutdown_timeout
        .is_some_and(|s| !(1..=3600).contains(&s))
    {
        return Err(wrong(
            "shutdown_timeout",
            "must be 1 to 3600 seconds".into(),
        ));
    }
    if let Some(proxies) = &file.trusted_proxies {
        crate::proxies::TrustedProxies::parse(proxies)
            .map_err(|e| wrong("trusted_proxies", e.to_string()))?;
    }
    if let Some(allowed) = &file.metrics_allow {
        crate::proxies::TrustedProxies::parse(allowed)
            .map_err(|e| wrong("metrics_allow", e.to_string()))?;
    }
    if let Some(url) = &file.database.url
        && !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite://"))
    {
        return Err(wrong(
            "database.url",
            "is not a postgres:// or sqlite:// URL".into(),
        ));
    }
    let tls = &file.tls;
    crate::options::tls_source(tls.mode.clone(), tls.certificate.clone(), tls.key.clone())
        .map_err(|e| wrong("tls", e.to_string()))?;
    if let Some(url) = &file.mail.url {
        let from = file.mail.from.as_deref().unwrap_or("TopCA <ca@localhost>");
        topca_mail::MailConfig::from_url(url, from)
            .map_err(|e| wrong("mail.url", e.to_string()))?;
    }
    if let Some(from) = &file.mail.from
        && from.trim().is_empty()
    {
        return Err(wrong("mail.from", "is empty".into()));
    }
    let mut summary = vec![format!("{}: the configuration is valid", path.display())];
    if let Some(format) = ops.log_format {
        summary.push(format!("  log format: {format:?}"));
    }
    Ok(summary)
}
