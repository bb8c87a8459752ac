//! RSA keys on aws-lc-rs: constant-time, assembly-backed PKCS#1 v1.5 signing.

use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    rsa::KeySize,
    signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair},
};
use zeroize::Zeroizing;

use super::PublicKey;
use crate::error::KeyError;

/// An RSA private key.
pub struct RsaKey {
    pair: RsaKeyPair,
    public: PublicKey,
}

impl RsaKey {
    pub(super) fn generate(bits: usize) -> Result<Self, KeyError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            other => return Err(KeyError::RsaKeySize(other)),
        };
        Self::new(RsaKeyPair::generate(size).map_err(|_| KeyError::Generation)?)
    }

    pub(super) fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        Self::new(RsaKeyPair::from_pkcs8(der).map_err(|_| KeyError::Malformed("RSA private"))?)
    }

    fn new(pair: RsaKeyPair) -> Result<Self, KeyError> {
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Malformed("RSA public"))?;
        // Validates the size (2048..=8192 bits) and exponent like any other RSA key.
        let public = PublicKey::from_spki_der(spki.as_ref())?;
        Ok(Self { pair, public })
    }

    pub(super) fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let der = self.pair.as_der().map_err(|_| KeyError::Pkcs8)?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    pub(super) fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        // aws-lc-rs ignores the RNG for PKCS#1 v1.5 (deterministic padding).
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| KeyError::Signing)?;
        Ok(signature)
    }
}
