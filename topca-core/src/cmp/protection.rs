//! Message protection (RFC 9481 §6, RFC 9483 §3.2): MAC-based with
//! PasswordBasedMac (RFC 4211 §4.4) or PBMAC1 (RFC 8018), keyed by a
//! credential's secret; answers are protected the same way with a fresh salt.

use aws_lc_rs::{digest, hmac, pbkdf2};
use der::{Encode, asn1::OctetString};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::{
    Failure, FailureInfo,
    asn1::{self, Pbkdf2Params, PbmParameter, Pbmac1Params},
};
use crate::random::RandomSource;

/// The fewest PasswordBasedMac / PBKDF2 iterations accepted.
pub const MIN_ITERATIONS: u32 = 100;
/// The most accepted: each costs a hash, and a sender is not known yet.
pub const MAX_ITERATIONS: u32 = 100_000;
/// The longest salt accepted.
const MAX_SALT: usize = 64;
/// The longest PBKDF2 key asked for.
const MAX_KEY_LENGTH: u32 = 64;

fn bad_alg(text: &str) -> Failure {
    Failure::new(FailureInfo::BadAlg, text)
}

/// A one-way function of PasswordBasedMac: SHA-1/2 (aws-lc-rs) or SM3
/// (`openssl cmp -digest sm3` uses it for the MAC key too).
#[derive(Clone, Copy)]
enum Owf {
    Sha(&'static digest::Algorithm),
    Sm3,
}

impl Owf {
    fn hash(self, parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
        match self {
            Self::Sha(alg) => {
                let mut context = digest::Context::new(alg);
                for part in parts {
                    context.update(part);
                }
                Zeroizing::new(context.finish().as_ref().to_vec())
            }
            Self::Sm3 => {
                use sm3::Digest;
                let mut hasher = sm3::Sm3::new();
                for part in parts {
                    hasher.update(part);
                }
                Zeroizing::new(hasher.finalize().to_vec())
            }
        }
    }
}

fn digest_of(oid: &der::asn1::ObjectIdentifier) -> Option<Owf> {
    match *oid {
        asn1::SHA1 => Some(Owf::Sha(&digest::SHA1_FOR_LEGACY_USE_ONLY)),
        asn1::SHA256 => Some(Owf::Sha(&digest::SHA256)),
        asn1::SHA384 => Some(Owf::Sha(&digest::SHA384)),
        asn1::SHA512 => Some(Owf::Sha(&digest::SHA512)),
        asn1::SM3 => Some(Owf::Sm3),
        _ => None,
    }
}

fn hmac_of(oid: &der::asn1::ObjectIdentifier) -> Option<hmac::Algorithm> {
    match *oid {
        asn1::HMAC_SHA1 | asn1::HMAC_WITH_SHA1 => Some(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
        asn1::HMAC_WITH_SHA256 => Some(hmac::HMAC_SHA256),
        asn1::HMAC_WITH_SHA384 => Some(hmac::HMAC_SHA384),
        asn1::HMAC_WITH_SHA512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

fn pbkdf2_of(oid: &der::asn1::ObjectIdentifier) -> Option<pbkdf2::Algorithm> {
    match *oid {
        asn1::HMAC_SHA1 | asn1::HMAC_WITH_SHA1 => Some(pbkdf2::PBKDF2_HMAC_SHA1),
        asn1::HMAC_WITH_SHA256 => Some(pbkdf2::PBKDF2_HMAC_SHA256),
        asn1::HMAC_WITH_SHA384 => Some(pbkdf2::PBKDF2_HMAC_SHA384),
        asn1::HMAC_WITH_SHA512 => Some(pbkdf2::PBKDF2_HMAC_SHA512),
        _ => None,
    }
}

/// Whether `alg` is a MAC-based protection algorithm.
pub fn is_mac(alg: &AlgorithmIdentifierOwned) -> bool {
    alg.oid == asn1::PASSWORD_BASED_MAC || alg.oid == asn1::PBMAC1
}

/// A MAC algorithm read from a protectionAlg, with its key derived.
struct Keyed {
    mac: hmac::Algorithm,
    key: Zeroizing<Vec<u8>>,
}

fn checked_iterations(n: u32) -> Result<u32, Failure> {
    if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&n) {
        Ok(n)
    } else {
        Err(bad_alg(&format!(
            "the iteration count must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"
        )))
    }
}

fn checked_salt(salt: &OctetString) -> Result<&[u8], Failure> {
    let salt = salt.as_bytes();
    if salt.is_empty() || salt.len() > MAX_SALT {
        return Err(bad_alg("the salt must have 1 to 64 bytes"));
    }
    Ok(salt)
}

/// The PasswordBasedMac key: the one-way function applied `iterations` times
/// to secret ‖ salt (RFC 4211 §4.4).
fn pbm_key(params: &PbmParameter, secret: &[u8]) -> Result<Keyed, Failure> {
    let owf = digest_of(&params.owf.oid).ok_or_else(|| bad_alg("unsupported one-way function"))?;
    let mac = hmac_of(&params.mac.oid).ok_or_else(|| bad_alg("unsupported MAC"))?;
    let iterations = checked_iterations(params.iteration_count)?;
    let salt = checked_salt(&params.salt)?;
    let mut key = owf.hash(&[secret, salt]);
    for _ in 1..iterations {
        key = owf.hash(&[&key]);
    }
    Ok(Keyed { mac, key })
}

/// The PBMAC1 key: PBKDF2 (RFC 8018 §5.2) of the secret.
fn pbmac1_key(params: &Pbmac1Params, secret: &[u8]) -> Result<(Keyed, Pbkdf2Params), Failure> {
    if params.key_derivation_func.oid != asn1::PBKDF2 {
        return Err(bad_alg("PBMAC1 needs PBKDF2"));
    }
    let kdf: Pbkdf2Params = params
        .key_derivation_func
        .parameters
        .as_ref()
        .ok_or_else(|| bad_alg("PBKDF2 without parameters"))?
        .decode_as()
        .map_err(|_| bad_alg("unreadable PBKDF2 parameters"))?;
    let prf = kdf.prf.as_ref().map_or(asn1::HMAC_WITH_SHA1, |p| p.oid);
    let prf = pbkdf2_of(&prf).ok_or_else(|| bad_alg("unsupported PBKDF2 function"))?;
    let mac = hmac_of(&params.message_auth_scheme.oid).ok_or_else(|| bad_alg("unsupported MAC"))?;
    let length = kdf.key_length.unwrap_or(32);
    if !(16..=MAX_KEY_LENGTH).contains(&length) {
        return Err(bad_alg("the PBKDF2 key must have 16 to 64 bytes"));
    }
    let iterations = checked_iterations(kdf.iteration_count)?;
    let salt = checked_salt(&kdf.salt)?;
    let mut key = Zeroizing::new(vec![0u8; length as usize]);
    let rounds = std::num::NonZeroU32::new(iterations).ok_or_else(|| bad_alg("no iterations"))?;
    pbkdf2::derive(prf, rounds, salt, secret, &mut key);
    Ok((Keyed { mac, key }, kdf))
}

fn keyed(alg: &AlgorithmIdentifierOwned, secret: &[u8]) -> Result<Keyed, Failure> {
    let parameters = alg
        .parameters
        .as_ref()
        .ok_or_else(|| bad_alg("MAC protection without parameters"))?;
    match alg.oid {
        asn1::PASSWORD_BASED_MAC => {
            let params: PbmParameter = parameters
                .decode_as()
                .map_err(|_| bad_alg("unreadable PBMParameter"))?;
            pbm_key(&params, secret)
        }
        asn1::PBMAC1 => {
            let params: Pbmac1Params = parameters
                .decode_as()
                .map_err(|_| bad_alg("unreadable PBMAC1 parameters"))?;
            Ok(pbmac1_key(&params, secret)?.0)
        }
        _ => Err(bad_alg("not a MAC algorithm")),
    }
}

/// Checks the MAC `protection` of `protected` (the DER of ProtectedPart) under
/// `alg` and `secret`, in constant time.
pub fn verify_mac(
    alg: &AlgorithmIdentifierOwned,
    secret: &[u8],
    protected: &[u8],
    protection: &[u8],
) -> Result<(), Failure> {
    let keyed = keyed(alg, secret)?;
    hmac::verify(
        &hmac::Key::new(keyed.mac, &keyed.key),
        protected,
        protection,
    )
    .map_err(|_| Failure::new(FailureInfo::BadMessageCheck, "the MAC does not verify"))
}

/// The protectionAlg (DER) of an answer to a request protected with `alg`:
/// the same functions and iterations with a fresh salt.
pub fn answer_algorithm(
    alg: &AlgorithmIdentifierOwned,
    random: &dyn RandomSource,
) -> Result<Vec<u8>, Failure> {
    let mut salt = [0u8; 16];
    random
        .fill(&mut salt)
        .map_err(|_| Failure::new(FailureInfo::SystemFailure, "no random salt"))?;
    let parameters = alg
        .parameters
        .as_ref()
        .ok_or_else(|| bad_alg("MAC protection without parameters"))?;
    let encoding = |e: der::Error| Failure::new(FailureInfo::SystemFailure, e.to_string());
    match alg.oid {
        asn1::PASSWORD_BASED_MAC => {
            let params: PbmParameter = parameters
                .decode_as()
                .map_err(|_| bad_alg("unreadable PBMParameter"))?;
            let body = asn1::sequence(&[
                &asn1::octets(&salt),
                &params.owf.to_der().map_err(encoding)?,
                &params.iteration_count.to_der().map_err(encoding)?,
                &params.mac.to_der().map_err(encoding)?,
            ]);
            Ok(asn1::algorithm_with(asn1::PASSWORD_BASED_MAC, &body))
        }
        asn1::PBMAC1 => {
            let params: Pbmac1Params = parameters
                .decode_as()
                .map_err(|_| bad_alg("unreadable PBMAC1 parameters"))?;
            let (_, kdf) = pbmac1_key(&params, b"")?;
            let mut kdf_parts = vec![
                asn1::octets(&salt),
                kdf.iteration_count.to_der().map_err(encoding)?,
            ];
            if let Some(length) = kdf.key_length {
                kdf_parts.push(length.to_der().map_err(encoding)?);
            }
            if let Some(prf) = &kdf.prf {
                kdf_parts.push(prf.to_der().map_err(encoding)?);
            }
            let refs: Vec<&[u8]> = kdf_parts.iter().map(Vec::as_slice).collect();
            let kdf = asn1::algorithm_with(asn1::PBKDF2, &asn1::sequence(&refs));
            let body = asn1::sequence(&[
                &kdf,
                &params.message_auth_scheme.to_der().map_err(encoding)?,
            ]);
            Ok(asn1::algorithm_with(asn1::PBMAC1, &body))
        }
        _ => Err(bad_alg("not a MAC algorithm")),
    }
}

/// The MAC of `protected` under `alg` (as made by [`answer_algorithm`]).
pub fn mac(
    alg: &AlgorithmIdentifierOwned,
    secret: &[u8],
    protected: &[u8],
) -> Result<Vec<u8>, Failure> {
    let keyed = keyed(alg, secret)?;
    Ok(
        hmac::sign(&hmac::Key::new(keyed.mac, &keyed.key), protected)
            .as_ref()
            .to_vec(),
    )
}

#[cfg(test)]
mod tests {
    use der::Decode;

    use super::*;
    use crate::random::OsRandom;

    fn pbm(iterations: u32) -> AlgorithmIdentifierOwned {
        let params = asn1::sequence(&[
            &asn1::octets(b"0123456789abcdef"),
            &asn1::algorithm(asn1::SHA256),
            &iterations.to_der().unwrap(),
            &asn1::algorithm(asn1::HMAC_SHA1),
        ]);
        AlgorithmIdentifierOwned::from_der(&asn1::algorithm_with(asn1::PASSWORD_BASED_MAC, &params))
            .unwrap()
    }

    #[test]
    fn a_mac_verifies_only_with_its_secret_and_data() {
        let alg = pbm(500);
        let tag = mac(&alg, b"secret", b"data").unwrap();
        assert_eq!(tag.len(), 20);
        verify_mac(&alg, b"secret", b"data", &tag).unwrap();
        let wrong = verify_mac(&alg, b"secreT", b"data", &tag).unwrap_err();
        assert_eq!(wrong.info, FailureInfo::BadMessageCheck);
        assert!(verify_mac(&alg, b"secret", b"dat4", &tag).is_err());
    }

    #[test]
    fn answers_use_the_same_functions_with_a_fresh_salt() {
        let alg = pbm(500);
        let answer =
            AlgorithmIdentifierOwned::from_der(&answer_algorithm(&alg, &OsRandom).unwrap())
                .unwrap();
        assert_ne!(answer, alg);
        let tag = mac(&answer, b"secret", b"data").unwrap();
        verify_mac(&answer, b"secret", b"data", &tag).unwrap();
    }

    #[test]
    fn costly_or_unknown_parameters_are_refused() {
        for n in [0, 99, 100_001, u32::MAX] {
            assert_eq!(
                mac(&pbm(n), b"s", b"d").unwrap_err().info,
                FailureInfo::BadAlg
            );
        }
        let no_params = AlgorithmIdentifierOwned {
            oid: asn1::PASSWORD_BASED_MAC,
            parameters: None,
        };
        assert_eq!(
            mac(&no_params, b"s", b"d").unwrap_err().info,
            FailureInfo::BadAlg
        );
    }

    #[test]
    fn pbmac1_round_trips() {
        let kdf = asn1::sequence(&[
            &asn1::octets(b"saltsaltsaltsalt"),
            &1000u32.to_der().unwrap(),
            &32u32.to_der().unwrap(),
            &asn1::algorithm(asn1::HMAC_WITH_SHA256),
        ]);
        let params = asn1::sequence(&[
            &asn1::algorithm_with(asn1::PBKDF2, &kdf),
            &asn1::algorithm(asn1::HMAC_WITH_SHA256),
        ]);
        let alg = AlgorithmIdentifierOwned::from_der(&asn1::algorithm_with(asn1::PBMAC1, &params))
            .unwrap();
        let tag = mac(&alg, b"secret", b"data").unwrap();
        verify_mac(&alg, b"secret", b"data", &tag).unwrap();
        let answer =
            AlgorithmIdentifierOwned::from_der(&answer_algorithm(&alg, &OsRandom).unwrap())
                .unwrap();
        let tag = mac(&answer, b"secret", b"data").unwrap();
        verify_mac(&answer, b"secret", b"data", &tag).unwrap();
    }
}
