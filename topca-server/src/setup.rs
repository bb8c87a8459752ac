//! Start-up: the first-start set-up of
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
    path::Path,
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

pub use crate::{
    config::config_file,
    options::{Flags, Options},
};

/// Fails, creating nothing, unless the data directory `dir` holds a CA: the
/// guard of the commands that only read (`ca chain`, `audit verify`, ...).
pub fn require_ca(dir: &Path) -> Result<(), SetupError> {
    if ca_files(dir).iter().all(|p| p.is_file()) {
        return Ok(());
    }
    Err(SetupError::Usage(format!(
        "{} holds no CA yet: start the server on it once (or `ca init`), or give the right --data-dir",
        dir.display()
    )))
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
    crate::hsm::escrow_in_token(kmc_master(dir)?)
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
    let master = kmc_master(dir)?;
    crate::nodes::check_or_record(dir, &store, ca.certificate(), &master)?;
    let master = crate::hsm::escrow_in_token(master)?;
    let store = store.with_audit_key(AuditKey::derive(&master));
    let tls_root = (options.tls == crate::tls::TlsSource::SelfIssued
        && !crate::tls_root::ca_signs_for_tls(&ca))
    .then(|| crate::tls_root::load_or_create(dir, &passphrase, &store))
    .transpose()?;
    if tls_root.is_some() {
        crate::nodes::share_files(dir, &store)?;
    }
    let (mail_url, mail_config) = mail_config(options)?;
    let outbox = std::sync::Arc::new(open_outbox(
        options,
        Box::new(LettreMailer::new(&mail_config)?),
    )?);

    let demo = crate::demo::prepare(&store, options.demo, options.algorithm, &base_url)?;
    let demo_cmp = crate::cmp::credential::demo(&store, &master, &demo)?;
    let algorithm = algorithm_of(&ca).unwrap_or(options.algorithm);
    let ocsp_algorithm = options.ocsp_algorithm.unwrap_or(algorithm);
    let ocsp = crate::ocsp_responder::at_start(&store, &ca, &master, ocsp_algorithm)?;
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
    if !demo.accounts.is_empty() {
        report.push(format!(
            "ACME:            {base_url}/acme/directory (demo profile: localhost, http-01 on port {})",
            options.acme_http01_port
        ));
    }
    if let Some((reference, secret)) = &demo_cmp {
        report.push(format!(
            "CMP (demo):      {base_url}/.well-known/cmp  reference {reference}  secret {secret}"
        ));
    }
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
            ocsp_presigned: crate::ocsp_cache::PresignedOcsp::default(),
            crl: Mutex::default(),
            delta_crl: Mutex::default(),
            demo_account: demo.first(),
            demo,
            base_url,
            algorithm,
            ocsp_algorithm,
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
            acme: crate::acme::AcmeRuntime {
                dns_resolver: options.acme_dns_resolver,
                tls_alpn_port: options.acme_tls_alpn_port,
                ..crate::acme::AcmeRuntime::new(options.acme_http01_port, options.acme_order_limits)
            },
            issue_queue: crate::issue_group::IssueQueue::default(),
        },
        report,
    ))
}

/// The mail URL of `options` (the file outbox in the data directory unless
/// configured) and the transport's configuration.
pub fn mail_config(options: &Options) -> Result<(String, MailConfig), SetupError> {
    let mail_url = options
        .mail_url
        .clone()
        .unwrap_or_else(|| format!("file://{}", options.data_dir.join("outbox").display()));
    let mut config = MailConfig::from_url(&mail_url, &options.mail_from)?;
    if let Some(ca) = &options.mail_trusted_ca {
        config = config.with_trusted_ca(ca);
    }
    Ok((mail_url, config))
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
        let key = crate::hsm::load_ca_key(&key_path, passphrase)?;
        // An imported self-signed CA is its own root.
        let parents = if root == issuing {
            Vec::new()
        } else {
            vec![root.clone()]
        };
        let ca = CertificateAuthority::from_parts(key, issuing, parents, urls, env)?;
        return Ok((ca, root, false));
    }
    let (root, issuing) = create_cas(
        SigningKey::generate(algorithm, &OsRandom).map_err(topca_core::Error::from)?,
        SigningKey::generate(algorithm, &OsRandom).map_err(topca_core::Error::from)?,
        algorithm,
        urls,
        env,
    )?;
    // Each key file costs PBKDF2's 600,000 rounds: the two run side by side.
    let (root_key, issuing_key) = std::thread::scope(|scope| {
        let root_key = scope.spawn(|| root.key().to_encrypted_pkcs8_pem(passphrase, &OsRandom));
        let issuing_key = issuing.key().to_encrypted_pkcs8_pem(passphrase, &OsRandom);
        let root_key = root_key
            .join()
            .unwrap_or_else(|panicked| std::panic::resume_unwind(panicked));
        (root_key, issuing_key)
    });
    write(&root_path, root.certificate().to_pem())?;
    write(
        &dir.join("ca").join("root.key"),
        root_key.map_err(topca_core::Error::from)?,
    )?;
    write(&issuing_path, issuing.certificate().to_pem())?;
    write(&key_path, issuing_key.map_err(topca_core::Error::from)?)?;
    let root_certificate = root.certificate().clone();
    Ok((issuing, root_certificate, true))
}

/// A new root CA (20 years) and the issuing CA it certifies (10 years), named
/// after `algorithm`, with these keys.
pub(crate) fn create_cas(
    root_key: SigningKey,
    issuing_key: SigningKey,
    algorithm: KeyAlgorithm,
    urls: CaUrls,
    env: Environment,
) -> Result<(CertificateAuthority, CertificateAuthority), SetupError> {
    let root = CertificateAuthority::create_root(
        root_key,
        &DistinguishedName::with_common_name(format!("TopCA Root CA {}", algorithm.name()))
            .country("CN")
            .organization("TopCA"),
        &Profile::new(ProfileKind::RootCa, 20 * 365).map_err(topca_core::Error::from)?,
        env,
    )?;
    let issuing = root.create_subordinate(
        issuing_key,
        &DistinguishedName::with_common_name(format!("TopCA Issuing CA {}", algorithm.name()))
            .country("CN")
            .organization("TopCA"),
        &Profile::sub_ca(10 * 365, 0).map_err(topca_core::Error::from)?,
        urls,
    )?;
    Ok((root, issuing))
}

/// The passphrase protecting the CA keys (`TOPCA_CA_PASSPHRASE`, else
/// `secrets/ca-passphrase`, made on first use). It makes `secrets/` (mode 0700),
/// where the KMC master key is kept too.
pub(crate) fn ca_passphrase(dir: &Path) -> Result<Zeroizing<String>, SetupError> {
    let secrets = dir.join("secrets");
    make_dir(&secrets)?;
    secret(dir, "TOPCA_CA_PASSPHRASE", "ca-passphrase", 32)
}

/// The KMC master key: held by a PKCS#11 token when `TOPCA_KMC_PKCS11` is set
/// (see [`crate::hsm::sealed_master_key`]; its bytes never come here), else
/// from `TOPCA_KMC_MASTER_KEY` or `secrets/kmc-master.key` (made on first
/// start).
fn kmc_master(dir: &Path) -> Result<MasterKey, SetupError> {
    match crate::hsm::sealed_master_key(dir)? {
        Some(master) => Ok(master),
        None => {
            let hex = secret(dir, "TOPCA_KMC_MASTER_KEY", "kmc-master.key", 32)?;
            Ok(MasterKey::from_bytes(decode_key(&hex)?))
        }
    }
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
        let value = Zeroizing::new(value);
        return non_empty(value.trim(), var);
    }
    let path = dir.join("secrets").join(file_name);
    if let Ok(value) = std::fs::read_to_string(&path) {
        let value = Zeroizing::new(value);
        return non_empty(value.trim(), &path.display().to_string());
    }
    let mut random = Zeroizing::new(vec![0u8; bytes]);
    OsRandom.fill(&mut random)?;
    let hex: Zeroizing<String> =
        Zeroizing::new(random.iter().map(|b| format!("{b:02x}")).collect());
    write(&path, hex.as_bytes())?;
    Ok(hex)
}

/// A secret that is not empty: an empty passphrase or key is refused, never
/// taken as "no protection".
fn non_empty(value: &str, from: &str) -> Result<Zeroizing<String>, SetupError> {
    if value.is_empty() {
        return Err(SetupError::Usage(format!(
            "{from} is empty: give the secret, or unset it to use (or make) the one in secrets/"
        )));
    }
    Ok(Zeroizing::new(value.to_owned()))
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
