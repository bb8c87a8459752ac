//! PEM PKCS#8 files, plain and PBES2-encrypted (RFC 5958, RFC 8018 §6.2).

use der::pem::{self, LineEnding, PemLabel};
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef, pkcs5::pbes2};
use zeroize::Zeroizing;

use crate::{error::KeyError, random::RandomSource};

/// PBKDF2 iterations for new encrypted keys (OWASP 2023 figure for HMAC-SHA256).
const PBKDF2_ITERATIONS: u32 = 600_000;

/// Decodes a PEM private key to PKCS#8 DER, decrypting it when it is encrypted.
pub(super) fn decode_pem(
    text: &str,
    passphrase: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (label, der) = pem::decode_vec(text.trim().as_bytes()).map_err(|_| KeyError::Pkcs8)?;
    let der = Zeroizing::new(der);
    if label == PrivateKeyInfoRef::PEM_LABEL {
        Ok(der)
    } else if label == EncryptedPrivateKeyInfoRef::PEM_LABEL {
        let passphrase = passphrase.ok_or(KeyError::Decryption)?;
        let info =
            EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(|_| KeyError::Pkcs8)?;
        let plain = info.decrypt(passphrase).map_err(|_| KeyError::Decryption)?;
        Ok(Zeroizing::new(plain.as_bytes().to_vec()))
    } else {
        Err(KeyError::Pkcs8)
    }
}

/// Encrypts PKCS#8 DER under `passphrase` and armours it as `ENCRYPTED PRIVATE KEY`.
pub(super) fn encrypt_pem(
    der: &[u8],
    passphrase: &str,
    random: &dyn RandomSource,
) -> Result<Zeroizing<String>, KeyError> {
    let encrypted = encrypt(der, passphrase, random)?;
    encrypted
        .to_pem(EncryptedPrivateKeyInfoRef::PEM_LABEL, LineEnding::LF)
        .map_err(|_| KeyError::Encryption)
}

/// Encrypts PKCS#8 DER under `passphrase`: an `EncryptedPrivateKeyInfo`, DER.
pub(super) fn encrypt_der(
    der: &[u8],
    passphrase: &str,
    random: &dyn RandomSource,
) -> Result<Vec<u8>, KeyError> {
    Ok(encrypt(der, passphrase, random)?.as_bytes().to_vec())
}

fn encrypt(
    der: &[u8],
    passphrase: &str,
    random: &dyn RandomSource,
) -> Result<pkcs8::SecretDocument, KeyError> {
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    random.fill(&mut salt).map_err(|_| KeyError::Encryption)?;
    random.fill(&mut iv).map_err(|_| KeyError::Encryption)?;
    let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, iv)
        .map_err(|_| KeyError::Encryption)?;
    let info = PrivateKeyInfoRef::try_from(der).map_err(|_| KeyError::Pkcs8)?;
    info.encrypt_with_params(params, passphrase)
        .map_err(|_| KeyError::Encryption)
}
