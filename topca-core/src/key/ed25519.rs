//! Ed25519 keys on ed25519-dalek (constant-time, precomputed base-point tables).

use ed25519_dalek::{Signer, pkcs8::DecodePrivateKey};
use zeroize::Zeroizing;

use super::PublicKey;
use crate::{error::KeyError, oid, random::RandomSource};

/// An Ed25519 private key.
pub struct Ed25519Key {
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl Ed25519Key {
    pub(super) fn generate(random: &dyn RandomSource) -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        random
            .fill(seed.as_mut())
            .map_err(|_| KeyError::Generation)?;
        Self::new(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub(super) fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        Self::new(
            ed25519_dalek::SigningKey::from_pkcs8_der(der)
                .map_err(|_| KeyError::Malformed("Ed25519 private"))?,
        )
    }

    fn new(key: ed25519_dalek::SigningKey) -> Result<Self, KeyError> {
        let verifying_key = key.verifying_key();
        let spki = spki::SubjectPublicKeyInfoRef {
            algorithm: spki::AlgorithmIdentifierRef {
                oid: oid::ED25519,
                parameters: None,
            },
            subject_public_key: der::asn1::BitStringRef::from_bytes(verifying_key.as_bytes())
                .map_err(|_| KeyError::Malformed("Ed25519 public"))?,
        };
        let public = PublicKey::from_spki(&spki)?;
        Ok(Self { key, public })
    }

    /// PKCS#8 v1 (RFC 8410 §7): `PrivateKeyInfo` whose privateKey is the DER of
    /// `CurvePrivateKey ::= OCTET STRING` (the 32-byte seed). The v2 form with the
    /// public key attached is not read by OpenSSL 3.0.
    pub(super) fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let mut curve_private_key = Zeroizing::new(Vec::with_capacity(34));
        curve_private_key.extend_from_slice(&[0x04, 0x20]);
        curve_private_key.extend_from_slice(self.key.as_bytes());
        let algorithm = spki::AlgorithmIdentifierRef {
            oid: oid::ED25519,
            parameters: None,
        };
        let info = pkcs8::PrivateKeyInfoRef::new(
            algorithm,
            der::asn1::OctetStringRef::new(&curve_private_key).map_err(|_| KeyError::Pkcs8)?,
        );
        Ok(Zeroizing::new(
            der::Encode::to_der(&info).map_err(|_| KeyError::Pkcs8)?,
        ))
    }

    pub(super) fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(super) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).to_bytes().to_vec()
    }
}
