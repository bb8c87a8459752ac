//! Opening the KMC's `SM2EnvelopedKey` (GM/T 0009 §7.4 / GM/T 0010), as the
//! KMC of `topca-core` writes it, with the holder's SM2 signing key.
//!
//! ```text
//! SM2EnvelopedKey ::= SEQUENCE {
//!   symAlgID               AlgorithmIdentifier,  -- SM4-ECB (1.2.156.10197.1.104.1)
//!   symEncryptedKey        SM2Cipher,            -- the SM4 key, SM2-encrypted to the signing key
//!   sm2PublicKey           BIT STRING,           -- 04 || X || Y of the encryption key
//!   sm2EncryptedPrivateKey BIT STRING }          -- d (32 bytes), SM4-ECB encrypted
//! SM2Cipher ::= SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING, cipherText OCTET STRING }
//! ```
//! The SM2 ciphertext is GM/T 0003.4 public-key encryption with SM3 (C1C3C2).

use der::{
    Decode, Encode, Sequence,
    asn1::{BitString, ObjectIdentifier as Oid},
};
use sm2::{SecretKey, elliptic_curve::sec1::ToSec1Point, pke::DecryptingKey};
use sm4::{
    Sm4,
    cipher::{Array, BlockCipherDecrypt, KeyInit},
};
use spki::AlgorithmIdentifierOwned;
use zeroize::{Zeroize, Zeroizing};

use crate::error::Error;

/// SM4 in ECB mode (GM/T 0006).
const SM4_ECB: Oid = Oid::new_unwrap("1.2.156.10197.1.104.1");

/// The envelope as read from DER.
#[derive(Sequence)]
struct Sm2EnvelopedKey {
    sym_alg_id: AlgorithmIdentifierOwned,
    sym_encrypted_key: der::Any,
    sm2_public_key: BitString,
    sm2_encrypted_private_key: BitString,
}

/// Opens `der` with the holder's signing secret; the encryption key's secret,
/// checked against the public key the envelope carries.
pub(crate) fn open(der: &[u8], signing_secret: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, Error> {
    let envelope = Sm2EnvelopedKey::from_der(der).map_err(|_| Error::Envelope)?;
    if envelope.sym_alg_id.oid != SM4_ECB {
        return Err(Error::Envelope);
    }
    let signing = SecretKey::from_slice(signing_secret).map_err(|_| Error::Sm2)?;
    let cipher = envelope
        .sym_encrypted_key
        .to_der()
        .map_err(|_| Error::Envelope)?;
    let sm4_key = Zeroizing::new(
        DecryptingKey::new(signing)
            .decrypt_der(&cipher)
            .map_err(|_| Error::Envelope)?,
    );
    let sm4_key = <[u8; 16]>::try_from(sm4_key.as_slice()).map_err(|_| Error::Envelope)?;
    let mut secret = Zeroizing::new(
        <[u8; 32]>::try_from(envelope.sm2_encrypted_private_key.raw_bytes())
            .map_err(|_| Error::Envelope)?,
    );
    let sm4 = Sm4::new(&Array::from(sm4_key));
    for block in secret.as_chunks_mut::<16>().0 {
        let mut buffer = Array::from(*block);
        sm4.decrypt_block(&mut buffer);
        block.copy_from_slice(&buffer);
        buffer.as_mut_slice().zeroize();
    }
    let key = SecretKey::from_slice(secret.as_ref()).map_err(|_| Error::Envelope)?;
    if key.public_key().to_sec1_point(false).as_bytes() != envelope.sm2_public_key.raw_bytes() {
        return Err(Error::Envelope);
    }
    Ok(secret)
}
