//! Start-up options: flags (as the command line gave them), the environment
//! (`TOPCA_*`) and the configuration file (see [`crate::config`]), in that order
//! of precedence.

use std::{net::SocketAddr, path::PathBuf};

use topca_core::KeyAlgorithm;

use crate::{config::config_file, setup::SetupError};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where everything is kept.
    pub data_dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The algorithm of the CAs made on first start.
    pub algorithm: KeyAlgorithm,
    /// The algorithm of the delegated OCSP responder's key
    /// (`TOPCA_OCSP_ALGORITHM`, `ocsp_algorithm`); the issuing CA's when
    /// `None`. An RSA CA with a P-256 responder makes one RSA signature per
    /// certificate instead of two (its certificate, and its pre-signed OCSP
    /// response).
    pub ocsp_algorithm: Option<KeyAlgorithm>,
    /// The database URL; SQLite in the data directory if `None`.
    pub database_url: Option<String>,
    /// The mail URL; a file outbox in the data directory if `None`.
    pub mail_url: Option<String>,
    /// The sender of mails.
    pub mail_from: String,
    /// A PEM file of CAs to trust for the SMTP server's certificate.
    pub mail_trusted_ca: Option<PathBuf>,
    /// The base URL users reach the server at (mailed links, certificate URLs).
    pub public_url: Option<String>,
    /// Whether the CA publishes delta CRLs (and names them in certificates).
    pub delta_crl: bool,
    /// HTTPS for the server itself.
    pub tls: crate::tls::TlsSource,
    /// How often the published CRLs are checked and renewed when due.
    pub crl_refresh: std::time::Duration,
    /// How long an administrator created or given the kmc role through the web
    /// console waits before taking part in a key recovery (default 24 h).
    pub kmc_quarantine: std::time::Duration,
    /// Demonstration accounts on the first start (`--demo`); refused on a CA
    /// first started without them.
    pub demo: bool,
    /// Load balancers whose `X-Forwarded-For` names the client (none by default).
    pub trusted_proxies: crate::proxies::TrustedProxies,
    /// Addresses and networks besides loopback that may read `/metrics`.
    pub metrics_allow: crate::proxies::TrustedProxies,
    /// The port ACME http-01 validation connects to (80; `TOPCA_ACME_HTTP01_PORT`
    /// points it elsewhere for tests).
    pub acme_http01_port: u16,
    /// The DNS resolver (`IP:PORT`) ACME dns-01 validation asks
    /// (`TOPCA_ACME_DNS_RESOLVER`; `None`: the first nameserver of
    /// `/etc/resolv.conf`).
    pub acme_dns_resolver: Option<std::net::SocketAddr>,
    /// The port ACME tls-alpn-01 validation connects to (443;
    /// `TOPCA_ACME_TLS_ALPN_PORT` for a deployment or test that answers the
    /// challenge elsewhere).
    pub acme_tls_alpn_port: u16,
    /// New ACME orders allowed an hour, counted in the store so every node
    /// shares them: per account (`TOPCA_ACME_ORDERS_PER_ACCOUNT`, 300) and per
    /// identifier (`TOPCA_ACME_ORDERS_PER_NAME`, 50).
    pub acme_order_limits: crate::acme::OrderLimits,
}

/// The start-up flags as the command line gave them (`None`: not given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--data-dir`.
    pub data_dir: Option<String>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--algorithm`.
    pub algorithm: Option<String>,
    /// `--config`.
    pub config: Option<String>,
    /// `--demo`.
    pub demo: bool,
}

impl Options {
    /// Options from command-line `args` (without the program name), the
    /// environment (`TOPCA_*`) and the configuration file (`--config PATH`,
    /// `TOPCA_CONFIG`, or `topca.toml` in the data directory when present); flags
    /// win over variables, variables over the file.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, SetupError> {
        let mut flags = Flags::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--demo" {
                flags.demo = true;
                continue;
            }
            let slot = match flag.as_str() {
                "--data-dir" => &mut flags.data_dir,
                "--listen" => &mut flags.listen,
                "--algorithm" => &mut flags.algorithm,
                "--config" => &mut flags.config,
                other => {
                    return Err(SetupError::Usage(format!(
                        "unknown option {other}; use --data-dir DIR, --listen ADDR:PORT, --algorithm rsa2048|p256|p384|ed25519|sm2, --config FILE, --demo"
                    )));
                }
            };
            let value = args
                .next()
                .ok_or_else(|| SetupError::Usage(format!("{flag} needs a value")))?;
            *slot = Some(value);
        }
        Self::from_flags(&flags)
    }

    /// Options from `flags` (as the command line gave them), the environment and
    /// the configuration file, in that order of precedence. A flag given empty
    /// is refused.
    pub fn from_flags(flags: &Flags) -> Result<Self, SetupError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let given = |name: &str, value: &Option<String>| match value {
            Some(v) if v.trim().is_empty() => {
                Err(SetupError::Usage(format!("{name} is empty; give a value")))
            }
            other => Ok(other.clone()),
        };
        let data_flag = given("--data-dir", &flags.data_dir)?;
        let config_flag = given("--config", &flags.config)?;
        let listen_flag = given("--listen", &flags.listen)?;
        let algorithm_flag = given("--algorithm", &flags.algorithm)?;
        let demo = flags.demo;
        let data_dir = PathBuf::from(
            data_flag
                .or_else(|| env("TOPCA_DATA_DIR"))
                .unwrap_or_else(|| "topca-data".into()),
        );
        let config_path = config_file(config_flag, &data_dir);
        let file = match &config_path {
            Some(path) => crate::config::load(path)?,
            None => crate::config::ConfigFile::default(),
        };
        let listen = listen_flag
            .or_else(|| env("TOPCA_LISTEN"))
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let algorithm = algorithm_flag
            .or_else(|| env("TOPCA_ALGORITHM"))
            .or(file.algorithm)
            .unwrap_or_else(|| "sm2".into());
        let ocsp_algorithm = env("TOPCA_OCSP_ALGORITHM")
            .or(file.ocsp_algorithm)
            .map(|name| {
                name.parse().map_err(|_| {
                    SetupError::Usage(format!(
                        "the OCSP responder's algorithm {name:?} is not one of rsa2048, rsa3072, rsa4096, p256, p384, ed25519, sm2"
                    ))
                })
            })
            .transpose()?;
        Ok(Self {
            data_dir,
            listen: listen.parse().map_err(|_| {
                SetupError::Usage(format!("the listen address {listen:?} is not ADDRESS:PORT"))
            })?,
            algorithm: algorithm.parse().map_err(|_| {
                SetupError::Usage(format!(
                    "the algorithm {algorithm:?} is not one of rsa2048, rsa3072, rsa4096, p256, p384, ed25519, sm2"
                ))
            })?,
            ocsp_algorithm,
            database_url: env("TOPCA_DATABASE_URL").or(file.database.url),
            mail_url: env("TOPCA_MAIL_URL").or(file.mail.url),
            mail_from: env("TOPCA_MAIL_FROM")
                .or(file.mail.from)
                .unwrap_or_else(|| "TopCA 证书服务 <ca@localhost>".into()),
            mail_trusted_ca: env("TOPCA_MAIL_TRUSTED_CA").map(PathBuf::from).or(file.mail.trusted_ca),
            public_url: env("TOPCA_PUBLIC_URL").or(file.public_url),
            delta_crl: env("TOPCA_DELTA_CRL")
                .map(|v| matches!(v.trim(), "1" | "true" | "on" | "yes"))
                .or(file.delta_crl)
                .unwrap_or(false),
            crl_refresh: std::time::Duration::from_secs(
                60 * env("TOPCA_CRL_REFRESH_MINUTES")
                    .and_then(|v| v.trim().parse().ok())
                    .or(file.crl_refresh_minutes)
                    .unwrap_or(10)
                    .clamp(1, 24 * 60),
            ),
            kmc_quarantine: std::time::Duration::from_secs(
                3600 * env("TOPCA_KMC_QUARANTINE_HOURS")
                    .and_then(|v| v.trim().parse().ok())
                    .or(file.kmc_quarantine_hours)
                    .unwrap_or(24)
                    .min(24 * 365),
            ),
            tls: tls_source(
                env("TOPCA_TLS").or(file.tls.mode),
                env("TOPCA_TLS_CERT").map(PathBuf::from).or(file.tls.certificate),
                env("TOPCA_TLS_KEY").map(PathBuf::from).or(file.tls.key),
            )?,
            demo,
            trusted_proxies: crate::proxies::TrustedProxies::parse(
                &env("TOPCA_TRUSTED_PROXIES")
                    .map(|v| v.split(',').map(str::to_owned).collect())
                    .or(file.trusted_proxies)
                    .unwrap_or_default(),
            )?,
            metrics_allow: crate::proxies::TrustedProxies::parse(
                &env("TOPCA_METRICS_ALLOW")
                    .map(|v| v.split(',').map(str::to_owned).collect())
                    .or(file.metrics_allow)
                    .unwrap_or_default(),
            )
            .map_err(|e| {
                SetupError::Usage(e.to_string().replace("trusted_proxies", "metrics_allow"))
            })?,
            acme_http01_port: match env("TOPCA_ACME_HTTP01_PORT") {
                None => 80,
                Some(port) => port.trim().parse().map_err(|_| {
                    SetupError::Usage(format!(
                        "TOPCA_ACME_HTTP01_PORT {port:?} is not a port number"
                    ))
                })?,
            },
            acme_tls_alpn_port: port("TOPCA_ACME_TLS_ALPN_PORT", env("TOPCA_ACME_TLS_ALPN_PORT"), 443)?,
            acme_dns_resolver: env("TOPCA_ACME_DNS_RESOLVER")
                .map(|address| {
                    address.trim().parse().map_err(|_| {
                        SetupError::Usage(format!(
                            "TOPCA_ACME_DNS_RESOLVER {address:?} is not IP:PORT"
                        ))
                    })
                })
                .transpose()?,
            acme_order_limits: crate::acme::OrderLimits {
                per_account: hourly_limit("TOPCA_ACME_ORDERS_PER_ACCOUNT", env("TOPCA_ACME_ORDERS_PER_ACCOUNT"), 300)?,
                per_identifier: hourly_limit("TOPCA_ACME_ORDERS_PER_NAME", env("TOPCA_ACME_ORDERS_PER_NAME"), 50)?,
            },
        })
    }
}

/// A port number from `value` (of the environment variable `name`), else `default`.
fn port(name: &str, value: Option<String>, default: u16) -> Result<u16, SetupError> {
    match value {
        None => Ok(default),
        Some(value) => match value.trim().parse() {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(SetupError::Usage(format!(
                "{name} {value:?} is not a port number (1-65535)"
            ))),
        },
    }
}

/// A positive count from `value` (of the environment variable `name`), else `default`.
fn hourly_limit(name: &str, value: Option<String>, default: u32) -> Result<u32, SetupError> {
    match value {
        None => Ok(default),
        Some(value) => match value.trim().parse() {
            Ok(count) if count > 0 => Ok(count),
            _ => Err(SetupError::Usage(format!(
                "{name} {value:?} is not a positive number of orders an hour"
            ))),
        },
    }
}

/// Where HTTPS comes from: `mode = "self"`, or a certificate and key file.
pub(crate) fn tls_source(
    mode: Option<String>,
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<crate::tls::TlsSource, SetupError> {
    use crate::tls::TlsSource;
    match (mode.as_deref().map(str::trim), certificate, key) {
        (Some("self"), None, None) => Ok(TlsSource::SelfIssued),
        (None | Some("files"), Some(certificate), Some(key)) => {
            Ok(TlsSource::Files { certificate, key })
        }
        (None | Some("off"), None, None) => Ok(TlsSource::Off),
        _ => Err(SetupError::Usage(
            "TLS needs either mode \"self\" or both a certificate and a key file".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_limits_are_positive_counts_or_the_default() {
        assert_eq!(hourly_limit("X", None, 50).unwrap(), 50);
        assert_eq!(hourly_limit("X", Some(" 5000 ".into()), 50).unwrap(), 5000);
        for bad in ["0", "-1", "many", "1e9", "99999999999"] {
            let refused = hourly_limit("TOPCA_ACME_ORDERS_PER_NAME", Some(bad.into()), 50);
            assert!(
                matches!(&refused, Err(SetupError::Usage(m)) if m.contains("TOPCA_ACME_ORDERS_PER_NAME")),
                "{bad}: {refused:?}"
            );
        }
    }

    #[test]
    fn the_tls_alpn_port_is_a_port_number_or_443() {
        assert_eq!(port("X", None, 443).unwrap(), 443);
        assert_eq!(port("X", Some(" 8443 ".into()), 443).unwrap(), 8443);
        for bad in ["0", "-1", "65536", "https", ""] {
            let refused = port("TOPCA_ACME_TLS_ALPN_PORT", Some(bad.into()), 443);
            assert!(
                matches!(&refused, Err(SetupError::Usage(m)) if m.contains("TOPCA_ACME_TLS_ALPN_PORT")),
                "{bad}: {refused:?}"
            );
        }
    }
}
