//! `topca-server restore BACKUP --data-dir TARGET`: puts a backup made by
//! [`crate::backup`] back, all or nothing.
//!
//! Before anything is written: the manifest is read and every file's length and
//! SHA-256 checked (a missing, changed, truncated or unlisted file is named);
//! the backup's CA must be the target's (when the target has one); the KMC
//! master key (given with `--master-key FILE`, in `TOPCA_KMC_MASTER_KEY`, or the
//! target's) and the CA passphrase (`--ca-passphrase FILE`,
//! `TOPCA_CA_PASSPHRASE`, or the target's) must be there, and the passphrase
//! must open the backed-up CA key (for a key in a PKCS#11 token: the token must
//! answer and hold the CA's key, and a master key the token sealed must open
//! there; see [`crate::hsm_data`]); no server may hold the target (see
//! [`crate::data_lock`]; its lock file is all a refused restore may leave in the
//! target).
//!
//! Then the complete new data directory is built next to the target, as
//! `TARGET.restoring-TIME`: the backup's files, the target's `secrets/` and the
//! secrets given. Its database must belong to the backup's CA and master key and
//! its audit log must verify under that key and the backed-up checkpoints, and
//! the manifest's MAC must verify under the master key. Everything is flushed to
//! disk, and only then the new folder takes the target's place (one atomic
//! exchange on Linux); the former data directory is kept as
//! `TARGET.before-restore-TIME`. A failure before the switch
//! removes the new folder and leaves the target as it was.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use subtle::ConstantTimeEq as _;
use topca_core::{Certificate, SigningKey, kmc::MasterKey};
use zeroize::Zeroizing;

use crate::{
    backup::{
        BackupError, DATABASE, DatabaseKind, MANIFEST, MANIFEST_MAC, Manifest, allowed_paths,
        copy_private, existing_master_key, hash_file, manifest_mac, set_private, sync_dir,
        sync_tree, verify_database, write_synced,
    },
    data_lock::DataDirLock,
    files::{ca_files, file_error, make_dir, read},
    setup::{SetupError, decode_key},
};

/// The issuing CA key's URI file when the key is in a token.
const TOKEN_KEY: &str = "ca/issuing.pkcs11";
/// The largest manifest read (a manifest lists a dozen files).
const MANIFEST_LIMIT: u64 = 1024 * 1024;

/// What a restore is given.
#[derive(Debug, Clone, Copy)]
pub struct RestoreRequest<'a> {
    /// The backup folder.
    pub backup: &'a Path,
    /// The data directory to restore into (missing, empty, or this CA's).
    pub target: &'a Path,
    /// The database URL of the target node, when not the embedded SQLite.
    pub database_url: Option<&'a str>,
    /// A file holding the KMC master key (64 hexadecimal digits).
    pub master_key_file: Option<&'a Path>,
    /// A file holding the CA key passphrase.
    pub ca_passphrase_file: Option<&'a Path>,
}

/// What [`restore`] did.
#[derive(Debug)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Where the data directory that was replaced now is, if there was one.
    pub previous: Option<PathBuf>,
    /// The audit entries verified in the restored database.
    pub audit_entries: u64,
    /// The secrets the restored node must be given at start (environment
    /// variables that were used and not written into the data directory).
    pub from_environment: Vec<&'static str>,
}

/// A secret and where it came from (for messages).
struct Given<T> {
    value: T,
    source: String,
    /// Written into the new `secrets/` under this name, or left where it is.
    write_as: Option<&'static str>,
    /// The environment variable it came from, which the server needs too.
    variable: Option<&'static str>,
}

/// The KMC master key given for a restore (held by the token when the backup's
/// is), and its hexadecimal digits when it was given in a file, to be written
/// into the new `secrets/`.
struct GivenMaster {
    key: MasterKey,
    hex: Option<Zeroizing<String>>,
}

/// Restores `request.backup` into `request.target`; see the module documentation.
pub fn restore(request: &RestoreRequest<'_>) -> Result<Restored, BackupError> {
    if request.database_url.is_some() {
        return Err(BackupError::Postgres);
    }
    let (manifest, manifest_bytes) = read_manifest(request.backup)?;
    if manifest.database == DatabaseKind::Postgresql {
        return Err(BackupError::Postgres);
    }
    check_files(request.backup, &manifest)?;
    let issuing = backup_issuing(request.backup, &manifest)?;
    let target = request.target;
    let exists = std::fs::symlink_metadata(target).is_ok();
    if exists {
        check_same_ca(target, &issuing)?;
    }
    let master = given_master_key(request, &manifest)?;
    let in_token = manifest.files.iter().any(|f| f.path == TOKEN_KEY);
    let passphrase = if in_token {
        // The CA key is in the token: it must answer and hold the CA's key.
        crate::hsm_data::check_token_key(&request.backup.join(TOKEN_KEY), &issuing)?;
        let key_files = manifest.files.iter().any(|f| f.path.ends_with(".key"));
        if key_files || request.ca_passphrase_file.is_some() {
            Some(given_passphrase(request)?)
        } else {
            given_passphrase(request).ok()
        }
    } else {
        let passphrase = given_passphrase(request)?;
        let key_pem = read(&request.backup.join("ca").join("issuing.key"))?;
        let opens = SigningKey::from_pkcs8_pem(&key_pem, Some(&passphrase.value))
            .ok()
            .zip(issuing.public_key().ok())
            .is_some_and(|(key, public)| *key.public_key() == public);
        if !opens {
            return Err(BackupError::WrongPassphrase(passphrase.source));
        }
        Some(passphrase)
    };
    // Held until the switch: no server starts on the target meanwhile.
    let lock = exists.then(|| DataDirLock::acquire(target)).transpose()?;
    if exists {
        // Again under the lock: another restore may have finished meanwhile.
        check_same_ca(target, &issuing)?;
    }

    let stamp = topca_core::format_rfc3339(std::time::SystemTime::now()).replace([':', '-'], "");
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .ok_or_else(|| SetupError::Usage(format!("{} is not a folder name", target.display())))?
        .to_string_lossy()
        .into_owned();
    let staging = parent.join(format!("{name}.restoring-{stamp}"));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&staging)
        .map_err(|e| file_error(&staging, &e))?;
    let built = build(
        request,
        &staging,
        &manifest,
        &manifest_bytes,
        &issuing,
        &master,
        passphrase.as_ref(),
    );
    let audit_entries = match built {
        Ok(entries) => entries,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let previous = match switch(target, exists, &staging, parent, &name, &stamp) {
        Ok(previous) => previous,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    drop(lock);
    let from_environment = [master.variable, passphrase.and_then(|p| p.variable)]
        .into_iter()
        .flatten()
        .collect();
    Ok(Restored {
        manifest,
        previous,
        audit_entries,
        from_environment,
    })
}

/// The new data directory in `staging`: the backup's files and the secrets,
/// checked; the number of audit entries verified.
fn build(
    request: &RestoreRequest<'_>,
    staging: &Path,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    issuing: &Certificate,
    master: &Given<GivenMaster>,
    passphrase: Option<&Given<Zeroizing<String>>>,
) -> Result<u64, BackupError> {
    for file in &manifest.files {
        let to = staging.join(&file.path);
        if let Some(folder) = to.parent() {
            make_dir(folder)?;
        }
        copy_private(&request.backup.join(&file.path), &to)?;
    }
    make_dir(&staging.join("ca"))?;
    let secrets = staging.join("secrets");
    make_dir(&secrets)?;
    // The target's secrets stay with it, unless replaced by those given.
    if let Ok(entries) = std::fs::read_dir(request.target.join("secrets")) {
        for entry in entries {
            let entry = entry.map_err(|e| file_error(&request.target.join("secrets"), &e))?;
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let name = entry.file_name();
                let replaced = [master.write_as, passphrase.and_then(|p| p.write_as)]
                    .iter()
                    .flatten()
                    .any(|w| *w == name)
                    // The backup's sealed master key, and no other master key beside it.
                    || secrets.join(&name).exists()
                    || (master.variable == Some("TOPCA_KMC_PKCS11") && name == "kmc-master.key");
                if !replaced {
                    copy_private(&entry.path(), &secrets.join(name))?;
                }
            }
        }
    }
    if let (Some(file), Some(hex)) = (master.write_as, &master.value.hex) {
        write_synced(&secrets.join(file), hex.as_bytes())?;
    }
    if let Some((file, passphrase)) = passphrase.and_then(|p| Some((p.write_as?, p))) {
        write_synced(&secrets.join(file), passphrase.value.as_bytes())?;
    }
    let entries = verify_database(staging, issuing, &master.value.key).map_err(|e| match e {
        BackupError::WrongMasterKey(_) => BackupError::WrongMasterKey(master.source.clone()),
        other => other,
    })?;
    let expected = read(&request.backup.join(MANIFEST_MAC)).map_err(|_| BackupError::Tampered {
        file: MANIFEST_MAC.to_owned(),
        reason: "is missing".into(),
    })?;
    let computed = manifest_mac(&master.value.key, manifest_bytes)?;
    if !bool::from(computed.as_bytes().ct_eq(expected.trim().as_bytes())) {
        return Err(BackupError::Tampered {
            file: MANIFEST.to_owned(),
            reason: format!(
                "was changed after the backup was made (its MAC under the KMC master key does not match {MANIFEST_MAC})"
            ),
        });
    }
    set_private(staging, 0o700)?;
    sync_tree(staging)?;
    Ok(entries)
}

/// Puts the staging folder in the target's place; the target, when it
/// exists, ends up as `NAME.before-restore-STAMP` (returned). On Linux the two
/// folders are exchanged in one step, so the target path always names a
/// complete data directory; elsewhere (or where the file system cannot
/// exchange) the target is moved aside first and put back if the second move
/// fails.
fn switch(
    target: &Path,
    exists: bool,
    staging: &Path,
    parent: &Path,
    name: &str,
    stamp: &str,
) -> Result<Option<PathBuf>, BackupError> {
    // Once a folder is in place the restore is done: a failure to flush the
    // parent's entries afterwards is not reported as a failed restore (and the
    // caller would remove the wrong folder).
    if !exists {
        std::fs::rename(staging, target).map_err(|e| file_error(target, &e))?;
        let _ = sync_dir(parent);
        return Ok(None);
    }
    let aside = parent.join(format!("{name}.before-restore-{stamp}"));
    if std::fs::symlink_metadata(&aside).is_ok() {
        return Err(file_error(
            &aside,
            &std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        )
        .into());
    }
    if exchange(staging, target).is_ok() {
        let _ = sync_dir(parent);
        // The restore is done; the former data directory only changes its name.
        return Ok(Some(match std::fs::rename(staging, &aside) {
            Ok(()) => aside,
            Err(_) => staging.to_owned(),
        }));
    }
    std::fs::rename(target, &aside).map_err(|e| file_error(target, &e))?;
    if let Err(e) = std::fs::rename(staging, target) {
        let _ = std::fs::rename(&aside, target);
        return Err(file_error(target, &e).into());
    }
    let _ = sync_dir(parent);
    Ok(Some(aside))
}

/// Exchanges the folders `a` and `b` atomically (`renameat2` with
/// `RENAME_EXCHANGE`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

/// No atomic exchange here: the caller moves the folders one after the other.
#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// The manifest of `backup` and its exact bytes.
fn read_manifest(backup: &Path) -> Result<(Manifest, Vec<u8>), BackupError> {
    let tampered = |reason: String| BackupError::Tampered {
        file: MANIFEST.to_owned(),
        reason,
    };
    let path = backup.join(MANIFEST);
    let metadata = std::fs::metadata(&path).map_err(|_| {
        tampered(format!(
            "is missing: {} is not a TopCA backup folder",
            backup.display()
        ))
    })?;
    if metadata.len() > MANIFEST_LIMIT {
        return Err(tampered("is far larger than a manifest".into()));
    }
    let bytes = std::fs::read(&path).map_err(|e| file_error(&path, &e))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| tampered(format!("is not a valid manifest ({e})")))?;
    if manifest.format != "TopCA backup" {
        return Err(tampered("is not a TopCA backup manifest".into()));
    }
    if manifest.format_version != 1 {
        return Err(tampered(format!(
            "has format version {}, which this TopCA does not read; use the TopCA version {} that made it or newer",
            manifest.format_version, manifest.topca_version
        )));
    }
    Ok((manifest, bytes))
}

/// Checks every file of `backup` against `manifest`: listed files present with
/// their length and SHA-256, required ones listed, nothing else there.
fn check_files(backup: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let allowed = allowed_paths();
    let mut listed = HashSet::new();
    for file in &manifest.files {
        if !allowed.contains(&file.path) || !listed.insert(file.path.as_str()) {
            return Err(BackupError::Tampered {
                file: MANIFEST.to_owned(),
                reason: format!(
                    "lists {:?}, which a TopCA backup does not hold (or twice)",
                    file.path
                ),
            });
        }
        let tampered = |reason: String| BackupError::Tampered {
            file: file.path.clone(),
            reason,
        };
        let path = backup.join(&file.path);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(tampered("is not a plain file".into())),
            Err(_) => return Err(tampered("is missing".into())),
        }
        let (bytes, sha256) = hash_file(&path)?;
        if bytes != file.bytes {
            return Err(tampered(format!(
                "has {bytes} bytes where the manifest says {}: truncated or changed",
                file.bytes
            )));
        }
        if sha256 != file.sha256 {
            return Err(tampered(
                "does not match its SHA-256 in the manifest: changed".into(),
            ));
        }
    }
    for required in ["ca/root.pem", "ca/issuing.pem", "ca/issuing.key", DATABASE] {
        let key_in_token = required == "ca/issuing.key" && listed.contains(TOKEN_KEY);
        if !listed.contains(required) && !key_in_token {
            return Err(BackupError::Tampered {
                file: required.to_owned(),
                reason: "is missing (the manifest does not list it)".into(),
            });
        }
    }
    let mut found = Vec::new();
    walk(backup, "", &mut found)?;
    for path in found {
        if path != MANIFEST && path != MANIFEST_MAC && !listed.contains(path.as_str()) {
            return Err(BackupError::Tampered {
                file: path,
                reason: "is not listed in the manifest".into(),
            });
        }
    }
    Ok(())
}

/// Every file under `dir` as `/`-separated paths after `prefix`; links refused.
fn walk(dir: &Path, prefix: &str, found: &mut Vec<String>) -> Result<(), BackupError> {
    let entries = std::fs::read_dir(dir).map_err(|e| file_error(dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| file_error(dir, &e))?;
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let kind = entry
            .file_type()
            .map_err(|e| file_error(&entry.path(), &e))?;
        if kind.is_dir() {
            walk(&entry.path(), &format!("{name}/"), found)?;
        } else if kind.is_file() {
            found.push(name);
        } else {
            return Err(BackupError::Tampered {
                file: name,
                reason: "is not a plain file".into(),
            });
        }
    }
    Ok(())
}

/// The backup's issuing CA certificate, which must be the one the manifest names.
fn backup_issuing(backup: &Path, manifest: &Manifest) -> Result<Certificate, BackupError> {
    let pem = read(&backup.join("ca").join("issuing.pem"))?;
    let issuing = Certificate::from_pem(&pem).map_err(|e| BackupError::Tampered {
        file: "ca/issuing.pem".into(),
        reason: format!("is not a certificate ({e})"),
    })?;
    if issuing.sha256_fingerprint() != manifest.ca.issuing_sha256 {
        return Err(BackupError::Tampered {
            file: MANIFEST.to_owned(),
            reason: format!(
                "names the CA {} but ca/issuing.pem is {}",
                manifest.ca.issuing_sha256,
                issuing.sha256_fingerprint()
            ),
        });
    }
    Ok(issuing)
}

/// Refuses a target that holds another CA than the backup's.
fn check_same_ca(target: &Path, issuing: &Certificate) -> Result<(), BackupError> {
    let path = &ca_files(target)[1];
    if !path.exists() {
        return Ok(());
    }
    let theirs = Certificate::from_pem(&read(path)?)
        .map_err(topca_core::Error::from)
        .map_err(SetupError::from)?;
    if theirs.sha256_fingerprint() != issuing.sha256_fingerprint() {
        return Err(BackupError::OtherCa {
            backup: issuing.subject_text(),
            backup_sha256: issuing.sha256_fingerprint(),
            target: target.display().to_string(),
            target_subject: theirs.subject_text(),
            target_sha256: theirs.sha256_fingerprint(),
        });
    }
    Ok(())
}

/// The KMC master key: from `--master-key FILE`, else sealed by the token in
/// the backup, else the environment or the target's `secrets/`.
fn given_master_key(
    request: &RestoreRequest<'_>,
    manifest: &Manifest,
) -> Result<Given<GivenMaster>, BackupError> {
    if let Some(file) = request.master_key_file {
        let text = Zeroizing::new(read(file)?);
        let hex = Zeroizing::new(text.trim().to_owned());
        return Ok(Given {
            value: GivenMaster {
                key: MasterKey::from_bytes(decode_key(&hex)?),
                hex: Some(hex),
            },
            source: format!("in {}", file.display()),
            write_as: Some("kmc-master.key"),
            variable: None,
        });
    }
    let sealed = crate::hsm_data::SEALED_MASTER_PATH;
    if manifest.files.iter().any(|f| f.path == sealed) {
        let path = request.backup.join(sealed);
        let bytes = std::fs::read(&path).map_err(|e| file_error(&path, &e))?;
        let from = path.display().to_string();
        return Ok(Given {
            value: GivenMaster {
                key: crate::hsm_data::unseal_master_key(&bytes, &from)?,
                hex: None,
            },
            source: format!("sealed in {from}"),
            write_as: None,
            variable: Some("TOPCA_KMC_PKCS11"),
        });
    }
    let from_environment = std::env::var("TOPCA_KMC_MASTER_KEY")
        .ok()
        .is_some_and(|v| !v.trim().is_empty());
    match existing_master_key(request.target)? {
        Some(key) => Ok(Given {
            value: GivenMaster { key, hex: None },
            source: if from_environment {
                "in TOPCA_KMC_MASTER_KEY".into()
            } else {
                format!("of {}", request.target.display())
            },
            write_as: None,
            variable: from_environment.then_some("TOPCA_KMC_MASTER_KEY"),
        }),
        None => Err(BackupError::SecretNeeded(format!(
            "{} has no KMC master key: give the backed-up CA's key with --master-key FILE (a file \
             holding its 64 hexadecimal digits, as secrets/kmc-master.key of the original node) \
             or in TOPCA_KMC_MASTER_KEY",
            request.target.display()
        ))),
    }
}

/// The CA key passphrase: from `--ca-passphrase FILE`, else the environment or
/// the target's `secrets/`.
fn given_passphrase(request: &RestoreRequest<'_>) -> Result<Given<Zeroizing<String>>, BackupError> {
    if let Some(file) = request.ca_passphrase_file {
        let text = Zeroizing::new(read(file)?);
        return Ok(Given {
            value: Zeroizing::new(text.trim().to_owned()),
            source: format!("in {}", file.display()),
            write_as: Some("ca-passphrase"),
            variable: None,
        });
    }
    if let Some(value) = std::env::var("TOPCA_CA_PASSPHRASE")
        .ok()
        .map(Zeroizing::new)
        .filter(|v| !v.trim().is_empty())
    {
        return Ok(Given {
            value: Zeroizing::new(value.trim().to_owned()),
            source: "in TOPCA_CA_PASSPHRASE".into(),
            write_as: None,
            variable: Some("TOPCA_CA_PASSPHRASE"),
        });
    }
    let path = request.target.join("secrets").join("ca-passphrase");
    if path.exists() {
        let text = Zeroizing::new(read(&path)?);
        return Ok(Given {
            value: Zeroizing::new(text.trim().to_owned()),
            source: format!("of {}", request.target.display()),
            write_as: None,
            variable: None,
        });
    }
    Err(BackupError::SecretNeeded(format!(
        "{} has no CA passphrase: give the backed-up CA's with --ca-passphrase FILE (as \
         secrets/ca-passphrase of the original node) or in TOPCA_CA_PASSPHRASE",
        request.target.display()
    )))
}
