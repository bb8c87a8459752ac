//! Signing keys: generation, PKCS#8 import/export and signing for every supported
//! algorithm, behind one enum that implements the RustCrypto signer traits.
//!
//! Backends, chosen for constant-time private-key operations and speed (see the
//! README's design notes): aws-lc-rs for RSA and ECDSA P-256/P-384, ed25519-dalek for
//! Ed25519, and the RustCrypto `sm2` crate for SM2/SM3.

mod ecdsa;
mod ed25519;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
mod pkcs8_file;
mod public;
mod rsa;
mod sm2;

pub use public::{PreparedVerifier, PublicKey, RSA_MAX_BITS, RSA_MIN_BITS, SM2_DEFAULT_ID};

use der::{Decode, asn1::BitString};
use pkcs8::PrivateKeyInfoRef;
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, SignatureBitStringEncoding};
use zeroize::Zeroizing;

use crate::{
    algorithm::{KeyAlgorithm, SignatureAlgorithm},
    error::KeyError,
    oid,
    random::RandomSource,
};

/// A private key that signs certificates, CRLs and requests.
///
/// The enum is closed over the algorithms TopCA supports and `#[non_exhaustive]` so a
/// key held elsewhere (a PKCS#11 token) can join as another arm without changing
/// callers, which only use its methods and the `signature` traits.
#[non_exhaustive]
pub enum SigningKey {
    /// RSA, PKCS#1 v1.5 with SHA-256.
    Rsa(rsa::RsaKey),
    /// ECDSA on P-256 or P-384.
    Ecdsa(ecdsa::EcdsaKey),
    /// Ed25519.
    Ed25519(ed25519::Ed25519Key),
    /// SM2 with SM3 and the default signer ID.
    Sm2(sm2::Sm2Key),
    /// A key held in a PKCS#11 token, which never leaves it.
    #[cfg(feature = "pkcs11")]
    Pkcs11(pkcs11::Pkcs11Key),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.signature_algorithm())
            .field("public_key", &self.public_key().kind())
            .finish_non_exhaustive()
    }
}

/// A signature as it goes into a certificate's BIT STRING: DER `(r, s)` for ECDSA
/// and SM2, the raw octets for RSA and Ed25519.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature(Vec<u8>);

impl Signature {
    /// The signature octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl SignatureBitStringEncoding for Signature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

impl SigningKey {
    /// Generates a new key pair.
    ///
    /// Ed25519 and SM2 seeds come from `random`; RSA and ECDSA keys are generated
    /// inside aws-lc-rs from its own system-seeded DRBG.
    pub fn generate(algorithm: KeyAlgorithm, random: &dyn RandomSource) -> Result<Self, KeyError> {
        Ok(match algorithm {
            KeyAlgorithm::Rsa2048 => Self::Rsa(rsa::RsaKey::generate(2048)?),
            KeyAlgorithm::Rsa3072 => Self::Rsa(rsa::RsaKey::generate(3072)?),
            KeyAlgorithm::Rsa4096 => Self::Rsa(rsa::RsaKey::generate(4096)?),
            KeyAlgorithm::EcdsaP256 => Self::Ecdsa(ecdsa::EcdsaKey::generate(ecdsa::Curve::P256)?),
            KeyAlgorithm::EcdsaP384 => Self::Ecdsa(ecdsa::EcdsaKey::generate(ecdsa::Curve::P384)?),
            KeyAlgorithm::Ed25519 => Self::Ed25519(ed25519::Ed25519Key::generate(random)?),
            KeyAlgorithm::Sm2 => Self::Sm2(sm2::Sm2Key::generate(random)?),
        })
    }

    /// Imports an unencrypted PKCS#8 `PrivateKeyInfo` (DER), as written by
    /// `openssl genpkey` or [`SigningKey::to_pkcs8_der`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = PrivateKeyInfoRef::from_der(der).map_err(|_| KeyError::Pkcs8)?;
        let algorithm = info.algorithm.oid;
        if algorithm == oid::RSA_ENCRYPTION {
            Ok(Self::Rsa(rsa::RsaKey::from_pkcs8(der)?))
        } else if algorithm == oid::ED25519 {
            Ok(Self::Ed25519(ed25519::Ed25519Key::from_pkcs8(der)?))
        } else if algorithm == oid::EC_PUBLIC_KEY || algorithm == oid::SM2_CURVE {
            let curve = if algorithm == oid::SM2_CURVE {
                oid::SM2_CURVE
            } else {
                info.algorithm
                    .parameters_oid()
                    .map_err(|_| KeyError::Pkcs8)?
            };
            if curve == oid::SECP256R1 {
                Ok(Self::Ecdsa(ecdsa::EcdsaKey::from_pkcs8(
                    ecdsa::Curve::P256,
                    der,
                )?))
            } else if curve == oid::SECP384R1 {
                Ok(Self::Ecdsa(ecdsa::EcdsaKey::from_pkcs8(
                    ecdsa::Curve::P384,
                    der,
                )?))
            } else if curve == oid::SM2_CURVE {
                Ok(Self::Sm2(sm2::Sm2Key::from_pkcs8(der)?))
            } else {
                Err(KeyError::UnsupportedAlgorithm(format!(
                    "elliptic curve {curve}"
                )))
            }
        } else {
            Err(KeyError::UnsupportedAlgorithm(format!(
                "key algorithm {algorithm}"
            )))
        }
    }

    /// Imports a PKCS#8 private key from PEM: `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY`
    /// (PBES2) when `passphrase` is given.
    pub fn from_pkcs8_pem(pem: &str, passphrase: Option<&str>) -> Result<Self, KeyError> {
        pkcs8_file::decode_pem(pem, passphrase).and_then(|der| Self::from_pkcs8_der(&der))
    }

    /// Exports the key as an unencrypted PKCS#8 `PrivateKeyInfo` (DER), zeroised on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match self {
            Self::Rsa(k) => k.to_pkcs8(),
            Self::Ecdsa(k) => k.to_pkcs8(),
            Self::Ed25519(k) => k.to_pkcs8(),
            Self::Sm2(k) => k.to_pkcs8(),
            #[cfg(feature = "pkcs11")]
            Self::Pkcs11(_) => Err(KeyError::NotExportable),
        }
    }

    /// Exports the key as a PEM `ENCRYPTED PRIVATE KEY`: PBES2 with PBKDF2-HMAC-SHA256
    /// (600,000 iterations) and AES-256-CBC, readable by `openssl pkey -passin`.
    pub fn to_encrypted_pkcs8_pem(
        &self,
        passphrase: &str,
        random: &dyn RandomSource,
    ) -> Result<Zeroizing<String>, KeyError> {
        let der = self.to_pkcs8_der()?;
        pkcs8_file::encrypt_pem(&der, passphrase, random)
    }

    /// Exports the key as a DER `EncryptedPrivateKeyInfo` (PBES2 as in
    /// [`SigningKey::to_encrypted_pkcs8_pem`]), e.g. for a PKCS#12 shrouded key bag.
    pub fn to_encrypted_pkcs8_der(
        &self,
        passphrase: &str,
        random: &dyn RandomSource,
    ) -> Result<Vec<u8>, KeyError> {
        let der = self.to_pkcs8_der()?;
        pkcs8_file::encrypt_der(&der, passphrase, random)
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        match self {
            Self::Rsa(k) => k.public_key(),
            Self::Ecdsa(k) => k.public_key(),
            Self::Ed25519(k) => k.public_key(),
            Self::Sm2(k) => k.public_key(),
            #[cfg(feature = "pkcs11")]
            Self::Pkcs11(k) => k.public_key(),
        }
    }

    /// The algorithm this key signs with.
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        match self {
            Self::Rsa(_) => SignatureAlgorithm::RsaPkcs1Sha256,
            Self::Ecdsa(k) => k.signature_algorithm(),
            Self::Ed25519(_) => SignatureAlgorithm::Ed25519,
            Self::Sm2(_) => SignatureAlgorithm::Sm2WithSm3,
            #[cfg(feature = "pkcs11")]
            Self::Pkcs11(k) => k.signature_algorithm(),
        }
    }

    /// Signs `message` (hashing it as the algorithm requires).
    pub fn sign_bytes(&self, message: &[u8]) -> Result<Signature, KeyError> {
        let bytes = match self {
            Self::Rsa(k) => k.sign(message)?,
            Self::Ecdsa(k) => k.sign(message)?,
            Self::Ed25519(k) => k.sign(message),
            Self::Sm2(k) => k.sign(message)?,
            #[cfg(feature = "pkcs11")]
            Self::Pkcs11(k) => k.sign(message)?,
        };
        Ok(Signature(bytes))
    }
}

impl signature::Signer<Signature> for SigningKey {
    fn try_sign(&self, msg: &[u8]) -> Result<Signature, signature::Error> {
        self.sign_bytes(msg).map_err(|_| signature::Error::new())
    }
}

impl signature::Keypair for SigningKey {
    type VerifyingKey = PublicKey;

    fn verifying_key(&self) -> PublicKey {
        self.public_key().clone()
    }
}

impl DynSignatureAlgorithmIdentifier for SigningKey {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.signature_algorithm().algorithm_identifier())
    }
}
