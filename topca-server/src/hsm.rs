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
//! The OCSP responder's key stays in software (encrypted under the KMC master
//! key, as without a token); its certificate is signed in the token.

use std::path::Path;

use topca_core::{
    Environment, KeyAlgorithm, SigningKey,
    key::pkcs11::{Pkcs11Config, Pkcs11Token, Pkcs11Uri},
    profile::CaUrls,
};

use crate::{
    files::{ca_files, make_dir, read, write},
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
    let uri = Pkcs11Uri::parse(&text).map_err(|e| token_error(key_path, e))?;
    let config = Pkcs11Config::from_env().map_err(|e| token_error(key_path, e))?;
    let token = Pkcs11Token::open(&uri, &config).map_err(|e| token_error(key_path, e))?;
    token.key(&uri).map_err(|e| token_error(key_path, e))
}

fn token_error(path: &Path, e: topca_core::error::KeyError) -> SetupError {
    SetupError::Usage(format!("the CA key named in {}: {e}", path.display()))
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
