//! The closed set of key and signature algorithms TopCA supports.

use std::{fmt, str::FromStr};

use der::{Any, asn1::Null};
use spki::{AlgorithmIdentifierOwned, AlgorithmIdentifierRef, ObjectIdentifier};

use crate::{error::KeyError, oid};

/// A key algorithm a CA or a server-generated key pair can be created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA with a 2048-bit modulus, signing with PKCS#1 v1.5 and SHA-256.
    Rsa2048,
    /// RSA with a 3072-bit modulus, signing with PKCS#1 v1.5 and SHA-256.
    Rsa3072,
    /// RSA with a 4096-bit modulus, signing with PKCS#1 v1.5 and SHA-256.
    Rsa4096,
    /// ECDSA on NIST P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519 (RFC 8032).
    Ed25519,
    /// SM2 with SM3 (GM/T 0003), signer ID `1234567812345678`.
    Sm2,
}

impl KeyAlgorithm {
    /// Every supported algorithm, in a stable order (tests loop over it).
    pub const ALL: [KeyAlgorithm; 7] = [
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::Ed25519,
        Self::Sm2,
    ];

    /// The short name used in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa2048 => "rsa2048",
            Self::Rsa3072 => "rsa3072",
            Self::Rsa4096 => "rsa4096",
            Self::EcdsaP256 => "p256",
            Self::EcdsaP384 => "p384",
            Self::Ed25519 => "ed25519",
            Self::Sm2 => "sm2",
        }
    }

    /// The kind of key this algorithm generates.
    pub fn kind(self) -> KeyKind {
        match self {
            Self::Rsa2048 => KeyKind::Rsa { bits: 2048 },
            Self::Rsa3072 => KeyKind::Rsa { bits: 3072 },
            Self::Rsa4096 => KeyKind::Rsa { bits: 4096 },
            Self::EcdsaP256 => KeyKind::EcdsaP256,
            Self::EcdsaP384 => KeyKind::EcdsaP384,
            Self::Ed25519 => KeyKind::Ed25519,
            Self::Sm2 => KeyKind::Sm2,
        }
    }

    /// The signature algorithm a key of this kind signs with.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => SignatureAlgorithm::RsaPkcs1Sha256,
            Self::EcdsaP256 => SignatureAlgorithm::EcdsaSha256,
            Self::EcdsaP384 => SignatureAlgorithm::EcdsaSha384,
            Self::Ed25519 => SignatureAlgorithm::Ed25519,
            Self::Sm2 => SignatureAlgorithm::Sm2WithSm3,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let lower = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|a| a.name() == lower)
            .ok_or_else(|| KeyError::UnknownAlgorithm(s.to_owned()))
    }
}

/// What kind of public key a certificate or request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA with the given modulus size in bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// SM2.
    Sm2,
}

impl KeyKind {
    /// Whether a key of this kind can encrypt or agree keys (Ed25519 cannot).
    pub fn can_encrypt(self) -> bool {
        !matches!(self, Self::Ed25519)
    }

    /// Whether the key is RSA (which encrypts with keyEncipherment rather than key agreement).
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa { .. })
    }

    /// Whether `algorithm` is a signature algorithm keys of this kind produce.
    pub fn accepts(self, algorithm: SignatureAlgorithm) -> bool {
        use SignatureAlgorithm as S;
        match self {
            Self::Rsa { .. } => matches!(
                algorithm,
                S::RsaPkcs1Sha256 | S::RsaPkcs1Sha384 | S::RsaPkcs1Sha512
            ),
            Self::EcdsaP256 | Self::EcdsaP384 => {
                matches!(algorithm, S::EcdsaSha256 | S::EcdsaSha384 | S::EcdsaSha512)
            }
            Self::Ed25519 => algorithm == S::Ed25519,
            Self::Sm2 => algorithm == S::Sm2WithSm3,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa { bits } => write!(f, "RSA-{bits}"),
            Self::EcdsaP256 => f.write_str("ECDSA P-256"),
            Self::EcdsaP384 => f.write_str("ECDSA P-384"),
            Self::Ed25519 => f.write_str("Ed25519"),
            Self::Sm2 => f.write_str("SM2"),
        }
    }
}

/// A signature algorithm TopCA can produce or verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// sha256WithRSAEncryption.
    RsaPkcs1Sha256,
    /// sha384WithRSAEncryption (verification only).
    RsaPkcs1Sha384,
    /// sha512WithRSAEncryption (verification only).
    RsaPkcs1Sha512,
    /// ecdsa-with-SHA256.
    EcdsaSha256,
    /// ecdsa-with-SHA384.
    EcdsaSha384,
    /// ecdsa-with-SHA512 (verification only).
    EcdsaSha512,
    /// Ed25519 (PureEdDSA).
    Ed25519,
    /// SM2 signature with SM3, default signer ID.
    Sm2WithSm3,
}

impl SignatureAlgorithm {
    /// The algorithm's object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::RsaPkcs1Sha256 => oid::SHA256_WITH_RSA,
            Self::RsaPkcs1Sha384 => oid::SHA384_WITH_RSA,
            Self::RsaPkcs1Sha512 => oid::SHA512_WITH_RSA,
            Self::EcdsaSha256 => oid::ECDSA_WITH_SHA256,
            Self::EcdsaSha384 => oid::ECDSA_WITH_SHA384,
            Self::EcdsaSha512 => oid::ECDSA_WITH_SHA512,
            Self::Ed25519 => oid::ED25519,
            Self::Sm2WithSm3 => oid::SM2_WITH_SM3,
        }
    }

    /// The AlgorithmIdentifier written into certificates: RSA carries an explicit
    /// NULL parameter (RFC 8017 appendix A.2.4), ECDSA, Ed25519 and SM2 none
    /// (RFC 5758 §3.2, RFC 8410 §3, GM/T 0015 §7.2).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        let parameters = matches!(
            self,
            Self::RsaPkcs1Sha256 | Self::RsaPkcs1Sha384 | Self::RsaPkcs1Sha512
        )
        .then(|| Any::from(Null));
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters,
        }
    }

    /// Recognises a signature AlgorithmIdentifier.
    pub fn from_identifier(id: &AlgorithmIdentifierRef<'_>) -> Result<Self, KeyError> {
        Self::from_oid(id.oid)
    }

    /// Recognises a signature algorithm OID.
    pub fn from_oid(oid: ObjectIdentifier) -> Result<Self, KeyError> {
        [
            Self::RsaPkcs1Sha256,
            Self::RsaPkcs1Sha384,
            Self::RsaPkcs1Sha512,
            Self::EcdsaSha256,
            Self::EcdsaSha384,
            Self::EcdsaSha512,
            Self::Ed25519,
            Self::Sm2WithSm3,
        ]
        .into_iter()
        .find(|a| a.oid() == oid)
        .ok_or_else(|| KeyError::UnsupportedAlgorithm(format!("signature algorithm {oid}")))
    }

    /// A readable name (OpenSSL's long names).
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaPkcs1Sha256 => "sha256WithRSAEncryption",
            Self::RsaPkcs1Sha384 => "sha384WithRSAEncryption",
            Self::RsaPkcs1Sha512 => "sha512WithRSAEncryption",
            Self::EcdsaSha256 => "ecdsa-with-SHA256",
            Self::EcdsaSha384 => "ecdsa-with-SHA384",
            Self::EcdsaSha512 => "ecdsa-with-SHA512",
            Self::Ed25519 => "Ed25519",
            Self::Sm2WithSm3 => "SM2-with-SM3",
        }
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip() {
        for alg in KeyAlgorithm::ALL {
            assert_eq!(alg.name().parse::<KeyAlgorithm>(), Ok(alg));
        }
        assert_eq!("SM2".parse::<KeyAlgorithm>(), Ok(KeyAlgorithm::Sm2));
        assert!(matches!(
            "dsa1024".parse::<KeyAlgorithm>(),
            Err(KeyError::UnknownAlgorithm(_))
        ));
    }

    #[test]
    fn only_rsa_signature_identifiers_carry_null_parameters() {
        assert!(
            SignatureAlgorithm::RsaPkcs1Sha256
                .algorithm_identifier()
                .parameters
                .is_some()
        );
        for alg in [
            SignatureAlgorithm::EcdsaSha256,
            SignatureAlgorithm::Ed25519,
            SignatureAlgorithm::Sm2WithSm3,
        ] {
            assert!(alg.algorithm_identifier().parameters.is_none());
        }
    }
}
