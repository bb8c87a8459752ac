//! Backup, restore and `node join` of a CA whose issuing key is in a PKCS#11
//! token (`ca/issuing.pkcs11`, a URI) or whose KMC master key the token seals
//! (`secrets/kmc-master.sealed`): these files travel, never key material, and
//! the token must answer wherever they are put back. Checking a backup or a
//! joining node asks the token (the master key's HMAC and AES-GCM objects),
//! never the master key's bytes.

use std::{path::Path, sync::Arc};

use topca_core::{
    Certificate,
    error::KmcError,
    key::pkcs11::Pkcs11Token,
    kmc::{MasterKey, WrappedMasterKey},
    store::AdminStore,
};
use topca_store::DieselStore;
use zeroize::Zeroizing;

use crate::{backup::NotIncluded, setup::SetupError};

/// The sealed KMC master key, relative to a data directory or a backup.
pub(crate) const SEALED_MASTER_PATH: &str = "secrets/kmc-master.sealed";
/// The setting keeping the sealed KMC master key (hex) for `node join`.
pub(crate) const SEALED_MASTER_SETTING: &str = "kmc.master_sealed";

/// The KMC master key `sealed` (from `from`: a backup, a data directory, or
/// the database for `node join`) with the token `TOPCA_KMC_PKCS11` names;
/// nothing is made. A wrapped key is unwrapped into the token (its bytes
/// never come here); a file sealed by an earlier version is opened into memory
/// (it is re-wrapped when a server starts on it). A clear error when the
/// variable is not set or the token does not answer.
pub(crate) fn unseal_master_key(sealed: &[u8], from: &str) -> Result<MasterKey, SetupError> {
    let Some((token, label)) = crate::hsm::kmc_token()? else {
        return Err(SetupError::Usage(format!(
            "the KMC master key in {from} is sealed by a PKCS#11 token: set TOPCA_KMC_PKCS11 to \
             the token key that sealed it (with TOPCA_PKCS11_MODULE and the PIN)"
        )));
    };
    if WrappedMasterKey::is_wrapped(sealed) {
        return unwrap_master_key(&token, &label, sealed, from);
    }
    let bytes = open_sealed_bytes(&token, &label, sealed, from)?;
    Ok(MasterKey::from_bytes(*bytes))
}

/// The master key wrapped in `sealed` (read from `from`), unwrapped into
/// `token` under `LABEL-wrap`.
pub(crate) fn unwrap_master_key(
    token: &Arc<Pkcs11Token>,
    label: &str,
    sealed: &[u8],
    from: &str,
) -> Result<MasterKey, SetupError> {
    let record = WrappedMasterKey::from_bytes(sealed)
        .map_err(|_| SetupError::Usage(format!("{from} does not hold a wrapped KMC master key")))?;
    MasterKey::from_token(token, label, &record).map_err(|e| token_failure(from, e))
}

/// What went wrong with the master key of `from` in the token, said plainly.
pub(crate) fn token_failure(from: &str, e: KmcError) -> SetupError {
    SetupError::Usage(format!(
        "{from}: {}",
        match e {
            KmcError::Damaged => "the key the token unwrapped does not match the file's check \
                                  values: another token, or a damaged file"
                .to_owned(),
            KmcError::Token(reason) => reason,
            other => other.to_string(),
        }
    ))
}

/// Opens a master key sealed by an earlier version (AES-GCM under the token
/// key `label`) into memory: only to re-wrap it, or to read an older backup.
fn open_sealed_bytes(
    token: &Arc<Pkcs11Token>,
    label: &str,
    sealed: &[u8],
    from: &str,
) -> Result<Zeroizing<[u8; 32]>, SetupError> {
    let bytes = token
        .unseal(label, sealed)
        .map_err(|e| SetupError::Usage(format!("{from}: {e}")))?;
    let bytes = <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| SetupError::Usage(format!("{from} does not hold a 32-byte KMC master key")))?;
    Ok(Zeroizing::new(bytes))
}

/// Whether the issuing CA key of `dir` is in a token.
pub(crate) fn key_in_token(dir: &Path) -> bool {
    dir.join("ca").join(crate::hsm::KEY_URI_FILE).exists()
}

/// Opens the CA key named by the URI file `uri_path` and checks that it is the
/// key of `issuing`; a clear error when the token is not reachable.
pub(crate) fn check_token_key(uri_path: &Path, issuing: &Certificate) -> Result<(), SetupError> {
    let text = crate::files::read(uri_path)?;
    check_uri_key(&text, uri_path, issuing)
}

/// Opens the CA key the URI `text` (read from `from`) names and checks that it
/// is the key of `issuing`.
pub(crate) fn check_uri_key(
    text: &str,
    from: &Path,
    issuing: &Certificate,
) -> Result<(), SetupError> {
    let key = crate::hsm::key_from_uri(text, from)?;
    if issuing
        .public_key()
        .ok()
        .is_none_or(|public| *key.public_key() != public)
    {
        return Err(SetupError::Usage(format!(
            "the token key named in {} is not the key of the CA certificate {}",
            from.display(),
            issuing.subject_text()
        )));
    }
    Ok(())
}

/// What a backup of `dir` lacks because of a token: the token itself and its
/// PIN, in place of the master key (when the token seals it) and of the CA
/// passphrase (when no key file is left in `ca/`).
pub(crate) fn adjust_not_included(dir: &Path, list: &mut Vec<NotIncluded>) {
    let sealed = dir.join(SEALED_MASTER_PATH).exists();
    let key_files = std::fs::read_dir(dir.join("ca")).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".key"))
    });
    list.retain(|item| {
        !(sealed && item.what.starts_with("KMC master key")
            || key_in_token(dir) && !key_files && item.what.starts_with("CA key passphrase"))
    });
    if key_in_token(dir) {
        list.push(NotIncluded {
            what: "the PKCS#11 token holding the CA keys (ca/issuing.pkcs11 names it), and its PIN".into(),
            supply: "the same token, reachable through TOPCA_PKCS11_MODULE, with TOPCA_PKCS11_PIN or TOPCA_PKCS11_PIN_FILE".into(),
        });
    }
    if sealed {
        list.push(NotIncluded {
            what: "the token key sealing the KMC master key (secrets/kmc-master.sealed is in the backup)".into(),
            supply: "TOPCA_KMC_PKCS11 naming the same token key, at restore and at every start".into(),
        });
    }
}

/// Keeps the sealed KMC master key of `dir` in the database (hex), for
/// `node join`; it opens only in the token.
pub(crate) fn share_sealed_master(dir: &Path, store: &DieselStore) -> Result<(), SetupError> {
    let path = dir.join(SEALED_MASTER_PATH);
    if !path.exists() {
        return Ok(());
    }
    let sealed = std::fs::read(&path).map_err(|e| crate::files::file_error(&path, &e))?;
    let hex = crate::backup::hex(&sealed);
    let claimed = store
        .claim_setting(SEALED_MASTER_SETTING, &hex)
        .map_err(|e| SetupError::Ca(e.into()))?;
    // A form sealed by an earlier version gives way to the re-wrapped one.
    if claimed != hex
        && WrappedMasterKey::is_wrapped(&sealed)
        && decode_hex(&claimed).is_some_and(|recorded| !WrappedMasterKey::is_wrapped(&recorded))
    {
        store
            .put_setting(SEALED_MASTER_SETTING, &hex)
            .map_err(|e| SetupError::Ca(e.into()))?;
    }
    Ok(())
}

/// The bytes of the hexadecimal `hex`.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

/// For `node join` without `TOPCA_KMC_MASTER_KEY`: the KMC master key the
/// database keeps sealed, unwrapped in the token of `TOPCA_KMC_PKCS11`, and
/// the sealed bytes (for the joining node's `secrets/`).
pub(crate) fn recorded_sealed_master(
    store: &DieselStore,
) -> Result<(MasterKey, Vec<u8>), SetupError> {
    let recorded = store
        .setting(SEALED_MASTER_SETTING)
        .map_err(|e| SetupError::Ca(e.into()))?;
    let Some(hex) = recorded else {
        return Err(SetupError::Usage(
            "joining needs the first node's secrets: its KMC master key in TOPCA_KMC_MASTER_KEY \
             (or the file secrets/kmc-master.key, mode 0600) and, for CA keys in files, its CA \
             passphrase in TOPCA_CA_PASSPHRASE (or the file secrets/ca-passphrase)"
                .into(),
        ));
    };
    let sealed = decode_hex(&hex).ok_or_else(|| {
        SetupError::Usage(format!(
            "the sealed KMC master key kept in {} is damaged",
            store.url()
        ))
    })?;
    let from = format!("the database {} ({SEALED_MASTER_SETTING})", store.url());
    let master = unseal_master_key(&sealed, &from)?;
    Ok((master, sealed))
}
