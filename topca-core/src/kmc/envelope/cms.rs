//! CMS EnvelopedData (RFC 5652) carrying the KMC's encryption key (PKCS#8) to the
//! holder's RSA or ECDSA signing certificate, as `openssl cms -decrypt` opens it.
//!
//! - RSA: KeyTransRecipientInfo with RSAES-OAEP, SHA-256 and MGF1-SHA-256 (RFC 8017,
//!   RFC 4055).
//! - ECDSA P-256 / P-384: KeyAgreeRecipientInfo, ephemeral-static ECDH with the
//!   X9.63 KDF over SHA-256 (`dhSinglePass-stdDH-sha256kdf-scheme`, RFC 5753) and
//!   AES-256 key wrap (RFC 3394).
//!
//! The content is encrypted with AES-256-CBC under a fresh random key; both
//! recipients are named by issuer and serial number.

use aws_lc_rs::{
    agreement::{self, EphemeralPrivateKey, UnparsedPublicKey},
    cipher::{AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey},
    key_wrap::{AES_256 as KW_AES_256, AesKek, KeyWrap},
    rand::SystemRandom,
    rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey},
};
use der::{
    Any, Encode, Sequence, TagMode, TagNumber,
    asn1::{BitString, ContextSpecific, ObjectIdentifier as Oid, OctetString, SetOfVec},
};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::{name::Name, serial_number::SerialNumber};
use zeroize::Zeroizing;

use crate::{
    algorithm::KeyKind,
    certificate::Certificate,
    error::KmcError,
    key::SigningKey,
    oid,
    pkcs7::{ContentInfo, ID_DATA},
    random::RandomSource,
};

const ID_ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");
const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");
const AES256_WRAP: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.45");
const RSAES_OAEP: Oid = Oid::new_unwrap("1.2.840.113549.1.1.7");
const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
const ECDH_SHA256_KDF: Oid = Oid::new_unwrap("1.3.132.1.11.1");

#[derive(Sequence)]
struct EnvelopedData {
    version: u8,
    recipient_infos: SetOfVec<Any>,
    encrypted_content_info: EncryptedContentInfo,
}

#[derive(Sequence)]
struct EncryptedContentInfo {
    content_type: Oid,
    content_encryption_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    encrypted_content: OctetString,
}

#[derive(Clone, Sequence)]
struct IssuerAndSerialNumber {
    issuer: Name,
    serial_number: SerialNumber,
}

#[derive(Sequence)]
struct KeyTransRecipientInfo {
    version: u8,
    rid: IssuerAndSerialNumber,
    key_encryption_algorithm: AlgorithmIdentifierOwned,
    encrypted_key: OctetString,
}

#[derive(Sequence)]
struct RsaesOaepParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    hash_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    mask_gen_algorithm: AlgorithmIdentifierOwned,
}

/// `KeyAgreeRecipientInfo`; the originator is `[0] EXPLICIT OriginatorIdentifierOrKey`,
/// here always its `originatorKey [1] IMPLICIT OriginatorPublicKey` alternative.
#[derive(Sequence)]
struct KeyAgreeRecipientInfo {
    version: u8,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    originator: ContextSpecific<OriginatorPublicKey>,
    key_encryption_algorithm: AlgorithmIdentifierOwned,
    recipient_encrypted_keys: Vec<RecipientEncryptedKey>,
}

#[derive(Sequence)]
struct OriginatorPublicKey {
    algorithm: AlgorithmIdentifierOwned,
    public_key: BitString,
}

#[derive(Sequence)]
struct RecipientEncryptedKey {
    rid: IssuerAndSerialNumber,
    encrypted_key: OctetString,
}

/// `ECC-CMS-SharedInfo` (RFC 5753 §7.2), the KDF's shared info.
#[derive(Sequence)]
struct EccCmsSharedInfo {
    key_info: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
    supp_pub_info: OctetString,
}

/// Envelopes `key` for the holder of `recipient` (an RSA or ECDSA certificate);
/// returns the DER of a CMS ContentInfo of type EnvelopedData.
pub(super) fn seal(
    key: &SigningKey,
    recipient: &Certificate,
    random: &dyn RandomSource,
) -> Result<Vec<u8>, KmcError> {
    let public = recipient.public_key().map_err(damaged)?;
    let rid = IssuerAndSerialNumber {
        issuer: recipient.x509().tbs_certificate().issuer().clone(),
        serial_number: recipient.x509().tbs_certificate().serial_number().clone(),
    };
    let mut content_key = Zeroizing::new([0u8; 32]);
    random
        .fill(content_key.as_mut())
        .map_err(|_| KmcError::Random)?;
    let (version, recipient_info) = match public.kind() {
        KeyKind::Rsa { .. } => (
            0,
            key_transport(public.spki_der(), rid, content_key.as_ref())?,
        ),
        KeyKind::EcdsaP256 => (
            2,
            key_agreement(
                &agreement::ECDH_P256,
                &public.key_bytes().map_err(damaged)?,
                rid,
                content_key.as_ref(),
            )?,
        ),
        KeyKind::EcdsaP384 => (
            2,
            key_agreement(
                &agreement::ECDH_P384,
                &public.key_bytes().map_err(damaged)?,
                rid,
                content_key.as_ref(),
            )?,
        ),
        _ => {
            return Err(KmcError::UnsuitableKey(
                "a CMS envelope goes to an RSA or ECDSA signing certificate",
            ));
        }
    };

    let mut iv = [0u8; 16];
    random.fill(&mut iv).map_err(|_| KmcError::Random)?;
    let cipher_key = UnboundCipherKey::new(&AES_256, content_key.as_ref()).map_err(damaged)?;
    let mut content = Zeroizing::new(key.to_pkcs8_der().map_err(damaged)?.to_vec());
    PaddedBlockEncryptingKey::cbc_pkcs7(cipher_key)
        .and_then(|k| k.less_safe_encrypt(&mut *content, EncryptionContext::Iv128(iv.into())))
        .map_err(damaged)?;

    let mut recipient_infos = SetOfVec::new();
    recipient_infos.insert(recipient_info).map_err(damaged)?;
    let enveloped = EnvelopedData {
        version,
        recipient_infos,
        encrypted_content_info: EncryptedContentInfo {
            content_type: ID_DATA,
            content_encryption_algorithm: AlgorithmIdentifierOwned {
                oid: AES256_CBC,
                parameters: Some(
                    Any::encode_from(&OctetString::new(iv).map_err(damaged)?).map_err(damaged)?,
                ),
            },
            encrypted_content: OctetString::new(content.as_slice()).map_err(damaged)?,
        },
    };
    ContentInfo {
        content_type: ID_ENVELOPED_DATA,
        content: Any::encode_from(&enveloped).map_err(damaged)?,
    }
    .to_der()
    .map_err(damaged)
}

/// `ktri`: the content key encrypted with RSAES-OAEP (SHA-256) to the certificate's key.
fn key_transport(
    spki_der: &[u8],
    rid: IssuerAndSerialNumber,
    content_key: &[u8],
) -> Result<Any, KmcError> {
    let public = PublicEncryptingKey::from_der(spki_der)
        .ok()
        .and_then(|key| OaepPublicEncryptingKey::new(key).ok())
        .ok_or(KmcError::UnsuitableKey(
            "the signing certificate's RSA key cannot encrypt",
        ))?;
    let mut out = vec![0u8; public.ciphertext_size()];
    let encrypted = public
        .encrypt(&OAEP_SHA256_MGF1SHA256, content_key, &mut out, None)
        .map_err(damaged)?;
    let sha256 = AlgorithmIdentifierOwned {
        oid: SHA256,
        parameters: None,
    };
    let params = RsaesOaepParams {
        hash_algorithm: sha256.clone(),
        mask_gen_algorithm: AlgorithmIdentifierOwned {
            oid: MGF1,
            parameters: Some(Any::encode_from(&sha256).map_err(damaged)?),
        },
    };
    let info = KeyTransRecipientInfo {
        version: 0,
        rid,
        key_encryption_algorithm: AlgorithmIdentifierOwned {
            oid: RSAES_OAEP,
            parameters: Some(Any::encode_from(&params).map_err(damaged)?),
        },
        encrypted_key: OctetString::new(&*encrypted).map_err(damaged)?,
    };
    Any::encode_from(&info).map_err(damaged)
}

/// `kari` (as `[1] IMPLICIT`): an ephemeral ECDH key, the X9.63 KDF and AES key wrap.
fn key_agreement(
    curve: &'static agreement::Algorithm,
    recipient_point: &[u8],
    rid: IssuerAndSerialNumber,
    content_key: &[u8],
) -> Result<Any, KmcError> {
    let ephemeral = EphemeralPrivateKey::generate(curve, &SystemRandom::new()).map_err(damaged)?;
    let ephemeral_public = ephemeral.compute_public_key().map_err(damaged)?;
    let wrap_algorithm = AlgorithmIdentifierOwned {
        oid: AES256_WRAP,
        parameters: None,
    };
    let shared_info = EccCmsSharedInfo {
        key_info: wrap_algorithm.clone(),
        supp_pub_info: OctetString::new(256u32.to_be_bytes()).map_err(damaged)?,
    }
    .to_der()
    .map_err(damaged)?;
    let kek = agreement::agree_ephemeral(
        ephemeral,
        UnparsedPublicKey::new(curve, recipient_point),
        KmcError::UnsuitableKey("the signing certificate's EC key is not on its curve"),
        |shared| Ok(x963_kdf_sha256(shared, &shared_info)),
    )?;
    let mut wrapped = [0u8; 40];
    let wrapped = AesKek::new(&KW_AES_256, kek.as_ref())
        .and_then(|k| k.wrap(content_key, &mut wrapped))
        .map_err(damaged)?;
    let info = KeyAgreeRecipientInfo {
        version: 3,
        originator: implicit(
            1,
            OriginatorPublicKey {
                algorithm: AlgorithmIdentifierOwned {
                    oid: oid::EC_PUBLIC_KEY,
                    parameters: None,
                },
                public_key: BitString::from_bytes(ephemeral_public.as_ref()).map_err(damaged)?,
            },
        ),
        key_encryption_algorithm: AlgorithmIdentifierOwned {
            oid: ECDH_SHA256_KDF,
            parameters: Some(Any::encode_from(&wrap_algorithm).map_err(damaged)?),
        },
        recipient_encrypted_keys: vec![RecipientEncryptedKey {
            rid,
            encrypted_key: OctetString::new(&*wrapped).map_err(damaged)?,
        }],
    };
    // RecipientInfo's kari alternative is `[1] IMPLICIT KeyAgreeRecipientInfo`.
    Any::encode_from(&implicit(1, info)).map_err(damaged)
}

/// `value` under the context-specific tag `[number] IMPLICIT`.
fn implicit<T>(number: u8, value: T) -> ContextSpecific<T> {
    ContextSpecific {
        tag_number: TagNumber(number.into()),
        tag_mode: TagMode::Implicit,
        value,
    }
}

/// ANSI X9.63 KDF with SHA-256 for one 32-byte output block.
fn x963_kdf_sha256(shared: &[u8], shared_info: &[u8]) -> Zeroizing<[u8; 32]> {
    let digest = Sha256::new()
        .chain_update(shared)
        .chain_update(1u32.to_be_bytes())
        .chain_update(shared_info)
        .finalize();
    Zeroizing::new(digest.into())
}

fn damaged<E>(_: E) -> KmcError {
    KmcError::Damaged
}
