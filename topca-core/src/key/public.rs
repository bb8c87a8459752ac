//! Public keys: parsed and validated once from a SubjectPublicKeyInfo, then used to
//! verify signatures (CSRs, certificates, CRLs) with every supported algorithm.

use aws_lc_rs::signature::{self as aws, UnparsedPublicKey, VerificationAlgorithm};
use der::{Decode, Encode, asn1::UintRef};
use spki::{Document, EncodePublicKey, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};

use crate::{
    algorithm::{KeyKind, SignatureAlgorithm},
    error::KeyError,
    oid,
};

/// The signer ID every SM2 signature in TopCA uses (GM/T 0009 §10 default).
pub const SM2_DEFAULT_ID: &str = "1234567812345678";

/// The signer ID OpenSSL 3.0 uses when none is set (`openssl req`, `x509`, `dgst`).
const SM2_OPENSSL3_ID: &str = "";

/// Smallest RSA modulus accepted anywhere (requests, imports).
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted.
pub const RSA_MAX_BITS: usize = 8192;

/// A validated public key.
#[derive(Clone, Debug)]
pub struct PublicKey {
    spki_der: Vec<u8>,
    /// Length of the subjectPublicKey bits, which end the SPKI encoding (the
    /// BIT STRING is its last field and has no unused bits).
    key_len: usize,
    kind: KeyKind,
    verifier: KeyVerifier,
}

#[derive(Clone, Debug)]
enum KeyVerifier {
    /// RSA (PKCS#1 RSAPublicKey), EC (SEC 1 point) or Ed25519 key bytes for aws-lc-rs.
    Raw(Vec<u8>),
    /// SM2 verifying keys (TopCA's `topca-sm2`) with their Z values computed
    /// once: for the default ID, and for the empty ID that OpenSSL 3.0 signs
    /// requests with.
    Sm2(Box<[topca_sm2::VerifyingKey; 2]>),
}

/// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1).
#[derive(der::Sequence)]
pub(super) struct RsaPublicKeyRef<'a> {
    pub(super) modulus: UintRef<'a>,
    pub(super) public_exponent: UintRef<'a>,
}

impl PublicKey {
    /// Parses and validates a DER SubjectPublicKeyInfo.
    ///
    /// Refuses RSA keys outside 2048–8192 bits or with an even or tiny exponent,
    /// curves other than P-256, P-384 and SM2, and points not on their curve.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki =
            SubjectPublicKeyInfoRef::from_der(der).map_err(|_| KeyError::Malformed("public"))?;
        Self::from_spki(&spki)
    }

    /// Parses and validates a SubjectPublicKeyInfo.
    pub fn from_spki(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<Self, KeyError> {
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or(KeyError::Malformed("public"))?;
        let algorithm = spki.algorithm.oid;
        let (kind, verifier) = if algorithm == oid::RSA_ENCRYPTION {
            (rsa_kind(key_bytes)?, KeyVerifier::Raw(key_bytes.to_vec()))
        } else if algorithm == oid::EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters_oid()
                .map_err(|_| KeyError::Malformed("EC public"))?;
            ec_key(curve, key_bytes)?
        } else if algorithm == oid::SM2_CURVE {
            // Some SM2 implementations name the curve as the key algorithm itself.
            ec_key(oid::SM2_CURVE, key_bytes)?
        } else if algorithm == oid::ED25519 {
            if key_bytes.len() != 32 || spki.algorithm.parameters.is_some() {
                return Err(KeyError::Malformed("Ed25519 public"));
            }
            (KeyKind::Ed25519, KeyVerifier::Raw(key_bytes.to_vec()))
        } else {
            return Err(KeyError::UnsupportedAlgorithm(format!(
                "key algorithm {algorithm}"
            )));
        };
        let spki_der = spki.to_der().map_err(|_| KeyError::Malformed("public"))?;
        Ok(Self {
            key_len: key_bytes.len(),
            spki_der,
            kind,
            verifier,
        })
    }

    /// The kind of key (algorithm and size).
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The public exponent of an RSA key (`None` for other keys).
    pub fn rsa_public_exponent(&self) -> Option<u64> {
        if !self.kind.is_rsa() {
            return None;
        }
        let key = RsaPublicKeyRef::from_der(self.subject_public_key().ok()?).ok()?;
        // Parsing kept exponents to at most 8 bytes.
        key.public_exponent
            .as_bytes()
            .iter()
            .try_fold(0u64, |acc, &b| {
                acc.checked_mul(256).map(|v| v | u64::from(b))
            })
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The SubjectPublicKeyInfo as an owned structure.
    pub fn spki(&self) -> Result<SubjectPublicKeyInfoOwned, KeyError> {
        SubjectPublicKeyInfoOwned::from_der(&self.spki_der)
            .map_err(|_| KeyError::Malformed("public"))
    }

    /// The bytes of the subjectPublicKey BIT STRING (what SKI hashes, RFC 5280 §4.2.1.2).
    pub fn key_bytes(&self) -> Result<Vec<u8>, KeyError> {
        self.subject_public_key().map(<[u8]>::to_vec)
    }

    /// The subjectPublicKey BIT STRING bytes, borrowed (no copy, no decoding:
    /// they are the last `key_len` bytes of the SPKI encoding).
    pub(crate) fn subject_public_key(&self) -> Result<&[u8], KeyError> {
        self.spki_der
            .len()
            .checked_sub(self.key_len)
            .and_then(|start| self.spki_der.get(start..))
            .ok_or(KeyError::Malformed("public"))
    }

    /// Verifies `signature` over `message` made with `algorithm`.
    ///
    /// SM2 signatures are accepted under the default signer ID `1234567812345678`
    /// (GM/T 0009, what TopCA signs with) or under the empty ID, which OpenSSL 3.0
    /// uses when none is configured (requests made by `openssl req`).
    pub fn verify(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), KeyError> {
        if !self.kind.accepts(algorithm) {
            return Err(KeyError::AlgorithmMismatch {
                signature: algorithm.to_string(),
                key: self.kind.to_string(),
            });
        }
        match &self.verifier {
            KeyVerifier::Raw(bytes) => {
                let alg = aws_algorithm(self.kind, algorithm).ok_or_else(|| {
                    KeyError::AlgorithmMismatch {
                        signature: algorithm.to_string(),
                        key: self.kind.to_string(),
                    }
                })?;
                UnparsedPublicKey::new(alg, bytes)
                    .verify(message, signature)
                    .map_err(|_| KeyError::BadSignature)
            }
            KeyVerifier::Sm2(keys) => {
                let sig = topca_sm2::Signature::from_der(signature)
                    .map_err(|_| KeyError::BadSignature)?;
                keys.iter()
                    .find_map(|key| key.verify_signature(message, &sig).ok())
                    .ok_or(KeyError::BadSignature)
            }
        }
    }
}

/// A public key made ready once to verify many signatures of one algorithm:
/// for aws-lc-rs keys (ECDSA, Ed25519, RSA) the key is decoded and its point
/// checked once instead of on every call, as [`PublicKey::verify`] does; for
/// SM2 the verifying key of the default signer ID, whose `Z` value and
/// table of all the multiples that verification uses (86 KiB) are computed
/// already.
#[derive(Debug)]
pub struct PreparedVerifier(Prepared);

#[derive(Debug)]
enum Prepared {
    Aws(aws::ParsedPublicKey),
    Sm2(Box<topca_sm2::VerifyingKey>),
}

impl PreparedVerifier {
    /// Verifies `signature` over `message` with the key and the algorithm it
    /// was made ready for.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        match &self.0 {
            Prepared::Aws(key) => key
                .verify_sig(message, signature)
                .map_err(|_| KeyError::BadSignature),
            Prepared::Sm2(key) => key
                .verify_der(message, signature)
                .map_err(|_| KeyError::BadSignature),
        }
    }
}

impl PublicKey {
    /// This key made ready to verify signatures of `algorithm` (SM2: under
    /// the default signer ID only, the one TopCA signs with).
    pub fn prepared_verifier(
        &self,
        algorithm: SignatureAlgorithm,
    ) -> Result<PreparedVerifier, KeyError> {
        let mismatch = || KeyError::AlgorithmMismatch {
            signature: algorithm.to_string(),
            key: self.kind.to_string(),
        };
        if !self.kind.accepts(algorithm) {
            return Err(mismatch());
        }
        let prepared = match &self.verifier {
            KeyVerifier::Raw(bytes) => {
                let alg = aws_algorithm(self.kind, algorithm).ok_or_else(mismatch)?;
                Prepared::Aws(
                    aws::ParsedPublicKey::new(alg, bytes)
                        .map_err(|_| KeyError::Malformed("public"))?,
                )
            }
            KeyVerifier::Sm2(keys) => {
                let [default_id, _] = &**keys;
                Prepared::Sm2(Box::new(default_id.clone().with_full_table()))
            }
        };
        Ok(PreparedVerifier(prepared))
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

impl EncodePublicKey for PublicKey {
    fn to_public_key_der(&self) -> spki::Result<Document> {
        Ok(Document::try_from(self.spki_der.as_slice())?)
    }
}

fn rsa_kind(key_bytes: &[u8]) -> Result<KeyKind, KeyError> {
    let key =
        RsaPublicKeyRef::from_der(key_bytes).map_err(|_| KeyError::Malformed("RSA public"))?;
    let modulus = key.modulus.as_bytes();
    let bits = match modulus.first() {
        Some(&top) => (modulus.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    };
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(KeyError::RsaKeySize(bits));
    }
    let exponent = key.public_exponent.as_bytes();
    let odd = exponent.last().is_some_and(|b| b & 1 == 1);
    let at_least_three = exponent.len() > 1 || exponent.first().is_some_and(|&b| b >= 3);
    if !(odd && at_least_three) || exponent.len() > 8 {
        return Err(KeyError::RsaExponent);
    }
    Ok(KeyKind::Rsa { bits })
}

fn ec_key(curve: spki::ObjectIdentifier, point: &[u8]) -> Result<(KeyKind, KeyVerifier), KeyError> {
    if curve == oid::SECP256R1 {
        check_nist_point(&aws::ECDSA_P256_SHA256_ASN1, point)?;
        Ok((KeyKind::EcdsaP256, KeyVerifier::Raw(point.to_vec())))
    } else if curve == oid::SECP384R1 {
        check_nist_point(&aws::ECDSA_P384_SHA384_ASN1, point)?;
        Ok((KeyKind::EcdsaP384, KeyVerifier::Raw(point.to_vec())))
    } else if curve == oid::SM2_CURVE {
        // The `sm2` crate reads any SEC 1 form (compressed too) and checks the
        // point; `topca-sm2` verifies from its uncompressed form.
        let public = sm2::PublicKey::from_sec1_bytes(point)
            .map_err(|_| KeyError::Malformed("SM2 public"))?;
        let uncompressed = sm2::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&public, false);
        let key = |id: &[u8]| {
            topca_sm2::VerifyingKey::from_sec1_with_id(uncompressed.as_bytes(), id)
                .map_err(|_| KeyError::Malformed("SM2 public"))
        };
        let keys = [
            key(SM2_DEFAULT_ID.as_bytes())?,
            key(SM2_OPENSSL3_ID.as_bytes())?,
        ];
        Ok((KeyKind::Sm2, KeyVerifier::Sm2(Box::new(keys))))
    } else {
        Err(KeyError::UnsupportedAlgorithm(format!(
            "elliptic curve {curve}"
        )))
    }
}

/// Rejects points that are not on the curve (aws-lc-rs parses them lazily otherwise).
fn check_nist_point(
    alg: &'static aws::EcdsaVerificationAlgorithm,
    point: &[u8],
) -> Result<(), KeyError> {
    aws::ParsedPublicKey::new(alg, point)
        .map(|_| ())
        .map_err(|_| KeyError::Malformed("EC public"))
}

fn aws_algorithm(
    kind: KeyKind,
    alg: SignatureAlgorithm,
) -> Option<&'static dyn VerificationAlgorithm> {
    use SignatureAlgorithm as S;
    Some(match (kind, alg) {
        (KeyKind::Rsa { .. }, S::RsaPkcs1Sha256) => &aws::RSA_PKCS1_2048_8192_SHA256,
        (KeyKind::Rsa { .. }, S::RsaPkcs1Sha384) => &aws::RSA_PKCS1_2048_8192_SHA384,
        (KeyKind::Rsa { .. }, S::RsaPkcs1Sha512) => &aws::RSA_PKCS1_2048_8192_SHA512,
        (KeyKind::EcdsaP256, S::EcdsaSha256) => &aws::ECDSA_P256_SHA256_ASN1,
        (KeyKind::EcdsaP256, S::EcdsaSha384) => &aws::ECDSA_P256_SHA384_ASN1,
        (KeyKind::EcdsaP256, S::EcdsaSha512) => &aws::ECDSA_P256_SHA512_ASN1,
        (KeyKind::EcdsaP384, S::EcdsaSha256) => &aws::ECDSA_P384_SHA256_ASN1,
        (KeyKind::EcdsaP384, S::EcdsaSha384) => &aws::ECDSA_P384_SHA384_ASN1,
        (KeyKind::EcdsaP384, S::EcdsaSha512) => &aws::ECDSA_P384_SHA512_ASN1,
        (KeyKind::Ed25519, S::Ed25519) => &aws::ED25519,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyAlgorithm, OsRandom, SigningKey};

    /// The stored length finds the same bits as decoding the SPKI, for every algorithm.
    #[test]
    fn subject_public_key_is_the_decoded_bit_string() {
        for algorithm in KeyAlgorithm::ALL {
            let key = SigningKey::generate(algorithm, &OsRandom).unwrap();
            let public = key.public_key();
            let decoded = SubjectPublicKeyInfoRef::from_der(public.spki_der()).unwrap();
            assert_eq!(
                public.subject_public_key().unwrap(),
                decoded.subject_public_key.as_bytes().unwrap(),
                "{algorithm}"
            );
        }
    }
}
