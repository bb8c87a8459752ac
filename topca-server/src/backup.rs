//! `topca-server backup DIR`: everything needed to rebuild a TopCA node except
//! the secrets, in a new private folder (0700, files 0600):
//!
//! ```text
//! DIR/topca.db           a consistent copy of the SQLite database (none on PostgreSQL)
//! DIR/topca.toml         the configuration file, when there is one
//! DIR/ca/*.pem, *.key    the CA certificates and their keys, PBES2-encrypted under
//!                        the CA passphrase (which is not in the backup)
//! DIR/ca/*.pkcs11        for keys in a PKCS#11 token: their URIs (the keys stay there)
//! DIR/secrets/kmc-master.sealed  the KMC master key sealed by a token, when it is
//! DIR/audit/checkpoints  the signed audit checkpoints
//! DIR/MANIFEST.json      format and TopCA versions, schema version, time, the CA's
//!                        identity, the SHA-256 of every file, and the secrets that
//!                        must be supplied at restore
//! DIR/MANIFEST.mac       HMAC-SHA-256 of MANIFEST.json under a key derived from the
//!                        KMC master key
//! ```
//!
//! The KMC master key and the CA passphrase never go into a backup. The
//! checkpoints are copied before the database, so none names an entry the copy
//! lacks; the copy's audit log is verified before the backup is reported made.
//! A failed backup removes what it wrote. See [`crate::restore`] for the way back.

use std::{
    io::{Read as _, Write as _},
    path::{Path, PathBuf},
};

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use topca_core::{Certificate, audit::AuditKey, kmc::MasterKey, store::AdminStore};
use topca_store::DieselStore;
use zeroize::Zeroizing;

use crate::{
    audit_log::{AuditFinding, checkpoint_file},
    files::{ca_files, file_error, make_dir, read},
    setup::{Options, SetupError, decode_key},
};

/// The manifest's file name.
pub const MANIFEST: &str = "MANIFEST.json";
/// The manifest's MAC file name.
pub const MANIFEST_MAC: &str = "MANIFEST.mac";
/// What [`Manifest::format`] says.
const FORMAT: &str = "TopCA backup";
/// The manifest format this TopCA writes and reads.
const FORMAT_VERSION: u32 = 1;
/// The database copy's name, in a backup and in a data directory.
pub(crate) const DATABASE: &str = "topca.db";
/// The configuration file's name, in a backup and in a restored data directory.
pub(crate) const CONFIGURATION: &str = "topca.toml";
/// The audit checkpoints file, relative to a backup or data directory.
pub(crate) const CHECKPOINTS: &str = "audit/checkpoints";

/// Why a backup could not be made or restored. Nothing is left half-done: a
/// failed backup removes what it wrote, a failed restore leaves the target as
/// it was.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A file could not be read or written, or the database not opened.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The backup folder exists and holds something.
    #[error("{0} exists and is not empty; a backup goes into a new folder. Nothing was written")]
    NotEmpty(String),
    /// The data directory holds no CA to back up.
    #[error(
        "{0} holds no CA (ca/root.pem, ca/issuing.pem and ca/issuing.key or ca/issuing.pkcs11); nothing to back up"
    )]
    NoCa(String),
    /// The database is on PostgreSQL, which TopCA does not copy.
    #[error(
        "the database is on PostgreSQL: TopCA's restore handles the embedded SQLite database only. Restore the database with pg_restore from a pg_dump, or by point-in-time recovery from a base backup and archived WAL; the configuration and CA files of a TopCA backup are put back by hand (or with `topca-server node join`)"
    )]
    Postgres,
    /// A file of the backup is missing, changed, or not part of it.
    #[error("the backup cannot be trusted: {file} {reason}; nothing was restored")]
    Tampered {
        /// The file, relative to the backup folder.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The backup belongs to another CA than the target's.
    #[error(
        "the backup is of the CA {backup} (issuing certificate SHA-256 {backup_sha256}), but {target} holds the CA {target_subject} ({target_sha256}); restore refuses a backup of another CA. Nothing was changed"
    )]
    OtherCa {
        /// The backup's issuing CA subject.
        backup: String,
        /// The backup's issuing CA fingerprint.
        backup_sha256: String,
        /// The target data directory.
        target: String,
        /// The target's issuing CA subject.
        target_subject: String,
        /// The target's issuing CA fingerprint.
        target_sha256: String,
    },
    /// A secret the restored node needs was not given.
    #[error("{0}; nothing was changed")]
    SecretNeeded(String),
    /// The KMC master key given is not the backed-up CA's.
    #[error(
        "the KMC master key {0} is not the one this CA was made with (the backup's database records another, or its audit entries do not verify under it); nothing was changed"
    )]
    WrongMasterKey(String),
    /// The CA passphrase given does not open the backed-up CA key.
    #[error(
        "the CA passphrase {0} does not open the CA key of the backup (ca/issuing.key); nothing was changed"
    )]
    WrongPassphrase(String),
    /// The audit log of the database copy does not verify.
    #[error("the audit log in the backup's database does not verify: {0}; nothing was changed")]
    Audit(#[from] AuditFinding),
}

/// What a backup holds and how to check it; `MANIFEST.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always "TopCA backup".
    pub format: String,
    /// The manifest format version.
    pub format_version: u32,
    /// The TopCA version that made the backup.
    pub topca_version: String,
    /// The database schema version at the time of the backup.
    pub schema_version: usize,
    /// When the backup was made (RFC 3339, UTC).
    pub created: String,
    /// Where the database is.
    pub database: DatabaseKind,
    /// The CA the backup belongs to.
    pub ca: CaIdentity,
    /// Where the configuration file was, when there was one.
    pub configuration_from: Option<String>,
    /// Every file of the backup with its length and SHA-256.
    pub files: Vec<BackedUpFile>,
    /// What is not in the backup and must be supplied at restore.
    pub not_included: Vec<NotIncluded>,
}

/// The database of a backed-up node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// Embedded SQLite: the copy is `topca.db` in the backup.
    Sqlite,
    /// PostgreSQL: not in the backup (pg_dump, point-in-time recovery).
    Postgresql,
}

/// The issuing CA of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaIdentity {
    /// The issuing CA certificate's SHA-256 fingerprint.
    pub issuing_sha256: String,
    /// The issuing CA's subject.
    pub issuing_subject: String,
    /// The root CA's subject.
    pub root_subject: String,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackedUpFile {
    /// The path inside the backup, `/`-separated.
    pub path: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// Its SHA-256, hexadecimal.
    pub sha256: String,
}

/// A secret or file that a backup does not hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotIncluded {
    /// What it is.
    pub what: String,
    /// How to supply it at restore.
    pub supply: String,
}

/// What [`backup`] made.
#[derive(Debug)]
pub struct BackupReport {
    /// The manifest written.
    pub manifest: Manifest,
    /// The number of audit entries verified in the database copy (none on PostgreSQL).
    pub audit_entries: Option<u64>,
}

/// The paths a backup may hold besides the manifest: the database copy, the
/// configuration, the audit checkpoints and the files of `ca/`.
pub(crate) fn allowed_paths() -> Vec<String> {
    let mut allowed = vec![
        DATABASE.to_owned(),
        CONFIGURATION.to_owned(),
        CHECKPOINTS.to_owned(),
        crate::hsm_data::SEALED_MASTER_PATH.to_owned(),
    ];
    allowed.extend(crate::nodes::FILES.iter().map(|(_, f)| format!("ca/{f}")));
    allowed
}

/// The KMC master key of `dir` as the operator keeps it (sealed by the token
/// in `secrets/kmc-master.sealed`, else `TOPCA_KMC_MASTER_KEY`, else
/// `secrets/kmc-master.key`); never made.
pub(crate) fn existing_master_key(dir: &Path) -> Result<Option<MasterKey>, BackupError> {
    let sealed = dir.join(crate::hsm_data::SEALED_MASTER_PATH);
    if sealed.exists() {
        let bytes = std::fs::read(&sealed).map_err(|e| file_error(&sealed, &e))?;
        let from = sealed.display().to_string();
        return Ok(Some(crate::hsm_data::unseal_master_key(&bytes, &from)?));
    }
    if let Some(hex) = std::env::var("TOPCA_KMC_MASTER_KEY")
        .ok()
        .map(Zeroizing::new)
        .filter(|v| !v.trim().is_empty())
    {
        return Ok(Some(MasterKey::from_bytes(decode_key(hex.trim())?)));
    }
    let path = dir.join("secrets").join("kmc-master.key");
    if !path.exists() {
        return Ok(None);
    }
    let hex = Zeroizing::new(read(&path)?);
    Ok(Some(MasterKey::from_bytes(decode_key(hex.trim())?)))
}

/// Writes a backup of the node of `options` (configuration file `config`, if
/// any) into the new or empty folder `out`. On failure nothing of it is left.
pub fn backup(
    options: &Options,
    config: Option<&Path>,
    out: &Path,
) -> Result<BackupReport, BackupError> {
    let dir = &options.data_dir;
    if !ca_files(dir).iter().all(|p| p.exists()) {
        return Err(BackupError::NoCa(dir.display().to_string()));
    }
    let Some(master) = existing_master_key(dir)? else {
        return Err(BackupError::SecretNeeded(format!(
            "the KMC master key of {} is not there: set TOPCA_KMC_MASTER_KEY as the server has it",
            dir.display()
        )));
    };
    let created_folder = prepare_folder(out)?;
    let written = write_backup(options, config, out, &master);
    if written.is_err() {
        discard(out, created_folder);
    }
    written
}

/// Makes `out` (mode 0700) or checks that it is an empty folder (made 0700);
/// whether it was made now.
fn prepare_folder(out: &Path) -> Result<bool, BackupError> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty(out.display().to_string()));
            }
            set_private(out, 0o700)?;
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            make_dir(out)?;
            Ok(true)
        }
        Err(e) => Err(file_error(out, &e).into()),
    }
}

/// Removes what a failed backup wrote in `out` (the folder too if it was made now).
fn discard(out: &Path, created_folder: bool) {
    if created_folder {
        let _ = std::fs::remove_dir_all(out);
        return;
    }
    if let Ok(entries) = std::fs::read_dir(out) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

fn write_backup(
    options: &Options,
    config: Option<&Path>,
    out: &Path,
    master: &MasterKey,
) -> Result<BackupReport, BackupError> {
    let dir = &options.data_dir;
    let mut paths = Vec::new();
    // The checkpoints before the database: none then names an entry the copy lacks.
    let checkpoints = checkpoint_file(dir);
    if checkpoints.exists() {
        make_dir(&out.join("audit"))?;
        copy_private(&checkpoints, &out.join(CHECKPOINTS))?;
        paths.push(CHECKPOINTS.to_owned());
    }
    let store = crate::setup::open_store(options)?;
    let schema_version = store.schema_version();
    let [root, issuing, _] = ca_files(dir);
    let issuing = certificate(&issuing)?;
    let root = certificate(&root)?;
    let database = if store.is_postgres() {
        DatabaseKind::Postgresql
    } else {
        DatabaseKind::Sqlite
    };
    let mut audit_entries = None;
    if database == DatabaseKind::Sqlite {
        let copy = out.join(DATABASE);
        store
            .backup_sqlite(&copy)
            .map_err(|e| SetupError::Ca(e.into()))?;
        drop(store);
        audit_entries = Some(verify_database(out, &issuing, master)?);
        paths.push(DATABASE.to_owned());
    }
    if let Some(config) = config {
        copy_private(config, &out.join(CONFIGURATION))?;
        paths.push(CONFIGURATION.to_owned());
    }
    let sealed = dir.join(crate::hsm_data::SEALED_MASTER_PATH);
    if sealed.exists() {
        make_dir(&out.join("secrets"))?;
        copy_private(&sealed, &out.join(crate::hsm_data::SEALED_MASTER_PATH))?;
        paths.push(crate::hsm_data::SEALED_MASTER_PATH.to_owned());
    }
    make_dir(&out.join("ca"))?;
    for (_, name) in crate::nodes::FILES {
        let from = dir.join("ca").join(name);
        if from.exists() {
            copy_private(&from, &out.join("ca").join(name))?;
            paths.push(format!("ca/{name}"));
        }
    }
    let mut files = Vec::new();
    for path in paths {
        let (bytes, sha256) = hash_file(&out.join(&path))?;
        files.push(BackedUpFile {
            path,
            bytes,
            sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        topca_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version,
        created: topca_core::format_rfc3339(std::time::SystemTime::now()),
        database,
        ca: CaIdentity {
            issuing_sha256: issuing.sha256_fingerprint(),
            issuing_subject: issuing.subject_text(),
            root_subject: root.subject_text(),
        },
        configuration_from: config.map(|c| c.display().to_string()),
        files,
        not_included: not_included(options, database),
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| SetupError::File {
        path: out.join(MANIFEST).display().to_string(),
        reason: e.to_string(),
    })?;
    write_synced(&out.join(MANIFEST), &text)?;
    write_synced(
        &out.join(MANIFEST_MAC),
        manifest_mac(master, &text)?.as_bytes(),
    )?;
    sync_tree(out)?;
    Ok(BackupReport {
        manifest,
        audit_entries,
    })
}

/// The certificate in the PEM file `path`.
fn certificate(path: &Path) -> Result<Certificate, SetupError> {
    Ok(Certificate::from_pem(&read(path)?).map_err(topca_core::Error::from)?)
}

/// Opens the database copy in `folder` and checks it belongs to the CA
/// `issuing` and the KMC master key `master`, and that its audit log verifies
/// (against the checkpoints in `folder`); the number of audit entries.
pub(crate) fn verify_database(
    folder: &Path,
    issuing: &Certificate,
    master: &MasterKey,
) -> Result<u64, BackupError> {
    let path = folder.join(DATABASE);
    let store =
        DieselStore::open(&format!("sqlite://{}", path.display())).map_err(SetupError::from)?;
    let recorded = |name| {
        store
            .setting(name)
            .map_err(|e| BackupError::Setup(SetupError::Ca(e.into())))
    };
    if let Some(fingerprint) = recorded(crate::nodes::ISSUING_SHA256)?
        && fingerprint != issuing.sha256_fingerprint()
    {
        return Err(BackupError::Tampered {
            file: DATABASE.to_owned(),
            reason: format!(
                "belongs to the CA {fingerprint}, not to the backup's CA {}",
                issuing.sha256_fingerprint()
            ),
        });
    }
    if let Some(check) = recorded(crate::nodes::MASTER_CHECK)?
        && check != crate::nodes::master_check(master)
    {
        return Err(BackupError::WrongMasterKey("given".into()));
    }
    let key = AuditKey::derive(master);
    let verified = crate::audit_log::verify(folder, &store, issuing, &key)?;
    drop(store);
    // Closing the last connection folded the write-ahead log into the file.
    for suffix in ["-wal", "-shm"] {
        let extra = PathBuf::from(format!("{}{suffix}", path.display()));
        if extra.exists() {
            std::fs::remove_file(&extra).map_err(|e| file_error(&extra, &e))?;
        }
    }
    Ok(verified.chain.entries)
}

/// The secrets and outside files a restore needs that the backup lacks.
fn not_included(options: &Options, database: DatabaseKind) -> Vec<NotIncluded> {
    let item = |what: &str, supply: &str| NotIncluded {
        what: what.to_owned(),
        supply: supply.to_owned(),
    };
    let mut list = vec![
        item(
            "KMC master key (64 hexadecimal digits; escrowed keys, mail and the audit key depend on it)",
            "restore --master-key FILE, or TOPCA_KMC_MASTER_KEY, or the target's secrets/kmc-master.key",
        ),
        item(
            "CA key passphrase (the keys under ca/ are PBES2-encrypted with it)",
            "restore --ca-passphrase FILE, or TOPCA_CA_PASSPHRASE, or the target's secrets/ca-passphrase",
        ),
        item(
            "administrator passwords (only their Argon2 hashes are in the database)",
            "nothing to supply: administrators log in with their passwords as before",
        ),
        item(
            "mail outbox folder (outbox/, mails already delivered to files)",
            "not needed to run; kept in the folder the restore moves aside",
        ),
    ];
    if let crate::tls::TlsSource::Files { certificate, key } = &options.tls {
        list.push(item(
            &format!(
                "HTTPS certificate and key files {} and {}",
                certificate.display(),
                key.display()
            ),
            "put them back at the paths the configuration names",
        ));
    }
    if let Some(ca) = &options.mail_trusted_ca {
        list.push(item(
            &format!("trusted CAs of the mail server, {}", ca.display()),
            "put it back at the path the configuration names",
        ));
    }
    crate::hsm_data::adjust_not_included(&options.data_dir, &mut list);
    if database == DatabaseKind::Postgresql {
        list.push(item(
            "the PostgreSQL database",
            "pg_dump / pg_restore, or point-in-time recovery from a base backup and archived WAL",
        ));
    }
    list
}

/// The MAC of a manifest's bytes: HMAC-SHA-256 under
/// HMAC-SHA-256(master key, "topca backup manifest v1"), hexadecimal. The
/// first step is the master key's (in its token when it is in one).
pub(crate) fn manifest_mac(master: &MasterKey, manifest: &[u8]) -> Result<String, BackupError> {
    let key = master
        .derive(b"topca backup manifest v1")
        .map_err(|e| SetupError::Ca(e.into()))?;
    let mut mac = hmac(&key);
    mac.update(manifest);
    Ok(hex(&mac.finalize().into_bytes()))
}

/// HMAC-SHA-256 under a 32-byte key (zero-padded to the block, as HMAC does).
fn hmac(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut block = Zeroizing::new([0u8; 64]);
    block[..32].copy_from_slice(key);
    <Hmac<Sha256> as KeyInit>::new(&(*block).into())
}

/// Lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The length and SHA-256 (hexadecimal) of the file `path`, read in pieces.
pub(crate) fn hash_file(path: &Path) -> Result<(u64, String), SetupError> {
    let mut file = std::fs::File::open(path).map_err(|e| file_error(path, &e))?;
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(|e| file_error(path, &e))?;
        if read == 0 {
            break;
        }
        hash.update(&buffer[..read]);
        total += read as u64;
    }
    Ok((total, hex(&hash.finalize())))
}

/// Copies `from` into a new file `to` of mode 0600, flushed to disk.
pub(crate) fn copy_private(from: &Path, to: &Path) -> Result<(), SetupError> {
    let mut source = std::fs::File::open(from).map_err(|e| file_error(from, &e))?;
    let mut target = new_private_file(to)?;
    std::io::copy(&mut source, &mut target)
        .and_then(|_| target.sync_all())
        .map_err(|e| file_error(to, &e))
}

/// Writes `content` into a new file `path` of mode 0600, flushed to disk.
pub(crate) fn write_synced(path: &Path, content: &[u8]) -> Result<(), SetupError> {
    let mut file = new_private_file(path)?;
    file.write_all(content)
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(path, &e))
}

/// A new file at `path` (an existing one is an error), mode 0600.
fn new_private_file(path: &Path) -> Result<std::fs::File, SetupError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| file_error(path, &e))
}

/// Gives `path` the permission bits `mode` (Unix only).
pub(crate) fn set_private(path: &Path, mode: u32) -> Result<(), SetupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| file_error(path, &e))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Flushes the folder `dir` and every folder under it to disk (their entries;
/// the files were flushed when written).
pub(crate) fn sync_tree(dir: &Path) -> Result<(), SetupError> {
    let entries = std::fs::read_dir(dir).map_err(|e| file_error(dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| file_error(dir, &e))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            sync_tree(&entry.path())?;
        }
    }
    sync_dir(dir)
}

/// Flushes the entries of the folder `dir` to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), SetupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| file_error(dir, &e))
}
