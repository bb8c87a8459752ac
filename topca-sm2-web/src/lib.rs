//! SM2 keys made in the browser: the key pair, its PKCS#10 request, the
//! password-encrypted PKCS#8 file, and the opening of the KMC's
//! `SM2EnvelopedKey`, compiled to WebAssembly for the enrolment pages.
//!
//! What it does not do: it has no random generator of its own (WebAssembly
//! has none; the page passes bytes from `crypto.getRandomValues` and a
//! [`drbg`] stretches them), no I/O, and no JavaScript glue (the exports in
//! [`ffi`] are plain C-ABI functions over a byte buffer). The clear private
//! key never leaves the WebAssembly memory of a call: the page receives it
//! only encrypted with the user's password, and the buffers are wiped.
//!
//! The signatures come from [`topca_sm2`], the same SM2 code the CA signs
//! with; the envelope is opened as `topca-core`'s KMC seals it.

mod drbg;
mod envelope;
mod error;
pub mod ffi;
mod keyfile;
mod request;

pub use drbg::MIN_ENTROPY;
pub use error::Error;
pub use keyfile::{ITERATIONS, MAX_PASSWORD};

use topca_sm2::SigningKey;
use zeroize::Zeroize;

use crate::drbg::Drbg;

/// A new key's request and its encrypted key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// DER PKCS#10 request, signed with SM2/SM3 and the default identifier.
    pub csr: Vec<u8>,
    /// DER PBES2 `EncryptedPrivateKeyInfo` of the new key.
    pub key_file: Vec<u8>,
}

/// Makes an SM2 key pair from `entropy` (at least [`MIN_ENTROPY`] bytes from
/// the page's generator), a request with subject `CN=common_name`, and the
/// key encrypted under `password`.
pub fn make_request(entropy: &[u8], common_name: &str, password: &[u8]) -> Result<Request, Error> {
    keyfile::check_password(password)?;
    let mut drbg = Drbg::new(entropy, b"topca-sm2-web request")?;
    let key = generate(&mut drbg)?;
    let csr = request::build(&key, common_name, &mut drbg)?;
    let mut secret = key.to_bytes();
    let key_file = keyfile::seal(&secret, password, &mut drbg);
    secret.zeroize();
    Ok(Request {
        csr,
        key_file: key_file?,
    })
}

/// Opens the KMC's `SM2EnvelopedKey` with the signing key in `key_file`
/// (opened with `password`); returns the encryption key as a new key file
/// under the same password. `entropy` salts the new file.
pub fn open_envelope(
    entropy: &[u8],
    key_file: &[u8],
    password: &[u8],
    envelope: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut drbg = Drbg::new(entropy, b"topca-sm2-web envelope")?;
    let signing = keyfile::open(key_file, password)?;
    let encryption = envelope::open(envelope, &signing)?;
    keyfile::seal(&encryption, password, &mut drbg)
}

/// A uniformly random key: candidates outside `[1, n − 2]` (probability
/// about 2⁻³² each) are drawn again.
fn generate(drbg: &mut Drbg) -> Result<SigningKey, Error> {
    for _ in 0..64 {
        let mut candidate: [u8; 32] = drbg.bytes();
        let key = SigningKey::from_bytes(&candidate);
        candidate.zeroize();
        if let Ok(key) = key {
            return Ok(key);
        }
    }
    Err(Error::Sm2)
}

#[cfg(test)]
mod tests;
