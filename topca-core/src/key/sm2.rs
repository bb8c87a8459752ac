//! SM2 keys (GM/T 0003): signing and verifying on TopCA's constant-time
//! `topca-sm2` (a precomputed fixed-base table, Z and (1+d)⁻¹ computed once per
//! key, hedged RFC 6979 nonces, the public point); PKCS#8 on the RustCrypto
//! `sm2` crate, the independent implementation that `topca-sm2`'s tests
//! cross-check every signature with (OpenSSL checks them too).
//!
//! The signer ID is the default `1234567812345678`.

use ::sm2::{
    SecretKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey},
};
use zeroize::Zeroizing;

use super::PublicKey;
use crate::{error::KeyError, oid, random::RandomSource};

/// An SM2 private key.
pub struct Sm2Key {
    /// Boxed: it carries its precomputed values (≈1.4 KB).
    signer: Box<topca_sm2::SigningKey>,
    public: PublicKey,
}

impl Sm2Key {
    pub(super) fn generate(random: &dyn RandomSource) -> Result<Self, KeyError> {
        // Rejection sampling: a uniformly random 256-bit string is a valid scalar
        // (in [1, n-1]) with probability about 1 - 2^-32.
        for _ in 0..16 {
            let mut bytes = Zeroizing::new([0u8; 32]);
            random
                .fill(bytes.as_mut())
                .map_err(|_| KeyError::Generation)?;
            if let Ok(secret) = SecretKey::from_slice(bytes.as_ref()) {
                return Self::new(&secret);
            }
        }
        Err(KeyError::Generation)
    }

    pub(super) fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        Self::new(&SecretKey::from_pkcs8_der(der).map_err(|_| KeyError::Malformed("SM2 private"))?)
    }

    fn new(secret: &SecretKey) -> Result<Self, KeyError> {
        let secret_bytes = Zeroizing::new(<[u8; 32]>::from(secret.to_bytes()));
        // GM/T 0003 keys are in [1, n-2]; n-1 (never generated) is refused here.
        let signer = Box::new(
            topca_sm2::SigningKey::from_bytes(&secret_bytes)
                .map_err(|_| KeyError::Malformed("SM2 private"))?,
        );
        // The signer computed the public point already (in constant time).
        let point = signer.verifying_key().to_sec1();
        let spki = spki::SubjectPublicKeyInfoRef {
            algorithm: spki::AlgorithmIdentifierRef {
                oid: oid::EC_PUBLIC_KEY,
                parameters: Some(der::AnyRef::from(&oid::SM2_CURVE)),
            },
            subject_public_key: der::asn1::BitStringRef::from_bytes(&point)
                .map_err(|_| KeyError::Malformed("SM2 public"))?,
        };
        let public = PublicKey::from_spki(&spki)?;
        Ok(Self { signer, public })
    }

    pub(super) fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let secret = Zeroizing::new(self.signer.to_bytes());
        let secret = SecretKey::from_slice(secret.as_ref()).map_err(|_| KeyError::Pkcs8)?;
        let doc = secret.to_pkcs8_der().map_err(|_| KeyError::Pkcs8)?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    pub(super) fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let signature = self.signer.sign(message).map_err(|_| KeyError::Signing)?;
        Ok(signature.to_der())
    }
}
