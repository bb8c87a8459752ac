//! Start-up: options from flags and environment, and the first-start set-up of
//! the data directory (database, CAs, KMC master key, outbox; demo accounts with
//! `--demo`, see [`crate::demo`]).
//!
//! ```text
//! DATA_DIR/topca.db          SQLite database (unless TOPCA_DATABASE_URL)
//! DATA_DIR/outbox/           mails as .eml files (unless TOPCA_MAIL_URL)
//! DATA_DIR/ca/*.pem          root and issuing CA certificates
//! DATA_DIR/ca/*.key          their keys, PKCS#8 encrypted (PBES2) with the CA passphrase
//! DATA_DIR/ca/tls-root.*     the TLS root of HTTPS mode "self" under an SM2 or Ed25519
//!                            CA (see `tls_root`), its key encrypted the same way
//! DATA_DIR/secrets/          CA passphrase and KMC master key when not given in the
//!                            environment (TOPCA_CA_PASSPHRASE, TOPCA_KMC_MASTER_KEY)
//! DATA_DIR/audit/checkpoints signed audit checkpoints (see `audit_log`)
//! DATA_DIR/topca.lock        locked by the running server (see `data_lock`)
//! ```
//!
//! Folders are made with mode 0700 and files with mode 0600 whatever the umask;
//! the server does not start when the data directory, its secrets, CA keys,
//! outbox or database can be read by other users (the message gives the `chmod`).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Mutex, RwLock},
};

use thiserror::Error;
use topca_core::{
    Certificate, CertificateAuthority, DistinguishedName, Environment, KeyAlgorithm, OsRandom,
    Profile, ProfileKind, RandomSource, SigningKey, SystemClock,
    audit::AuditKey,
    kmc::MasterKey,
    profile::CaUrls,
    ra::{
        AdminRole,
        admin::{AdminRecord, create_admin},
    },
};
use topca_mail::{LettreMailer, MailConfig};
use topca_store::DieselStore;
use zeroize::Zeroizing;

pub use crate::files::create_private;
use crate::{
    AppState,
    files::{ca_files, check_private, make_dir, read, write},
};

pub use crate::demo::{DEMO_ORGANIZATION, DEMO_SERVER_DOMAIN};

/// Why the server could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A flag or variable is wrong.
    #[error("{0}")]
    Usage(String),
    /// A file of the data directory could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What happened.
        reason: String,
    },
    /// The database could not be opened.
    #[error(transparent)]
    Database(#[from] topca_store::OpenError),
    /// The mail configuration is wrong.
    #[error(transparent)]
    Mail(#[from] topca_mail::SetupError),
    /// A CA or key operation failed.
    #[error("{0}")]
    Ca(#[from] topca_core::Error),
    /// A file or folder of the data directory can be read by other users.
    #[error(
        "{path} can be read by other users (mode {mode}); TopCA keeps keys and personal data \
         there and does not start until only its own user can read it: run `{fix}`"
    )]
    Exposed {
        /// The file or folder.
        path: String,
        /// Its permission bits, octal.
        mode: String,
        /// The command that fixes it.
        fix: String,
    },
    /// A new administrator's password is shorter than [`crate::admin::MIN_PASSWORD`].
    #[error(
        "an administrator password needs {} characters or more",
        crate::admin::MIN_PASSWORD
    )]
    AdminPasswordTooShort,
}

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where everything is kept.
    pub data_dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The algorithm of the CAs made on first start.
    pub algorithm: KeyAlgorithm,
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
}

/// The configuration file (`topca.toml`): every key optional; environment
/// variables and flags override it.
///
/// ```toml
/// listen = "0.0.0.0:8443"
/// algorithm = "sm2"
/// public_url = "https://ca.example.cn"
/// delta_crl = true
/// crl_refresh_minutes = 10               # the CRL schedule
/// kmc_quarantine_hours = 24              # before a console-made KMC admin may recover keys
/// trusted_proxies = ["10.0.0.0/24"]      # balancers whose X-Forwarded-For names the client
/// metrics_allow = ["10.0.5.0/24"]        # Prometheus servers besides loopback
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
struct ConfigFile {
    listen: Option<String>,
    algorithm: Option<String>,
    public_url: Option<String>,
    delta_crl: Option<bool>,
    crl_refresh_minutes: Option<u64>,
    kmc_quarantine_hours: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    metrics_allow: Option<Vec<String>>,
    #[serde(default)]
    database: DatabaseSection,
    #[serde(default)]
    tls: TlsSection,
    #[serde(default)]
    mail: MailSection,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    url: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    /// `"self"`: a certificate from the server's own CA, issued at each start.
    mode: Option<String>,
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MailSection {
    url: Option<String>,
    from: Option<String>,
    trusted_ca: Option<PathBuf>,
}

impl Options {
    /// Options from command-line `args` (without the program name), the
    /// environment (`TOPCA_*`) and the configuration file (`--config PATH`,
    /// `TOPCA_CONFIG`, or `topca.toml` in the data directory when present); flags
    /// win over variables, variables over the file.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, SetupError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut flags: Vec<(String, String)> = Vec::new();
        let mut demo = false;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--demo" => demo = true,
                "--data-dir" | "--listen" | "--algorithm" | "--config" => {
                    let value = args
                        .next()
                        .ok_or_else(|| SetupError::Usage(format!("{flag} needs a value")))?;
                    flags.push((flag, value));
                }
                other => {
                    return Err(SetupError::Usage(format!(
                        "unknown option {other}; use --data-dir DIR, --listen ADDR:PORT, --algorithm rsa2048|p256|p384|ed25519|sm2, --config FILE, --demo"
                    )));
                }
            }
        }
        let flag = |name: &str| {
            flags
                .iter()
                .rev()
                .find(|(f, _)| f == name)
                .map(|(_, v)| v.clone())
        };
        let data_dir = PathBuf::from(
            flag("--data-dir")
                .or_else(|| env("TOPCA_DATA_DIR"))
                .unwrap_or_else(|| "topca-data".into()),
        );
        let config_path = config_file(flag("--config"), &data_dir);
        let file = match &config_path {
            Some(path) => {
                let text = read(path)?;
                toml::from_str::<ConfigFile>(&text).map_err(|e| {
                    SetupError::Usage(format!("{}: {}", path.display(), e.to_string().trim()))
                })?
            }
            None => ConfigFile::default(),
        };
        let listen = flag("--listen")
            .or_else(|| env("TOPCA_LISTEN"))
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let algorithm = flag("--algorithm")
            .or_else(|| env("TOPCA_ALGORITHM"))
            .or(file.algorithm)
            .unwrap_or_else(|| "sm2".into());
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
            .map_err(|e| SetupError::Usage(e.to_string().replace("trusted_proxies", "metrics_allow")))?,
        })
    }
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

/// Where HTTPS comes from: `mode = "self"`, or a certificate and key file.
fn tls_source(
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

/// Opens the database of `options` alone (for the command-line tools).
/// New audit entries are MACed under the audit key derived from the KMC master key.
pub fn open_store(options: &Options) -> Result<DieselStore, SetupError> {
    make_dir(&options.data_dir)?;
    let master = master_key(&options.data_dir)?;
    let url = options
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", options.data_dir.join("topca.db").display()));
    Ok(DieselStore::open(&url)?.with_audit_key(AuditKey::derive(&master)))
}

/// The KMC master key, from the environment or `secrets/` (created when missing).
pub fn master_key(dir: &Path) -> Result<MasterKey, SetupError> {
    make_dir(&dir.join("secrets"))?;
    let master_hex = secret(dir, "TOPCA_KMC_MASTER_KEY", "kmc-master.key", 32)?;
    Ok(MasterKey::from_bytes(decode_key(&master_hex)?))
}

/// Creates an administrator with `roles` in the database of `options`
/// (`topca-server admin add`: the first super administrator comes from here,
/// never from a default password). A password shorter than
/// [`crate::admin::MIN_PASSWORD`] is refused before the database is opened.
pub fn add_admin(
    options: &Options,
    name: &str,
    password: &str,
    roles: Vec<AdminRole>,
) -> Result<AdminRecord, SetupError> {
    if !crate::admin::password_long_enough(password) {
        return Err(SetupError::AdminPasswordTooShort);
    }
    let store = open_store(options)?;
    Ok(create_admin(
        &store,
        name,
        password,
        roles,
        &OsRandom,
        &SystemClock,
    )?)
}

/// Prepares (first start) or loads everything; returns the state and a report of
/// where things are.
pub fn start(options: &Options) -> Result<(AppState, Vec<String>), SetupError> {
    let dir = &options.data_dir;
    let sqlite = options.database_url.is_none().then(|| dir.join("topca.db"));
    check_private(dir, sqlite.as_deref())?;
    // The data directory with it; `secrets/` comes with the CA passphrase below.
    make_dir(&dir.join("ca"))?;
    let base_url = options
        .public_url
        .clone()
        .unwrap_or_else(|| {
            let scheme = if options.tls == crate::tls::TlsSource::Off {
                "http"
            } else {
                "https"
            };
            format!("{scheme}://{}", options.listen)
        })
        .trim_end_matches('/')
        .to_owned();
    let urls = CaUrls {
        crl: Some(format!("{base_url}/TopCA/crl/current.crl")),
        ca_issuers: Some(format!("{base_url}/TopCA/ca/issuing.cer")),
        ocsp: Some(format!("{base_url}/TopCA/ocsp")),
        delta_crl: options
            .delta_crl
            .then(|| format!("{base_url}/TopCA/crl/delta.crl")),
    };
    crate::ca_init::check_not_pending(dir)?;
    let database_url = options
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("topca.db").display()));
    let store = DieselStore::open(&database_url)?;
    // Before any secret or key is made here.
    crate::nodes::refuse_second_ca(dir, &store)?;
    let passphrase = ca_passphrase(dir)?;
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::default());
    let env = Environment::system().with_observer(metrics.clone());
    let (ca, root, created) = load_or_create_cas(dir, options.algorithm, &passphrase, urls, env)?;
    let master_hex = secret(dir, "TOPCA_KMC_MASTER_KEY", "kmc-master.key", 32)?;
    let master_bytes = Zeroizing::new(decode_key(&master_hex)?);
    crate::nodes::check_or_record(dir, &store, ca.certificate(), &master_bytes)?;
    let master = MasterKey::from_bytes(*master_bytes);
    let store = store.with_audit_key(AuditKey::derive(&master));
    let tls_root = (options.tls == crate::tls::TlsSource::SelfIssued
        && !crate::tls_root::ca_signs_for_tls(&ca))
    .then(|| crate::tls_root::load_or_create(dir, &passphrase, &store))
    .transpose()?;
    if tls_root.is_some() {
        crate::nodes::share_files(dir, &store)?;
    }
    let mail_url = options
        .mail_url
        .clone()
        .unwrap_or_else(|| format!("file://{}", dir.join("outbox").display()));
    let mut mail_config = MailConfig::from_url(&mail_url, &options.mail_from)?;
    if let Some(ca) = &options.mail_trusted_ca {
        mail_config = mail_config.with_trusted_ca(ca);
    }
    let outbox = std::sync::Arc::new(open_outbox(
        options,
        Box::new(LettreMailer::new(&mail_config)?),
    )?);

    let demo = crate::demo::prepare(&store, options.demo, options.algorithm, &base_url)?;
    let algorithm = algorithm_of(&ca).unwrap_or(options.algorithm);
    let ocsp = crate::ocsp_responder::at_start(&store, &ca, &master, algorithm)?;
    let mut report = vec![
        format!("data directory:  {}", dir.display()),
        format!("database:        {}", store.url()),
        format!(
            "mail:            {}",
            mail_url.split('@').next_back().unwrap_or("")
        ),
        format!(
            "CAs:             {} ({}) under {}",
            ca.certificate().subject_text(),
            if created { "created now" } else { "loaded" },
            root.subject_text()
        ),
        if demo.accounts.is_empty() {
            "demo accounts:   none (a CA started with --demo the first time has them)".to_owned()
        } else {
            format!(
                "demo accounts:   {DEMO_ORGANIZATION} / 演示部门 (automatic), / 双证书部门 (dual, automatic), / 服务器证书 (administrator approval)"
            )
        },
        format!("user centre:     {base_url}/TopCA/userEnroll"),
        format!("server centre:   {base_url}/TopCA/serverEnroll"),
        format!("CA chain:        {base_url}/TopCA/ca/chain.pem"),
        format!("CRL:             {base_url}/TopCA/crl/current.crl"),
    ];
    match &tls_root {
        Some(root) => report.push(format!(
            "HTTPS:           clients must trust the TLS root {}{} (SHA-256 {}): TLS clients cannot verify {} signatures, so the server's certificate comes from this P-256 root, not from the CA",
            base_url,
            crate::tls_root::TLS_ROOT_PATH,
            root.certificate().sha256_fingerprint(),
            algorithm.name(),
        )),
        None if options.tls == crate::tls::TlsSource::SelfIssued => report.push(format!(
            "HTTPS:           certificate from the CA; clients must trust the root in {base_url}/TopCA/ca/chain.pem"
        )),
        None => {}
    }
    // A schedule set on the super-administrator page outlives restarts.
    let crl_schedule = topca_core::store::AdminStore::setting(&store, crate::state::CRL_SCHEDULE)
        .map_err(topca_core::Error::from)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(options.crl_refresh.as_secs() / 60)
        .clamp(1, 24 * 60);
    Ok((
        AppState {
            store,
            mailer: Box::new(crate::mail_outbox::OutboxMailer(std::sync::Arc::clone(
                &outbox,
            ))),
            outbox,
            ca,
            root,
            master,
            data_dir: dir.to_path_buf(),
            ocsp: RwLock::new(ocsp),
            crl: Mutex::default(),
            delta_crl: Mutex::default(),
            demo_account: demo.first(),
            demo,
            base_url,
            algorithm,
            crl_schedule_minutes: std::sync::atomic::AtomicU64::new(crl_schedule),
            limits: crate::limits::Limits::default(),
            trusted_proxies: options.trusted_proxies.clone(),
            tls_root,
            kmc_policy: topca_core::kmc::KmcPolicy {
                quarantine: options.kmc_quarantine,
                ..topca_core::kmc::KmcPolicy::default()
            },
            hashing: crate::hashing::HashingGate::for_this_machine(),
            metrics,
            metrics_allow: options.metrics_allow.clone(),
            readiness: crate::readiness::Readiness::default(),
        },
        report,
    ))
}

/// The mail outbox of the CA of `options` (its own connection to the database,
/// the KMC master key), delivering through `delivery`. The CA must have started
/// once.
pub fn open_outbox(
    options: &Options,
    delivery: Box<dyn crate::mail_outbox::Delivery>,
) -> Result<crate::mail_outbox::MailOutbox, SetupError> {
    let master = master_key(&options.data_dir)?;
    Ok(crate::mail_outbox::MailOutbox::new(
        open_store(options)?,
        master,
        delivery,
    ))
}

/// The algorithm of a CA's key.
fn algorithm_of(ca: &CertificateAuthority) -> Option<KeyAlgorithm> {
    let kind = ca.key().public_key().kind();
    KeyAlgorithm::ALL.into_iter().find(|a| a.kind() == kind)
}

/// Loads the root and issuing CA from `dir/ca`, or creates them.
fn load_or_create_cas(
    dir: &Path,
    algorithm: KeyAlgorithm,
    passphrase: &str,
    urls: CaUrls,
    env: Environment,
) -> Result<(CertificateAuthority, Certificate, bool), SetupError> {
    let paths = ca_files(dir);
    let initialised = paths.iter().all(|p| p.exists());
    let [root_path, issuing_path, key_path] = paths;
    if initialised {
        let root = Certificate::from_pem(&read(&root_path)?).map_err(topca_core::Error::from)?;
        let issuing =
            Certificate::from_pem(&read(&issuing_path)?).map_err(topca_core::Error::from)?;
        let key = SigningKey::from_pkcs8_pem(&read(&key_path)?, Some(passphrase))
            .map_err(topca_core::Error::from)?;
        // An imported self-signed CA is its own root.
        let parents = if root == issuing {
            Vec::new()
        } else {
            vec![root.clone()]
        };
        let ca = CertificateAuthority::from_parts(key, issuing, parents, urls, env)?;
        return Ok((ca, root, false));
    }
    let root = CertificateAuthority::create_root(
        SigningKey::generate(algorithm, &OsRandom).map_err(topca_core::Error::from)?,
        &DistinguishedName::with_common_name(format!("TopCA Root CA {}", algorithm.name()))
            .country("CN")
            .organization("TopCA"),
        &Profile::new(ProfileKind::RootCa, 20 * 365).map_err(topca_core::Error::from)?,
        env,
    )?;
    let issuing = root.create_subordinate(
        SigningKey::generate(algorithm, &OsRandom).map_err(topca_core::Error::from)?,
        &DistinguishedName::with_common_name(format!("TopCA Issuing CA {}", algorithm.name()))
            .country("CN")
            .organization("TopCA"),
        &Profile::sub_ca(10 * 365, 0).map_err(topca_core::Error::from)?,
        urls,
    )?;
    write(&root_path, root.certificate().to_pem())?;
    write(
        &dir.join("ca").join("root.key"),
        root.key()
            .to_encrypted_pkcs8_pem(passphrase, &OsRandom)
            .map_err(topca_core::Error::from)?,
    )?;
    write(&issuing_path, issuing.certificate().to_pem())?;
    write(
        &key_path,
        issuing
            .key()
            .to_encrypted_pkcs8_pem(passphrase, &OsRandom)
            .map_err(topca_core::Error::from)?,
    )?;
    let root_certificate = root.certificate().clone();
    Ok((issuing, root_certificate, true))
}

/// The passphrase protecting the CA keys (`TOPCA_CA_PASSPHRASE`, else
/// `secrets/ca-passphrase`, made on first use). It makes `secrets/` (mode 0700),
/// where the KMC master key is kept too.
pub(crate) fn ca_passphrase(dir: &Path) -> Result<Zeroizing<String>, SetupError> {
    let secrets = dir.join("secrets");
    make_dir(&secrets)?;
    secret(dir, "TOPCA_CA_PASSPHRASE", "ca-passphrase", 32)
}

/// A secret from the environment variable `var`, else from `secrets/file`
/// (created with `bytes` random bytes, hex, mode 0600, on first start).
fn secret(
    dir: &Path,
    var: &str,
    file_name: &str,
    bytes: usize,
) -> Result<Zeroizing<String>, SetupError> {
    if let Ok(value) = std::env::var(var) {
        return Ok(Zeroizing::new(value.trim().to_owned()));
    }
    let path = dir.join("secrets").join(file_name);
    if let Ok(value) = std::fs::read_to_string(&path) {
        return Ok(Zeroizing::new(value.trim().to_owned()));
    }
    let mut random = Zeroizing::new(vec![0u8; bytes]);
    OsRandom.fill(&mut random)?;
    let hex: Zeroizing<String> =
        Zeroizing::new(random.iter().map(|b| format!("{b:02x}")).collect());
    write(&path, hex.as_bytes())?;
    Ok(hex)
}

/// The 32 bytes of a KMC master key given as 64 hexadecimal digits.
pub(crate) fn decode_key(hex: &str) -> Result<[u8; 32], SetupError> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| SetupError::Usage("the KMC master key must be 64 hexadecimal digits".into()))
}
