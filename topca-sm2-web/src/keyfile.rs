//! The private key file: the SM2 key as PKCS#8 (RFC 5208, an `ECPrivateKey`
//! of RFC 5915 under `id-ecPublicKey` with the SM2 curve), encrypted with
//! PBES2 (RFC 8018 §6.2): PBKDF2 with HMAC-SHA-256 and AES-256-CBC, which
//! OpenSSL 3 and GmSSL read with the password.
//!
//! ```text
//! EncryptedPrivateKeyInfo ::= SEQUENCE {
//!   encryptionAlgorithm  AlgorithmIdentifier,  -- PBES2 { PBKDF2(salt, c, HMAC-SHA-256), AES-256-CBC(iv) }
//!   encryptedData        OCTET STRING }
//! ```

use der::Decode;
use pkcs8::{
    DecodePrivateKey, EncodePrivateKey, EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef,
    pkcs5::{EncryptionScheme, pbes2},
};
use sm2::SecretKey;
use zeroize::Zeroizing;

use crate::{drbg::Drbg, error::Error};

/// PBKDF2 iterations for new files (OWASP's 2023 figure for HMAC-SHA-256).
pub const ITERATIONS: u32 = 600_000;
/// The most iterations a file may ask for when opened: a file is the user's
/// own, but a crafted one must not hang the page for hours.
const MAX_ITERATIONS: u32 = 10_000_000;
/// The longest password accepted, in bytes.
pub const MAX_PASSWORD: usize = 1024;

/// Checks a password: 1 to [`MAX_PASSWORD`] bytes.
pub(crate) fn check_password(password: &[u8]) -> Result<(), Error> {
    if password.is_empty() || password.len() > MAX_PASSWORD {
        return Err(Error::Password);
    }
    Ok(())
}

/// Encrypts the SM2 secret `d` as a PBES2 `EncryptedPrivateKeyInfo` (DER).
pub(crate) fn seal(secret: &[u8; 32], password: &[u8], drbg: &mut Drbg) -> Result<Vec<u8>, Error> {
    check_password(password)?;
    let key = SecretKey::from_slice(secret).map_err(|_| Error::Sm2)?;
    let plain = key.to_pkcs8_der().map_err(|_| Error::Encoding)?;
    let salt: [u8; 16] = drbg.bytes();
    let iv: [u8; 16] = drbg.bytes();
    let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(ITERATIONS, &salt, iv)
        .map_err(|_| Error::Encoding)?;
    let info = PrivateKeyInfoRef::from_der(plain.as_bytes())?;
    let sealed = info
        .encrypt_with_params(params, password)
        .map_err(|_| Error::Encoding)?;
    Ok(sealed.as_bytes().to_vec())
}

/// Opens a PBES2 (PBKDF2) `EncryptedPrivateKeyInfo` holding an SM2 key; the
/// 32-byte secret.
pub(crate) fn open(der: &[u8], password: &[u8]) -> Result<Zeroizing<[u8; 32]>, Error> {
    check_password(password)?;
    let sealed = EncryptedPrivateKeyInfoRef::from_der(der).map_err(|_| Error::KeyFile)?;
    let affordable = match &sealed.encryption_algorithm {
        EncryptionScheme::Pbes2(params) => params
            .kdf
            .pbkdf2()
            .is_some_and(|kdf| kdf.iteration_count <= MAX_ITERATIONS),
        _ => false,
    };
    if !affordable {
        return Err(Error::KeyFile);
    }
    let plain = sealed.decrypt(password).map_err(|_| Error::KeyFile)?;
    let key = SecretKey::from_pkcs8_der(plain.as_bytes()).map_err(|_| Error::KeyFile)?;
    Ok(Zeroizing::new(key.to_bytes().into()))
}
