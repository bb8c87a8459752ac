//! Delivering a KMC-generated encryption key to its holder, protected for the
//! holder's signing key: an `SM2EnvelopedKey` (GM/T 0009/0010) for SM2, a CMS
//! EnvelopedData (RFC 5652) for RSA and ECDSA. Only the holder's signing private
//! key opens it.

mod cms;
mod sm2;

use crate::{
    algorithm::KeyKind, certificate::Certificate, error::KmcError, key::SigningKey,
    random::RandomSource,
};

/// How an enveloped key is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvelopeFormat {
    /// GM/T 0009 §7.4 `SM2EnvelopedKey` (SM4 key encrypted with SM2), for SM2.
    Sm2EnvelopedKey,
    /// RFC 5652 CMS `EnvelopedData` with a PKCS#8 key as content, for RSA and ECDSA.
    CmsEnvelopedData,
}

impl EnvelopeFormat {
    /// The format used to envelope a key for a signing key of `kind`, if any.
    pub fn for_signing_key(kind: KeyKind) -> Option<Self> {
        match kind {
            KeyKind::Sm2 => Some(Self::Sm2EnvelopedKey),
            KeyKind::Rsa { .. } | KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {
                Some(Self::CmsEnvelopedData)
            }
            _ => None,
        }
    }

    /// A file name for downloads.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Sm2EnvelopedKey => "encryptionKey.sm2env",
            Self::CmsEnvelopedData => "encryptionKey.p7m",
        }
    }
}

/// An encryption private key, enveloped for its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopedKey {
    /// The encoding.
    pub format: EnvelopeFormat,
    /// The DER.
    pub der: Vec<u8>,
}

impl EnvelopedKey {
    /// Envelopes `key` for the holder of the signing certificate `recipient`.
    /// An SM2 signing key receives an SM2 key; RSA and ECDSA receive any key.
    pub fn seal(
        key: &SigningKey,
        recipient: &Certificate,
        random: &dyn RandomSource,
    ) -> Result<Self, KmcError> {
        let public = recipient.public_key().map_err(|_| KmcError::Damaged)?;
        let format = EnvelopeFormat::for_signing_key(public.kind()).ok_or(
            KmcError::UnsuitableKey("an Ed25519 signing key cannot receive an enveloped key"),
        )?;
        let der = match format {
            EnvelopeFormat::Sm2EnvelopedKey => sm2::seal(key, &public, random)?,
            EnvelopeFormat::CmsEnvelopedData => cms::seal(key, recipient, random)?,
        };
        Ok(Self { format, der })
    }

    /// Opens an SM2 enveloped key with the holder's SM2 signing key, as a client
    /// importing it does. CMS envelopes open with any CMS implementation
    /// (`openssl cms -decrypt`).
    pub fn open_sm2(&self, signing_key: &SigningKey) -> Result<SigningKey, KmcError> {
        match self.format {
            EnvelopeFormat::Sm2EnvelopedKey => sm2::open(&self.der, signing_key),
            EnvelopeFormat::CmsEnvelopedData => Err(KmcError::UnsuitableKey(
                "a CMS envelope opens with a CMS implementation",
            )),
        }
    }
}

/// A [`RandomSource`] as the `rand_core` generator the `sm2` crate asks for.
struct RandomAdapter<'a>(&'a dyn RandomSource);

impl rand_core::TryRng for RandomAdapter<'_> {
    type Error = crate::error::Error;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0u8; 4];
        self.0.fill(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0u8; 8];
        self.0.fill(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst)
    }
}

impl rand_core::TryCryptoRng for RandomAdapter<'_> {}
