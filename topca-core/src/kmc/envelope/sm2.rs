//! The SM2 enveloped key of GM/T 0009 §7.4 / GM/T 0010 (what GM/T 0016 devices
//! import): the KMC's SM2 encryption key, protected for the holder's SM2 signing key.
//!
//! ```text
//! SM2EnvelopedKey ::= SEQUENCE {
//!   symAlgID               AlgorithmIdentifier,  -- SM4-ECB (1.2.156.10197.1.104.1)
//!   symEncryptedKey        SM2Cipher,            -- the SM4 key, SM2-encrypted to the signing key
//!   sm2PublicKey           BIT STRING,           -- 04 || X || Y of the encryption key
//!   sm2EncryptedPrivateKey BIT STRING }          -- d (32 bytes), SM4-ECB encrypted
//! SM2Cipher ::= SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING (SM3), cipherText OCTET STRING }
//! ```
//! The SM2 ciphertext is GM/T 0003.4 public-key encryption with SM3, C1C3C2 order
//! in the ASN.1 form, as OpenSSL 3 `pkeyutl -decrypt` reads it.

use ::sm2::{
    SecretKey,
    elliptic_curve::sec1::ToSec1Point,
    pkcs8::{DecodePrivateKey, EncodePrivateKey},
    pke::{DecryptingKey, EncryptingKey},
};
use der::{
    Decode, Encode, Sequence,
    asn1::{BitString, ObjectIdentifier as Oid},
};
use sm4::{
    Sm4,
    cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit},
};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::RandomAdapter;
use crate::{
    algorithm::KeyKind,
    error::KmcError,
    key::{PublicKey, SigningKey},
    random::RandomSource,
};

/// SM4 in ECB mode (GM/T 0006).
const SM4_ECB: Oid = Oid::new_unwrap("1.2.156.10197.1.104.1");

#[derive(Sequence)]
struct Sm2EnvelopedKey {
    sym_alg_id: AlgorithmIdentifierOwned,
    sym_encrypted_key: der::Any,
    sm2_public_key: BitString,
    sm2_encrypted_private_key: BitString,
}

/// Envelopes the SM2 `key` for the SM2 public key `recipient` (the holder's
/// signing key); returns the DER of an `SM2EnvelopedKey`.
pub(super) fn seal(
    key: &SigningKey,
    recipient: &PublicKey,
    random: &dyn RandomSource,
) -> Result<Vec<u8>, KmcError> {
    if key.public_key().kind() != KeyKind::Sm2 || recipient.kind() != KeyKind::Sm2 {
        return Err(KmcError::UnsuitableKey(
            "an SM2 enveloped key carries an SM2 key to an SM2 signing key",
        ));
    }
    let secret = sm2_secret(key)?;
    let mut sm4_key = Zeroizing::new([0u8; 16]);
    random
        .fill(sm4_key.as_mut())
        .map_err(|_| KmcError::Random)?;
    let encrypting = EncryptingKey::from_sec1_bytes(&recipient.key_bytes().map_err(damaged)?)
        .map_err(|_| KmcError::UnsuitableKey("the signing key is not a valid SM2 public key"))?;
    let sym_encrypted_key = encrypting
        .encrypt_der(&mut RandomAdapter(random), sm4_key.as_ref())
        .map_err(|_| KmcError::Random)?;

    let mut private = Zeroizing::new(<[u8; 32]>::from(secret.to_bytes()));
    sm4_ecb(&sm4_key, &mut private, Direction::Encrypt);
    let public = secret.public_key().to_sec1_point(false);
    Sm2EnvelopedKey {
        sym_alg_id: AlgorithmIdentifierOwned {
            oid: SM4_ECB,
            parameters: None,
        },
        sym_encrypted_key: der::Any::from_der(&sym_encrypted_key).map_err(damaged)?,
        sm2_public_key: BitString::from_bytes(public.as_bytes()).map_err(damaged)?,
        sm2_encrypted_private_key: BitString::from_bytes(private.as_ref()).map_err(damaged)?,
    }
    .to_der()
    .map_err(damaged)
}

/// Opens an `SM2EnvelopedKey` with the holder's SM2 signing key: what a client or
/// a token does on import. Checks that the key matches the public key it carries.
pub(super) fn open(der: &[u8], recipient: &SigningKey) -> Result<SigningKey, KmcError> {
    let envelope = Sm2EnvelopedKey::from_der(der).map_err(damaged)?;
    if envelope.sym_alg_id.oid != SM4_ECB {
        return Err(KmcError::Damaged);
    }
    let decrypting = DecryptingKey::new(sm2_secret(recipient)?);
    let sm4_key = Zeroizing::new(
        decrypting
            .decrypt_der(&envelope.sym_encrypted_key.to_der().map_err(damaged)?)
            .map_err(damaged)?,
    );
    let sm4_key: [u8; 16] = sm4_key.as_slice().try_into().map_err(damaged)?;
    let mut private = Zeroizing::new(
        <[u8; 32]>::try_from(envelope.sm2_encrypted_private_key.raw_bytes()).map_err(damaged)?,
    );
    sm4_ecb(&sm4_key, &mut private, Direction::Decrypt);
    let secret = SecretKey::from_slice(private.as_ref()).map_err(damaged)?;
    if secret.public_key().to_sec1_point(false).as_bytes() != envelope.sm2_public_key.raw_bytes() {
        return Err(KmcError::Damaged);
    }
    let pkcs8 = secret.to_pkcs8_der().map_err(damaged)?;
    SigningKey::from_pkcs8_der(pkcs8.as_bytes()).map_err(damaged)
}

enum Direction {
    Encrypt,
    Decrypt,
}

/// SM4-ECB over the two blocks of a 32-byte private key (no padding needed).
fn sm4_ecb(key: &[u8; 16], data: &mut [u8; 32], direction: Direction) {
    let cipher = Sm4::new(&Array::from(*key));
    for block in data.as_chunks_mut::<16>().0 {
        let mut buffer = Array::from(*block);
        match direction {
            Direction::Encrypt => cipher.encrypt_block(&mut buffer),
            Direction::Decrypt => cipher.decrypt_block(&mut buffer),
        }
        block.copy_from_slice(&buffer);
        zeroize::Zeroize::zeroize(buffer.as_mut_slice());
    }
}

/// The SM2 secret scalar of `key`, taken through its PKCS#8 form.
fn sm2_secret(key: &SigningKey) -> Result<SecretKey, KmcError> {
    let pkcs8 = key.to_pkcs8_der().map_err(damaged)?;
    SecretKey::from_pkcs8_der(&pkcs8)
        .map_err(|_| KmcError::UnsuitableKey("the key is not an SM2 key"))
}

fn damaged<E>(_: E) -> KmcError {
    KmcError::Damaged
}
