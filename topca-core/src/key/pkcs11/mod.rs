//! Keys held in a PKCS#11 token (an HSM, or SoftHSM2 for tests): generated in
//! the token (sensitive, never extractable) or found there by label or id, and
//! used through [`SigningKey::Pkcs11`](super::SigningKey) like any other key.
//!
//! Mechanisms: `CKM_SHA256_RSA_PKCS` (RSA), `CKM_ECDSA` over a SHA-256 (P-256)
//! or SHA-384 (P-384) digest computed here, the raw `r || s` re-encoded as DER,
//! `CKM_EDDSA` (Ed25519), and for SM2 a vendor mechanism given by number
//! ([`Pkcs11Config::sm2_mechanism`]), since PKCS#11 defines none.

mod import;
mod seal;
mod token;
mod uri;
mod wrapped;

use std::sync::{Arc, Mutex};

use cryptoki::{
    mechanism::{
        Mechanism, MechanismType,
        eddsa::{EddsaParams, EddsaSignatureScheme},
        vendor_defined::VendorDefinedMechanism,
    },
    object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle},
    session::Session,
};
use der::{
    Decode, Encode,
    asn1::{Any, BitString, Null, ObjectIdentifier, OctetStringRef, UintRef},
};
use sha2::{Digest, Sha256, Sha384};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

pub use token::{DEFAULT_MAX_SESSIONS, Pkcs11Config, Pkcs11Token};
pub use uri::Pkcs11Uri;
pub use wrapped::{Protection, TokenSecret};

use super::{PublicKey, SigningKey, public::RsaPublicKeyRef};
use crate::{
    algorithm::{KeyAlgorithm, SignatureAlgorithm},
    error::KeyError,
    oid,
};

/// What a token key signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rsa,
    P256,
    P384,
    Ed25519,
    Sm2,
}

/// ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }.
#[derive(der::Sequence)]
struct EcdsaSignature<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// How a key is named in its token: `CKA_LABEL` and/or `CKA_ID`.
#[derive(Clone, Debug)]
struct KeyName {
    label: Option<String>,
    id: Option<Vec<u8>>,
}

impl KeyName {
    fn template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut template = vec![Attribute::Class(class)];
        if let Some(label) = &self.label {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &self.id {
            template.push(Attribute::Id(id.clone()));
        }
        template
    }

    fn uri(&self, token: &Pkcs11Token) -> Pkcs11Uri {
        let mut uri = token.uri().clone();
        uri.object.clone_from(&self.label);
        uri.id.clone_from(&self.id);
        uri
    }
}

/// The private key's handle and the token generation it was found in: found
/// again after the token's sessions were recovered.
#[derive(Default)]
struct HandleCache(Mutex<Option<(u64, ObjectHandle)>>);

impl HandleCache {
    fn get(
        &self,
        token: &Pkcs11Token,
        session: &Session,
        name: &KeyName,
    ) -> Result<ObjectHandle, KeyError> {
        let generation = token.generation();
        let mut cached = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((g, handle)) = *cached
            && g == generation
        {
            return Ok(handle);
        }
        let handle = find_one(token, session, &name.template(ObjectClass::PRIVATE_KEY))?
            .ok_or_else(|| KeyError::KeyNotFound(name.uri(token).key_name()))?;
        *cached = Some((generation, handle));
        Ok(handle)
    }
}

/// A private key in a token.
pub struct Pkcs11Key {
    token: Arc<Pkcs11Token>,
    name: KeyName,
    kind: Kind,
    public: PublicKey,
    handle: HandleCache,
}

impl Pkcs11Key {
    pub(super) fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(super) fn signature_algorithm(&self) -> SignatureAlgorithm {
        match self.kind {
            Kind::Rsa => SignatureAlgorithm::RsaPkcs1Sha256,
            Kind::P256 => SignatureAlgorithm::EcdsaSha256,
            Kind::P384 => SignatureAlgorithm::EcdsaSha384,
            Kind::Ed25519 => SignatureAlgorithm::Ed25519,
            Kind::Sm2 => SignatureAlgorithm::Sm2WithSm3,
        }
    }

    /// The URI naming this key in its token.
    pub fn uri(&self) -> Pkcs11Uri {
        self.name.uri(&self.token)
    }

    /// The token holding the key.
    pub fn token(&self) -> &Arc<Pkcs11Token> {
        &self.token
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let sm2_mechanism = self.token.sm2_mechanism.map(vendor_mechanism).transpose()?;
        let (mechanism, input) = match self.kind {
            Kind::Rsa => (Mechanism::Sha256RsaPkcs, message.to_vec()),
            Kind::P256 => (Mechanism::Ecdsa, Sha256::digest(message).to_vec()),
            Kind::P384 => (Mechanism::Ecdsa, Sha384::digest(message).to_vec()),
            Kind::Ed25519 => (
                Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                message.to_vec(),
            ),
            Kind::Sm2 => match sm2_mechanism {
                Some(m) => (
                    Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(m, None)),
                    message.to_vec(),
                ),
                None => return Err(no_sm2()),
            },
        };
        let raw = self.token.with_session(|session| {
            let handle = self.handle.get(&self.token, session, &self.name)?;
            session
                .sign(&mechanism, handle, &input)
                .map_err(|e| self.token.error(e))
        })?;
        match self.kind {
            Kind::Rsa | Kind::Ed25519 => Ok(raw),
            Kind::P256 | Kind::P384 | Kind::Sm2 => raw_to_der(&raw),
        }
    }
}

fn no_sm2() -> KeyError {
    KeyError::UnsupportedAlgorithm(
        "SM2 in a PKCS#11 token needs the vendor's mechanism number (TOPCA_PKCS11_SM2_MECHANISM); SoftHSM2 has no SM2".into(),
    )
}

fn vendor_mechanism(number: u64) -> Result<MechanismType, KeyError> {
    std::ffi::c_ulong::try_from(number)
        .ok()
        .and_then(|n| MechanismType::new_vendor_defined(n).ok())
        .ok_or_else(|| {
            KeyError::Pkcs11(format!(
                "{number:#x} is not a vendor-defined PKCS#11 mechanism (0x80000000 and up)"
            ))
        })
}

/// `r || s` (two equal halves) as a DER ECDSA-Sig-Value.
fn raw_to_der(raw: &[u8]) -> Result<Vec<u8>, KeyError> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(KeyError::Signing);
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    EcdsaSignature {
        r: UintRef::new(r).map_err(|_| KeyError::Signing)?,
        s: UintRef::new(s).map_err(|_| KeyError::Signing)?,
    }
    .to_der()
    .map_err(|_| KeyError::Signing)
}

fn find_one(
    token: &Pkcs11Token,
    session: &Session,
    template: &[Attribute],
) -> Result<Option<ObjectHandle>, KeyError> {
    let found = session.find_objects(template).map_err(|e| token.error(e))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(KeyError::Pkcs11(
            "the URI names more than one key in the token; add id= or a unique object=".into(),
        )),
    }
}

fn spki(
    algorithm: ObjectIdentifier,
    parameters: Option<Any>,
    key: &[u8],
) -> Result<PublicKey, KeyError> {
    let malformed = |_| KeyError::Malformed("token public");
    let info = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: algorithm,
            parameters,
        },
        subject_public_key: BitString::from_bytes(key).map_err(malformed)?,
    };
    PublicKey::from_spki_der(&info.to_der().map_err(malformed)?)
}

/// The EC point of `CKA_EC_POINT`: DER OCTET STRING as the standard says, or
/// raw as some tokens give it.
fn ec_point(value: &[u8]) -> &[u8] {
    <&OctetStringRef>::from_der(value)
        .map(OctetStringRef::as_bytes)
        .unwrap_or(value)
}

fn attribute_bytes(attributes: &[Attribute], wanted: AttributeType) -> Option<&[u8]> {
    attributes.iter().find_map(|a| match (a, wanted) {
        (Attribute::Modulus(v), AttributeType::Modulus)
        | (Attribute::PublicExponent(v), AttributeType::PublicExponent)
        | (Attribute::EcParams(v), AttributeType::EcParams)
        | (Attribute::EcPoint(v), AttributeType::EcPoint) => Some(v.as_slice()),
        _ => None,
    })
}

/// `CKA_ID` of a key TopCA puts in a token: the first 16 bytes of
/// SHA-256(label), the same for both halves so tools can pair them.
fn label_id(label: &str) -> Vec<u8> {
    Sha256::digest(label.as_bytes())
        .get(..16)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

fn curve_der(curve: ObjectIdentifier) -> Result<Vec<u8>, KeyError> {
    curve.to_der().map_err(|_| KeyError::Generation)
}

impl Pkcs11Token {
    /// The private key the URI names (`object=` and/or `id=`) with its public
    /// half. Refused unless the token marks it sensitive and not extractable.
    pub fn key(self: &Arc<Self>, uri: &Pkcs11Uri) -> Result<SigningKey, KeyError> {
        if uri.object.is_none() && uri.id.is_none() {
            return Err(KeyError::Pkcs11Uri(
                "name the key with object= (its label) or id=".into(),
            ));
        }
        let name = KeyName {
            label: uri.object.clone(),
            id: uri.id.clone(),
        };
        let handle = HandleCache::default();
        let (kind, public) = self.with_session(|session| {
            let private = handle.get(self, session, &name)?;
            let flags = session
                .get_attributes(
                    private,
                    &[
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::KeyType,
                    ],
                )
                .map_err(|e| self.error(e))?;
            let mut sensitive = false;
            let mut extractable = true;
            let mut key_type = None;
            for attribute in &flags {
                match attribute {
                    Attribute::Sensitive(v) => sensitive = *v,
                    Attribute::Extractable(v) => extractable = *v,
                    Attribute::KeyType(t) => key_type = Some(*t),
                    _ => {}
                }
            }
            if !sensitive || extractable {
                return Err(KeyError::NotSensitive);
            }
            let public_handle = find_one(self, session, &name.template(ObjectClass::PUBLIC_KEY))?
                .ok_or_else(|| {
                KeyError::KeyNotFound(format!("{} (its public key)", uri.key_name()))
            })?;
            let read = |types: &[AttributeType]| {
                session
                    .get_attributes(public_handle, types)
                    .map_err(|e| self.error(e))
            };
            match key_type {
                Some(t) if t == KeyType::RSA => {
                    let values = read(&[AttributeType::Modulus, AttributeType::PublicExponent])?;
                    let modulus = attribute_bytes(&values, AttributeType::Modulus);
                    let exponent = attribute_bytes(&values, AttributeType::PublicExponent);
                    let (Some(modulus), Some(exponent)) = (modulus, exponent) else {
                        return Err(KeyError::Malformed("token RSA public"));
                    };
                    let rsa = RsaPublicKeyRef {
                        modulus: UintRef::new(modulus)
                            .map_err(|_| KeyError::Malformed("token RSA public"))?,
                        public_exponent: UintRef::new(exponent)
                            .map_err(|_| KeyError::Malformed("token RSA public"))?,
                    }
                    .to_der()
                    .map_err(|_| KeyError::Malformed("token RSA public"))?;
                    let null = Any::encode_from(&Null)
                        .map_err(|_| KeyError::Malformed("token RSA public"))?;
                    Ok((Kind::Rsa, spki(oid::RSA_ENCRYPTION, Some(null), &rsa)?))
                }
                Some(t) if t == KeyType::EC || t == KeyType::EC_EDWARDS => {
                    let values = read(&[AttributeType::EcParams, AttributeType::EcPoint])?;
                    let params = attribute_bytes(&values, AttributeType::EcParams)
                        .and_then(|p| ObjectIdentifier::from_der(p).ok());
                    let point = attribute_bytes(&values, AttributeType::EcPoint)
                        .map(ec_point)
                        .ok_or(KeyError::Malformed("token EC public"))?;
                    let kind = match params {
                        Some(c) if c == oid::SECP256R1 => Kind::P256,
                        Some(c) if c == oid::SECP384R1 => Kind::P384,
                        Some(c) if c == oid::SM2_CURVE => Kind::Sm2,
                        Some(c) if c == oid::ED25519 => Kind::Ed25519,
                        // "edwards25519" as a PrintableString, as some tokens write it.
                        None if t == KeyType::EC_EDWARDS => Kind::Ed25519,
                        other => {
                            return Err(KeyError::UnsupportedAlgorithm(format!(
                                "token key on curve {}",
                                other
                                    .map(|c| c.to_string())
                                    .unwrap_or_else(|| "(unnamed)".into())
                            )));
                        }
                    };
                    let public = match kind {
                        Kind::Ed25519 => spki(oid::ED25519, None, point)?,
                        Kind::Sm2 => spki(
                            oid::EC_PUBLIC_KEY,
                            Some(
                                Any::encode_from(&oid::SM2_CURVE)
                                    .map_err(|_| KeyError::Malformed("token EC public"))?,
                            ),
                            point,
                        )?,
                        _ => {
                            let curve = if kind == Kind::P256 {
                                oid::SECP256R1
                            } else {
                                oid::SECP384R1
                            };
                            spki(
                                oid::EC_PUBLIC_KEY,
                                Some(
                                    Any::encode_from(&curve)
                                        .map_err(|_| KeyError::Malformed("token EC public"))?,
                                ),
                                point,
                            )?
                        }
                    };
                    Ok((kind, public))
                }
                _ => Err(KeyError::UnsupportedAlgorithm("token key type".into())),
            }
        })?;
        if kind == Kind::Sm2 && self.sm2_mechanism.is_none() {
            return Err(no_sm2());
        }
        Ok(SigningKey::Pkcs11(Pkcs11Key {
            token: Arc::clone(self),
            name,
            kind,
            public,
            handle,
        }))
    }

    /// Generates a key pair labelled `label` in the token: the private half
    /// sensitive, never extractable, usable only to sign once logged in.
    /// Refuses a label already used by a private key.
    pub fn generate(
        self: &Arc<Self>,
        label: &str,
        algorithm: KeyAlgorithm,
    ) -> Result<SigningKey, KeyError> {
        let uri = self.uri().with_object(label);
        let label_attr = Attribute::Label(label.as_bytes().to_vec());
        let id = label_id(label);
        let (mechanism, mut public_template) = match algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let bits: u64 = match algorithm {
                    KeyAlgorithm::Rsa2048 => 2048,
                    KeyAlgorithm::Rsa3072 => 3072,
                    _ => 4096,
                };
                let bits = std::ffi::c_ulong::try_from(bits).map_err(|_| KeyError::Generation)?;
                (
                    Mechanism::RsaPkcsKeyPairGen,
                    vec![
                        Attribute::ModulusBits(bits.into()),
                        Attribute::PublicExponent(vec![1, 0, 1]),
                    ],
                )
            }
            KeyAlgorithm::EcdsaP256 => (
                Mechanism::EccKeyPairGen,
                vec![Attribute::EcParams(curve_der(oid::SECP256R1)?)],
            ),
            KeyAlgorithm::EcdsaP384 => (
                Mechanism::EccKeyPairGen,
                vec![Attribute::EcParams(curve_der(oid::SECP384R1)?)],
            ),
            KeyAlgorithm::Ed25519 => (
                Mechanism::EccEdwardsKeyPairGen,
                vec![Attribute::EcParams(curve_der(oid::ED25519)?)],
            ),
            KeyAlgorithm::Sm2 => {
                return Err(KeyError::UnsupportedAlgorithm(
                    "SM2 keys are generated with the token vendor's tool, then named by URI; SoftHSM2 has no SM2".into(),
                ));
            }
        };
        public_template.extend([
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
            label_attr.clone(),
            Attribute::Id(id.clone()),
        ]);
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            // A CA key signs and does nothing else.
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            label_attr.clone(),
            Attribute::Id(id),
        ];
        self.with_session(|session| {
            let taken = find_one(
                self,
                session,
                &[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    label_attr.clone(),
                ],
            )?;
            if taken.is_some() {
                return Err(KeyError::Pkcs11(format!(
                    "the token already holds a key labelled \"{label}\""
                )));
            }
            session
                .generate_key_pair(&mechanism, &public_template, &private_template)
                .map_err(|e| self.error(e))
        })?;
        self.key(&uri)
    }

    /// The key labelled `label` if the token holds one, else a new one
    /// generated with `algorithm`; `true` when it was generated.
    pub fn key_or_generate(
        self: &Arc<Self>,
        label: &str,
        algorithm: KeyAlgorithm,
    ) -> Result<(SigningKey, bool), KeyError> {
        match self.key(&self.uri().with_object(label)) {
            Ok(key) => Ok((key, false)),
            Err(KeyError::KeyNotFound(_)) => Ok((self.generate(label, algorithm)?, true)),
            Err(e) => Err(e),
        }
    }
}
