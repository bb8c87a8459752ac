//! CA initialisation other than "generate on first start": import an existing
//! issuing CA (its key and certificate, with the root that signed it), or make a
//! key and a certificate request for an external root, then import the
//! certificate the root signed. Everything is checked before anything is written:
//! the key matches the certificate, the certificate is a CA certificate, the
//! root's signature over it verifies, and the root is self-signed.
//!
//! ```text
//! DATA_DIR/ca/issuing.pem, issuing.key, root.pem   as on first start
//! DATA_DIR/ca/pending.key   the key waiting for its certificate (encrypted)
//! ```

use std::path::{Path, PathBuf};

use topca_core::{
    Certificate, CertificateAuthority, DistinguishedName, Environment, KeyAlgorithm, OsRandom,
    SigningKey, csr::CertificateRequest, profile::CaUrls,
};

use crate::{
    files::{ca_files, file_error, make_dir, read, write},
    setup::{SetupError, ca_passphrase},
};

fn pending_key(dir: &Path) -> PathBuf {
    dir.join("ca").join("pending.key")
}

pub(crate) fn refuse_if_initialised(dir: &Path) -> Result<(), SetupError> {
    if ca_files(dir).iter().any(|p| p.exists()) {
        return Err(SetupError::Usage(format!(
            "{} already holds a CA; initialise a new data directory instead",
            dir.display()
        )));
    }
    Ok(())
}

/// Checks `certificate` (with `key`) against `root` and writes the CA files.
/// A self-signed `certificate` with no root is its own root.
fn install(
    dir: &Path,
    key: SigningKey,
    certificate: Certificate,
    root: Option<Certificate>,
) -> Result<String, SetupError> {
    let root = match root {
        Some(root) => {
            root.verify_signed_by(&root.public_key().map_err(topca_core::Error::from)?)
                .map_err(|_| {
                    SetupError::Usage(
                        "the chain file must hold the self-signed root that signed the CA certificate"
                            .into(),
                    )
                })?;
            Some(root)
        }
        None => None,
    };
    let parents: Vec<Certificate> = root.iter().cloned().collect();
    let ca = CertificateAuthority::from_parts(
        key,
        certificate,
        parents,
        CaUrls::default(),
        Environment::system(),
    )
    .map_err(|e| SetupError::Usage(format!("the CA certificate cannot be used: {e}")))?;
    let passphrase = ca_passphrase(dir)?;
    let encrypted = ca
        .key()
        .to_encrypted_pkcs8_pem(&passphrase, &OsRandom)
        .map_err(topca_core::Error::from)?;
    let root_pem = root.as_ref().unwrap_or(ca.certificate()).to_pem();
    let [root_path, issuing_path, key_path] = ca_files(dir);
    // The key last: the CA counts as initialised only when all three exist.
    write(&root_path, root_pem)?;
    write(&issuing_path, ca.certificate().to_pem())?;
    write(&key_path, encrypted)?;
    Ok(ca.certificate().subject_text())
}

/// `ca init --import-key KEY --import-cert CERT [--chain ROOT]`: the key is a
/// PKCS#8 PEM file, encrypted with `key_passphrase` if given.
pub fn import(
    dir: &Path,
    key_file: &Path,
    key_passphrase: Option<&str>,
    certificate_file: &Path,
    root_file: Option<&Path>,
) -> Result<String, SetupError> {
    refuse_if_initialised(dir)?;
    make_dir(&dir.join("ca"))?;
    let key = SigningKey::from_pkcs8_pem(&read(key_file)?, key_passphrase).map_err(|e| {
        SetupError::Usage(format!(
            "{}: not a usable PKCS#8 private key ({e}); give its passphrase in TOPCA_IMPORT_PASSPHRASE if it is encrypted",
            key_file.display()
        ))
    })?;
    let certificate = Certificate::from_pem(&read(certificate_file)?).map_err(|e| {
        SetupError::Usage(format!(
            "{}: not a PEM certificate ({e})",
            certificate_file.display()
        ))
    })?;
    let root = root_file
        .map(|f| {
            Certificate::from_pem(&read(f)?).map_err(|e| {
                SetupError::Usage(format!("{}: not a PEM certificate ({e})", f.display()))
            })
        })
        .transpose()?;
    install(dir, key, certificate, root)
}

/// `ca init --csr OUT`: makes the issuing CA's key (kept encrypted as
/// `pending.key`) and returns its certificate request (PEM) for the external root.
pub fn request(
    dir: &Path,
    algorithm: KeyAlgorithm,
    subject: &DistinguishedName,
) -> Result<String, SetupError> {
    refuse_if_initialised(dir)?;
    if pending_key(dir).exists() {
        return Err(SetupError::Usage(format!(
            "{} already waits for its CA certificate; import it with `ca import-cert`",
            dir.display()
        )));
    }
    make_dir(&dir.join("ca"))?;
    let key = SigningKey::generate(algorithm, &OsRandom).map_err(topca_core::Error::from)?;
    let csr = CertificateRequest::create(&key, subject)?.to_pem()?;
    let passphrase = ca_passphrase(dir)?;
    write(
        &pending_key(dir),
        key.to_encrypted_pkcs8_pem(&passphrase, &OsRandom)
            .map_err(topca_core::Error::from)?,
    )?;
    Ok(csr)
}

/// `ca import-cert CERT --chain ROOT`: installs the certificate the external root
/// signed for the pending key.
pub fn import_signed(
    dir: &Path,
    certificate_file: &Path,
    root_file: &Path,
) -> Result<String, SetupError> {
    refuse_if_initialised(dir)?;
    let path = pending_key(dir);
    if !path.exists() {
        return Err(SetupError::Usage(
            "no key waits for a certificate here; run `ca init --csr FILE` first".into(),
        ));
    }
    let passphrase = ca_passphrase(dir)?;
    let key = SigningKey::from_pkcs8_pem(&read(&path)?, Some(&passphrase))
        .map_err(topca_core::Error::from)?;
    let certificate = Certificate::from_pem(&read(certificate_file)?).map_err(|e| {
        SetupError::Usage(format!(
            "{}: not a PEM certificate ({e})",
            certificate_file.display()
        ))
    })?;
    let root = Certificate::from_pem(&read(root_file)?).map_err(|e| {
        SetupError::Usage(format!(
            "{}: not a PEM certificate ({e})",
            root_file.display()
        ))
    })?;
    let subject = install(dir, key, certificate, Some(root))?;
    std::fs::remove_file(&path).map_err(|e| file_error(&path, &e))?;
    Ok(subject)
}

/// Refuses to start while a requested CA certificate has not been imported.
pub(crate) fn check_not_pending(dir: &Path) -> Result<(), SetupError> {
    if pending_key(dir).exists() && !ca_files(dir)[2].exists() {
        return Err(SetupError::Usage(format!(
            "{} waits for its CA certificate: import it with `topca-server ca import-cert CERT --chain ROOT`",
            dir.display()
        )));
    }
    Ok(())
}
