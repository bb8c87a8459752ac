//! CA keys in a PKCS#11 token (see README, HSM): `ca init --pkcs11 URI` makes
//! (or finds) the root and issuing keys in the token, certifies them and writes
//! the certificates and the issuing key's URI; no key file is written. At start
//! the key is opened through that URI, the PIN coming from `TOPCA_PKCS11_PIN` or
//! `TOPCA_PKCS11_PIN_FILE` (or the URI's `pin-source`), never the command line.
//!
//! ```text
//! DATA_DIR/ca/issuing.pkcs11   the issuing key's PKCS#11 URI (no PIN, no key)
//! DATA_DIR/ca/root.pkcs11      the root key's URI, for the record
//! ```
//!
//! `ca move-to-token URI` moves the issuing key of a CA that has a key file
//! into a token: imported sensitive and not extractable, checked against the
//! CA certificate, then the encrypted key file is deleted.
//!
//! With `TOPCA_KMC_PKCS11=URI`, the KMC master key is kept wrapped by the token
//! (`secrets/kmc-master.sealed`, AES key wrap under an AES key generated in the
//! token) instead of in clear in `secrets/kmc-master.key`, and is unwrapped
//! into the token only: its bytes are never in this process.
//!
//! The OCSP responder's key stays in software (encrypted under the KMC master
//! key, as without a token); its certificate is signed in the token.

use std::{path::Path, sync::Arc};

use topca_core::{
    Certificate, Environment, KeyAlgorithm, SigningKey,
    key::pkcs11::{Pkcs11Config, Pkcs11Token, Pkcs11Uri},
    kmc::{MasterKey, WrappedMasterKey},
    profile::CaUrls,
};

use zeroize::Zeroizing;

use crate::{
    files::{ca_files, file_error, make_dir, read, write},
    setup::SetupError,
};

/// The file naming the issuing CA's key in its token.
pub const KEY_URI_FILE: &str = "issuing.pkcs11";
/// The file naming the root CA's key in its token.
pub const ROOT_URI_FILE: &str = "root.pkcs11";
/// The key label used when the URI names none (`object=`).
const DEFAULT_LABEL: &str = "topca";

/// Opens the issuing CA's key: in its token when `key_path` is the URI file,
/// else the PKCS#8 file encrypted under `passphrase`.
pub(crate) fn load_ca_key(key_path: &Path, passphrase: &str) -> Result<SigningKey, SetupError> {
    let text = read(key_path)?;
    if key_path.file_name().and_then(|n| n.to_str()) != Some(KEY_URI_FILE) {
        return Ok(
            SigningKey::from_pkcs8_pem(&text, Some(passphrase)).map_err(topca_core::Error::from)?
        );
    }
    key_from_uri(&text, key_path)
}

/// Opens the key the PKCS#11 URI `text` names (read from `from`).
pub(crate) fn key_from_uri(text: &str, from: &Path) -> Result<SigningKey, SetupError> {
    let uri = Pkcs11Uri::parse(text).map_err(|e| token_error(from, e))?;
    let config = Pkcs11Config::from_env().map_err(|e| token_error(from, e))?;
    let token = Pkcs11Token::open(&uri, &config).map_err(|e| token_error(from, e))?;
    token.key(&uri).map_err(|e| token_error(from, e))
}

fn token_error(path: &Path, e: topca_core::error::KeyError) -> SetupError {
    SetupError::Usage(format!("the CA key named in {}: {e}", path.display()))
}

/// Whether the token holding `key` answers (its sessions recovered if they
/// were lost); `None` for a key in software. `/readyz` reports it.
pub(crate) fn token_ready(key: &SigningKey) -> Option<bool> {
    match key {
        SigningKey::Pkcs11(k) => Some(match k.token().check() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "the CA key's PKCS#11 token does not answer");
                false
            }
        }),
        _ => None,
    }
}

/// `ca init --pkcs11 URI`: the root and issuing CAs with keys in the token the
/// URI names, labelled `OBJECT-root` and `OBJECT-issuing` (`OBJECT` from the
/// URI, `topca` by default), found when the token has them, else generated
/// there. Returns the subjects of the issuing CA and of the root.
pub fn init(dir: &Path, uri: &str, algorithm: KeyAlgorithm) -> Result<String, SetupError> {
    crate::ca_init::refuse_if_initialised(dir)?;
    let uri = Pkcs11Uri::parse(uri).map_err(|e| SetupError::Usage(e.to_string()))?;
    if uri.id.is_some() {
        return Err(SetupError::Usage(
            "name the keys with object=LABEL (they become LABEL-root and LABEL-issuing), not id="
                .into(),
        ));
    }
    let config = Pkcs11Config::from_env().map_err(topca_core::Error::from)?;
    let token = Pkcs11Token::open(&uri, &config).map_err(topca_core::Error::from)?;
    let label = uri.object.as_deref().unwrap_or(DEFAULT_LABEL);
    let (root_key, _) = token
        .key_or_generate(&format!("{label}-root"), algorithm)
        .map_err(topca_core::Error::from)?;
    let (issuing_key, _) = token
        .key_or_generate(&format!("{label}-issuing"), algorithm)
        .map_err(topca_core::Error::from)?;
    let [root_uri, issuing_uri] = [&root_key, &issuing_key].map(|key| match key {
        SigningKey::Pkcs11(k) => Ok(k.uri().to_string()),
        _ => Err(SetupError::Usage("the token gave no token key".into())),
    });
    let (root_uri, issuing_uri) = (root_uri?, issuing_uri?);
    let (root, issuing) = crate::setup::create_cas(
        root_key,
        issuing_key,
        algorithm,
        CaUrls::default(),
        Environment::system(),
    )?;
    make_dir(&dir.join("ca"))?;
    let [root_path, issuing_path, _] = ca_files(dir);
    write(&root_path, root.certificate().to_pem())?;
    write(&dir.join("ca").join(ROOT_URI_FILE), format!("{root_uri}\n"))?;
    write(&issuing_path, issuing.certificate().to_pem())?;
    // The key's URI last: the CA counts as initialised only when it exists.
    write(
        &dir.join("ca").join(KEY_URI_FILE),
        format!("{issuing_uri}\n"),
    )?;
    Ok(format!(
        "{} under {}",
        issuing.certificate().subject_text(),
        root.certificate().subject_text()
    ))
}

/// `ca move-to-token URI`, with the server stopped: the issuing CA's key file
/// goes into the token the URI names (labelled as its `object=`, `topca-issuing`
/// by default), `ca/issuing.pkcs11` names it there, and `ca/issuing.key` is
/// deleted. Returns the key's URI.
pub fn move_to_token(dir: &Path, uri: &str) -> Result<String, SetupError> {
    let _lock = crate::data_lock::DataDirLock::acquire(dir)?;
    crate::setup::require_ca(dir)?;
    let [_, issuing_path, key_path] = ca_files(dir);
    if key_path.file_name().and_then(|n| n.to_str()) == Some(KEY_URI_FILE) {
        return Err(SetupError::Usage(format!(
            "the CA key of {} is in a token already ({})",
            dir.display(),
            key_path.display()
        )));
    }
    let uri = Pkcs11Uri::parse(uri).map_err(|e| SetupError::Usage(e.to_string()))?;
    let label = uri
        .object
        .clone()
        .unwrap_or_else(|| format!("{DEFAULT_LABEL}-issuing"));
    let passphrase = crate::setup::ca_passphrase(dir)?;
    let key = load_ca_key(&key_path, &passphrase)?;
    let certificate =
        Certificate::from_pem(&read(&issuing_path)?).map_err(topca_core::Error::from)?;
    if certificate
        .public_key()
        .map_err(topca_core::Error::from)?
        .spki_der()
        != key.public_key().spki_der()
    {
        return Err(SetupError::Usage(format!(
            "{} does not belong to {}; nothing was moved",
            key_path.display(),
            issuing_path.display()
        )));
    }
    let config = Pkcs11Config::from_env().map_err(topca_core::Error::from)?;
    let token = Pkcs11Token::open(&uri, &config).map_err(topca_core::Error::from)?;
    let moved = token
        .import(&label, &key)
        .map_err(topca_core::Error::from)?;
    let SigningKey::Pkcs11(moved) = moved else {
        return Err(SetupError::Usage("the token gave no token key".into()));
    };
    let moved_uri = moved.uri().to_string();
    write(&dir.join("ca").join(KEY_URI_FILE), format!("{moved_uri}\n"))?;
    std::fs::remove_file(&key_path).map_err(|e| crate::files::file_error(&key_path, &e))?;
    Ok(moved_uri)
}

/// The file of `secrets/` holding the KMC master key sealed by the token.
pub const SEALED_MASTER_FILE: &str = "kmc-master.sealed";
/// The sealing key's label when `TOPCA_KMC_PKCS11` names none (`object=`).
const DEFAULT_KMC_LABEL: &str = "topca-kmc";

/// With `TOPCA_KMC_PKCS11=URI` (the token; `object=` the base label of its
/// keys, `topca-kmc` by default), the KMC master key held by the token: kept
/// wrapped in `secrets/kmc-master.sealed` (under the token's AES key
/// `LABEL-wrap`) and unwrapped into the token, never into this process. On
/// first use it is set up there: from `secrets/kmc-master.key` when that
/// exists (the clear file is then deleted), else generated inside the token
/// (its bytes never exist in this process, not even at set-up). A file
/// sealed by an earlier version (AES-GCM under `LABEL`, opened into memory) is
/// opened once more and re-wrapped. `None` without the variable.
pub(crate) fn sealed_master_key(dir: &Path) -> Result<Option<MasterKey>, SetupError> {
    let Some((token, label)) = kmc_token()? else {
        return Ok(None);
    };
    let label = label.as_str();
    let secrets = dir.join("secrets");
    make_dir(&secrets)?;
    let sealed_path = secrets.join(SEALED_MASTER_FILE);
    let from = sealed_path.display().to_string();
    if sealed_path.exists() {
        let sealed = std::fs::read(&sealed_path).map_err(|e| file_error(&sealed_path, &e))?;
        if WrappedMasterKey::is_wrapped(&sealed) {
            return crate::hsm_data::unwrap_master_key(&token, label, &sealed, &from).map(Some);
        }
        let (master, record) = MasterKey::rewrap_sealed(&token, label, &sealed)
            .map_err(|e| crate::hsm_data::token_failure(&from, e))?;
        replace(&sealed_path, &record.to_bytes())?;
        tracing::warn!(
            file = %from,
            "the KMC master key sealed by an earlier version was re-wrapped: from now on it is \
             unwrapped only inside the token, never into this process"
        );
        return Ok(Some(master));
    }
    let clear_path = secrets.join("kmc-master.key");
    if !clear_path.exists() {
        let (master, record) =
            MasterKey::generate_in_token(&token, label).map_err(topca_core::Error::from)?;
        write(&sealed_path, record.to_bytes())?;
        return Ok(Some(master));
    }
    let bytes = Zeroizing::new(crate::setup::decode_key(read(&clear_path)?.trim())?);
    let (master, record) =
        MasterKey::wrap_into_token(bytes, &token, label).map_err(topca_core::Error::from)?;
    write(&sealed_path, record.to_bytes())?;
    std::fs::remove_file(&clear_path).map_err(|e| file_error(&clear_path, &e))?;
    Ok(Some(master))
}

/// Replaces the file `path` with `content` in one step (a new file renamed
/// over it), so that a crash leaves the old file or the new one.
fn replace(path: &Path, content: &[u8]) -> Result<(), SetupError> {
    let new = path.with_extension("sealed.new");
    write(&new, content)?;
    std::fs::File::open(&new)
        .and_then(|f| f.sync_all())
        .map_err(|e| file_error(&new, &e))?;
    std::fs::rename(&new, path).map_err(|e| file_error(path, &e))
}

/// The token and sealing key label `TOPCA_KMC_PKCS11` names (see
/// [`sealed_master_key`]); `None` without the variable.
pub(crate) fn kmc_token() -> Result<Option<(Arc<Pkcs11Token>, String)>, SetupError> {
    let Some(uri) = std::env::var("TOPCA_KMC_PKCS11")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    if std::env::var_os("TOPCA_KMC_MASTER_KEY").is_some() {
        return Err(SetupError::Usage(
            "TOPCA_KMC_PKCS11 and TOPCA_KMC_MASTER_KEY are both set: the master key is either sealed by the token or given, not both".into(),
        ));
    }
    let uri =
        Pkcs11Uri::parse(&uri).map_err(|e| SetupError::Usage(format!("TOPCA_KMC_PKCS11: {e}")))?;
    let label = uri
        .object
        .as_deref()
        .unwrap_or(DEFAULT_KMC_LABEL)
        .to_owned();
    let config = Pkcs11Config::from_env().map_err(topca_core::Error::from)?;
    let token = Pkcs11Token::open(&uri, &config)
        .map_err(|e| SetupError::Usage(format!("the token of TOPCA_KMC_PKCS11: {e}")))?;
    Ok(Some((token, label)))
}

/// `master`, with escrowed keys sealed and opened in the token of
/// `TOPCA_KMC_PKCS11` (under its AES key `LABEL-escrow`, made there on first
/// use) when that is set: the key sealing them never leaves the token.
pub(crate) fn escrow_in_token(master: MasterKey) -> Result<MasterKey, SetupError> {
    Ok(match kmc_token()? {
        Some((token, label)) => master.with_token_escrow(token, &format!("{label}-escrow")),
        None => master,
    })
}
