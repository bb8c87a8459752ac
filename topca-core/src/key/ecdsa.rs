//! ECDSA P-256/P-384 keys on aws-lc-rs (constant-time nistz256 and P-384 code).

use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
        EcdsaSigningAlgorithm, KeyPair,
    },
};
use zeroize::Zeroizing;

use super::PublicKey;
use crate::{algorithm::SignatureAlgorithm, error::KeyError};

/// The NIST curve of an ECDSA key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P384,
}

impl Curve {
    fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Self::P256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
            Self::P384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
        }
    }
}

/// An ECDSA private key.
pub struct EcdsaKey {
    pair: EcdsaKeyPair,
    curve: Curve,
    public: PublicKey,
    rng: SystemRandom,
}

impl EcdsaKey {
    pub(super) fn generate(curve: Curve) -> Result<Self, KeyError> {
        Self::new(
            EcdsaKeyPair::generate(curve.signing()).map_err(|_| KeyError::Generation)?,
            curve,
        )
    }

    pub(super) fn from_pkcs8(curve: Curve, der: &[u8]) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(curve.signing(), der)
            .map_err(|_| KeyError::Malformed("ECDSA private"))?;
        Self::new(pair, curve)
    }

    fn new(pair: EcdsaKeyPair, curve: Curve) -> Result<Self, KeyError> {
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Malformed("ECDSA public"))?;
        let public = PublicKey::from_spki_der(spki.as_ref())?;
        Ok(Self {
            pair,
            curve,
            public,
            rng: SystemRandom::new(),
        })
    }

    pub(super) fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let doc = self.pair.to_pkcs8v1().map_err(|_| KeyError::Pkcs8)?;
        Ok(Zeroizing::new(doc.as_ref().to_vec()))
    }

    pub(super) fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(super) fn signature_algorithm(&self) -> SignatureAlgorithm {
        match self.curve {
            Curve::P256 => SignatureAlgorithm::EcdsaSha256,
            Curve::P384 => SignatureAlgorithm::EcdsaSha384,
        }
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let signature = self
            .pair
            .sign(&self.rng, message)
            .map_err(|_| KeyError::Signing)?;
        Ok(signature.as_ref().to_vec())
    }
}
