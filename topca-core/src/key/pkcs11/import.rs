//! Moving a software key into a token: its private half is created there
//! sensitive and not extractable, with its public half beside it; the token's
//! own attributes are then read back, and a key it does not keep sensitive is
//! destroyed again and refused ([`KeyError::NotSensitive`]).

use std::sync::Arc;

use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use der::{
    Decode, Encode,
    asn1::{BitStringRef, ObjectIdentifier, OctetStringRef, UintRef},
};
use pkcs8::PrivateKeyInfoRef;
use zeroize::Zeroize;

use super::{Pkcs11Token, find_one};
use crate::{error::KeyError, key::SigningKey, oid};

/// RSAPrivateKey (RFC 8017 A.1.2), two primes.
#[derive(der::Sequence)]
struct RsaPrivateKey<'a> {
    version: u8,
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
    private_exponent: UintRef<'a>,
    prime1: UintRef<'a>,
    prime2: UintRef<'a>,
    exponent1: UintRef<'a>,
    exponent2: UintRef<'a>,
    coefficient: UintRef<'a>,
}

/// ECPrivateKey (RFC 5915).
#[derive(der::Sequence)]
struct EcPrivateKey<'a> {
    version: u8,
    private_key: &'a OctetStringRef,
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    parameters: Option<ObjectIdentifier>,
    #[asn1(context_specific = "1", optional = "true", tag_mode = "EXPLICIT")]
    public_key: Option<BitStringRef<'a>>,
}

fn malformed(_: der::Error) -> KeyError {
    KeyError::Malformed("private")
}

/// `point` as the DER OCTET STRING that `CKA_EC_POINT` holds.
fn ec_point(point: &[u8]) -> Result<Vec<u8>, KeyError> {
    OctetStringRef::new(point)
        .and_then(|o| o.to_der())
        .map_err(malformed)
}

/// The key type and the private and public attributes of `key`'s material.
fn material(key: &SigningKey) -> Result<(KeyType, Vec<Attribute>, Vec<Attribute>), KeyError> {
    let pkcs8 = key.to_pkcs8_der()?;
    let info = PrivateKeyInfoRef::from_der(&pkcs8).map_err(|_| KeyError::Pkcs8)?;
    let private = info.private_key.as_bytes();
    let algorithm = info.algorithm.oid;
    let public = key.public_key().key_bytes()?;
    if algorithm == oid::RSA_ENCRYPTION {
        let rsa = RsaPrivateKey::from_der(private).map_err(malformed)?;
        let bytes = |u: UintRef<'_>| u.as_bytes().to_vec();
        return Ok((
            KeyType::RSA,
            vec![
                Attribute::Modulus(bytes(rsa.modulus)),
                Attribute::PublicExponent(bytes(rsa.public_exponent)),
                Attribute::PrivateExponent(bytes(rsa.private_exponent)),
                Attribute::Prime1(bytes(rsa.prime1)),
                Attribute::Prime2(bytes(rsa.prime2)),
                Attribute::Exponent1(bytes(rsa.exponent1)),
                Attribute::Exponent2(bytes(rsa.exponent2)),
                Attribute::Coefficient(bytes(rsa.coefficient)),
            ],
            vec![
                Attribute::Modulus(bytes(rsa.modulus)),
                Attribute::PublicExponent(bytes(rsa.public_exponent)),
            ],
        ));
    }
    if algorithm == oid::ED25519 {
        let seed = <&OctetStringRef>::from_der(private).map_err(malformed)?;
        let params = oid::ED25519.to_der().map_err(malformed)?;
        return Ok((
            KeyType::EC_EDWARDS,
            vec![
                Attribute::EcParams(params.clone()),
                Attribute::Value(seed.as_bytes().to_vec()),
            ],
            vec![
                Attribute::EcParams(params),
                Attribute::EcPoint(ec_point(&public)?),
            ],
        ));
    }
    let curve = info.algorithm.parameters_oid().ok();
    match curve {
        Some(c)
            if algorithm == oid::EC_PUBLIC_KEY && (c == oid::SECP256R1 || c == oid::SECP384R1) =>
        {
            let ec = EcPrivateKey::from_der(private).map_err(malformed)?;
            let params = c.to_der().map_err(malformed)?;
            Ok((
                KeyType::EC,
                vec![
                    Attribute::EcParams(params.clone()),
                    Attribute::Value(ec.private_key.as_bytes().to_vec()),
                ],
                vec![
                    Attribute::EcParams(params),
                    Attribute::EcPoint(ec_point(&public)?),
                ],
            ))
        }
        _ => Err(KeyError::UnsupportedAlgorithm(
            "only RSA, P-256, P-384 and Ed25519 keys are moved into a token".into(),
        )),
    }
}

fn wipe(attributes: &mut [Attribute]) {
    for attribute in attributes {
        if let Attribute::Value(v)
        | Attribute::PrivateExponent(v)
        | Attribute::Prime1(v)
        | Attribute::Prime2(v)
        | Attribute::Exponent1(v)
        | Attribute::Exponent2(v)
        | Attribute::Coefficient(v) = attribute
        {
            v.zeroize();
        }
    }
}

impl Pkcs11Token {
    /// Creates `key` in the token under `label`, sensitive and not
    /// extractable, and returns it as a token key once it signs like the
    /// original. Refuses a label already in use, and a key the token does not
    /// keep sensitive (destroyed again).
    pub fn import(self: &Arc<Self>, label: &str, key: &SigningKey) -> Result<SigningKey, KeyError> {
        let (key_type, mut private, public) = material(key)?;
        let label_attr = Attribute::Label(label.as_bytes().to_vec());
        let id = super::label_id(label);
        private.extend([
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(key_type),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            label_attr.clone(),
            Attribute::Id(id.clone()),
        ]);
        let mut public = public;
        public.extend([
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(key_type),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            label_attr.clone(),
            Attribute::Id(id),
        ]);
        let created = self.with_session(|session| {
            if find_one(
                self,
                session,
                &[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    label_attr.clone(),
                ],
            )?
            .is_some()
            {
                return Err(KeyError::Pkcs11(format!(
                    "the token already holds a key labelled \"{label}\""
                )));
            }
            let private = session.create_object(&private).map_err(|e| self.error(e))?;
            let public = session.create_object(&public).map_err(|e| self.error(e))?;
            Ok([private, public])
        });
        wipe(&mut private);
        let created = created?;
        let refuse = |e: KeyError| {
            self.destroy(&created);
            e
        };
        let imported = self.key(&self.uri().with_object(label)).map_err(refuse)?;
        let probe = b"TopCA: the key moved into the token";
        let signature = imported.sign_bytes(probe).map_err(refuse)?;
        key.public_key()
            .verify(key.signature_algorithm(), probe, signature.as_bytes())
            .map_err(|_| refuse(KeyError::CertificateKeyMismatch))?;
        Ok(imported)
    }

    fn destroy(&self, objects: &[ObjectHandle]) {
        // Best effort: the refusal is what the caller needs to see.
        let _ = self.with_session(|session| {
            for object in objects {
                let _ = session.destroy_object(*object);
            }
            Ok(())
        });
    }
}
