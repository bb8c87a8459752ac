//! A 32-byte secret (the KMC master key) that lives only in the token: wrapped
//! there with `CKM_AES_KEY_WRAP_PAD` (RFC 5649) under an AES wrapping key
//! generated in the token, and unwrapped back into it as two token objects,
//! sensitive and never extractable: an AES key (`CKM_AES_GCM`) and a generic
//! secret (`CKM_SHA256_HMAC`), holding the same 32 bytes. This process keeps
//! only the wrapped form and the objects' handles.
//!
//! Token objects, not session objects: a session object dies with the session
//! that made it, and a pooled session is dropped whenever the token is lost;
//! token objects are found again by label after the module restarts, as CA
//! keys are, and unwrapped again from the wrapped form when they are missing.

use std::sync::{Arc, Mutex};

use cryptoki::{
    mechanism::{Mechanism, aead::GcmParams},
    object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle},
    session::Session,
};
use zeroize::Zeroizing;

use super::{Pkcs11Token, label_id, seal::AesRole};
use crate::error::KeyError;

/// The AES-GCM tag length in bits.
const TAG_BITS: std::ffi::c_ulong = 128;

/// The two objects holding the secret, and the module generation they were
/// found in.
type Handles = (u64, ObjectHandle, ObjectHandle);

/// A 32-byte secret held in a token (see the module documentation).
pub struct TokenSecret {
    token: Arc<Pkcs11Token>,
    wrapping_label: String,
    label: String,
    wrapped: Vec<u8>,
    handles: Mutex<Option<Handles>>,
}

/// How a token keeps an object, read back from its attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protection {
    /// `CKA_SENSITIVE`: its value is never read out in clear.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`: it can be wrapped out of the token.
    pub extractable: bool,
    /// `CKA_TOKEN`: kept in the token, not in a session.
    pub token_object: bool,
}

impl Pkcs11Token {
    /// Wraps the 32-byte `secret` under the token's wrapping key
    /// `wrapping_label` (made when missing): the secret goes in as a
    /// short-lived session object, which is wrapped and destroyed. For setting
    /// up (a new key, or one that was kept another way until now).
    pub fn wrap_secret(
        self: &Arc<Self>,
        wrapping_label: &str,
        secret: &Zeroizing<[u8; 32]>,
    ) -> Result<Vec<u8>, KeyError> {
        self.with_session(|session| {
            let wrapping = self.aes_key(session, wrapping_label, true, AesRole::Wrap)?;
            let value = Zeroizing::new(secret.to_vec());
            let mut template = vec![
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(true),
                Attribute::Value(value.to_vec()),
            ];
            let made = session.create_object(&template);
            if let Some(Attribute::Value(v)) = template.last_mut() {
                zeroize::Zeroize::zeroize(v);
            }
            let object = made.map_err(|e| self.error(e))?;
            let wrapped = session.wrap_key(&Mechanism::AesKeyWrapPad, wrapping, object);
            // The clear copy in the token goes whatever happened.
            let _ = session.destroy_object(object);
            wrapped.map_err(|e| self.error(e))
        })
    }

    /// A new random 32-byte secret generated inside the token
    /// (`CKM_GENERIC_SECRET_KEY_GEN`, sensitive: its value never leaves the
    /// token in clear), wrapped under `wrapping_label` (made when missing) as
    /// [`Self::wrap_secret`] does; the generated session object is destroyed.
    pub fn generate_wrapped_secret(
        self: &Arc<Self>,
        wrapping_label: &str,
    ) -> Result<Vec<u8>, KeyError> {
        self.with_session(|session| {
            let wrapping = self.aes_key(session, wrapping_label, true, AesRole::Wrap)?;
            let template = [
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::ValueLen(32.into()),
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(true),
            ];
            let object = session
                .generate_key(&Mechanism::GenericSecretKeyGen, &template)
                .map_err(|e| self.error(e))?;
            let wrapped = session.wrap_key(&Mechanism::AesKeyWrapPad, wrapping, object);
            let _ = session.destroy_object(object);
            wrapped.map_err(|e| self.error(e))
        })
    }

    /// The secret `wrapped` under `wrapping_label` (see [`Self::wrap_secret`]),
    /// as the token objects `LABEL-aes` and `LABEL-hmac`: found when the token
    /// has them, else unwrapped there now.
    pub fn unwrap_secret(
        self: &Arc<Self>,
        wrapping_label: &str,
        label: &str,
        wrapped: &[u8],
    ) -> Result<TokenSecret, KeyError> {
        let secret = TokenSecret {
            token: self.clone(),
            wrapping_label: wrapping_label.to_owned(),
            label: label.to_owned(),
            wrapped: wrapped.to_vec(),
            handles: Mutex::new(None),
        };
        secret.run(|_, _, _| Ok(()))?;
        Ok(secret)
    }
}

impl TokenSecret {
    fn object_label(&self, kind: KeyType) -> String {
        let suffix = if kind == KeyType::AES { "aes" } else { "hmac" };
        format!("{}-{suffix}", self.label)
    }

    /// The object of `kind` holding the secret, unwrapped when missing.
    fn object(&self, session: &Session, kind: KeyType) -> Result<ObjectHandle, KeyError> {
        let token = &self.token;
        let label = self.object_label(kind);
        // Two processes finding the objects missing at once may both unwrap:
        // the copies hold the same key (the label carries its id, and the
        // check values are verified on what is found), so any one will do.
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(kind),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(|e| token.error(e))?;
        if let Some(object) = found.first() {
            return Ok(*object);
        }
        let wrapping = token.aes_key(session, &self.wrapping_label, false, AesRole::Wrap)?;
        let aes = kind == KeyType::AES;
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(kind),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(aes),
            Attribute::Decrypt(aes),
            Attribute::Sign(!aes),
            Attribute::Verify(!aes),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(label_id(&label)),
        ];
        session
            .unwrap_key(
                &Mechanism::AesKeyWrapPad,
                wrapping,
                &self.wrapped,
                &template,
            )
            .map_err(|e| match token.error(e) {
                lost @ KeyError::TokenLost(_) => lost,
                _ => KeyError::Pkcs11(format!(
                    "the key wrapped under {} does not unwrap: another token or wrapping key, or a damaged file",
                    self.wrapping_label
                )),
            })
    }

    /// The handles of the AES and HMAC objects, found (with `session`) again
    /// after the module restarted: a handle of an ended generation may name
    /// another object now.
    fn handles(&self, session: &Session) -> Result<(ObjectHandle, ObjectHandle), KeyError> {
        let generation = self.token.generation();
        let mut cached = self
            .handles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((g, aes, hmac)) = *cached
            && g == generation
        {
            return Ok((aes, hmac));
        }
        let aes = self.object(session, KeyType::AES)?;
        let hmac = self.object(session, KeyType::GENERIC_SECRET)?;
        *cached = Some((generation, aes, hmac));
        Ok((aes, hmac))
    }

    /// Runs `op` with a pooled session and the two handles (a lost token is
    /// recovered, and the handles found again, once).
    fn run<T>(
        &self,
        op: impl Fn(&Session, ObjectHandle, ObjectHandle) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        self.token.with_session(|session| {
            let (aes, hmac) = self.handles(session)?;
            op(session, aes, hmac)
        })
    }

    /// HMAC-SHA-256 of `data` under the secret, in the token.
    pub fn hmac_sha256(&self, data: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let mac = self.run(|session, _, hmac| {
            session
                .sign(&Mechanism::Sha256Hmac, hmac, data)
                .map(Zeroizing::new)
                .map_err(|e| self.token.error(e))
        })?;
        let out = <[u8; 32]>::try_from(mac.as_slice())
            .map_err(|_| KeyError::Pkcs11("the token's HMAC-SHA-256 is not 32 bytes".into()))?;
        Ok(Zeroizing::new(out))
    }

    /// AES-256-GCM of `plain` under the secret with the 12-byte `iv` and the
    /// associated data `aad`: ciphertext followed by the 16-byte tag.
    pub fn gcm_encrypt(&self, iv: [u8; 12], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.run(|session, aes, _| {
            let mut iv = iv;
            let params =
                GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(|e| self.token.error(e))?;
            session
                .encrypt(&Mechanism::AesGcm(params), aes, plain)
                .map_err(|e| self.token.error(e))
        })
    }

    /// Opens what [`Self::gcm_encrypt`] made; `KeyError::Pkcs11` when it
    /// does not open (another key, another `aad`, a changed byte).
    pub fn gcm_decrypt(
        &self,
        iv: [u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.run(|session, aes, _| {
            let mut iv = iv;
            let params =
                GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(|e| self.token.error(e))?;
            session
                .decrypt(&Mechanism::AesGcm(params), aes, sealed)
                .map(Zeroizing::new)
                .map_err(|e| match self.token.error(e) {
                    lost @ KeyError::TokenLost(_) => lost,
                    _ => KeyError::Pkcs11("the sealed data does not open".into()),
                })
        })
    }

    /// How the token keeps the AES and the HMAC object, read back from it.
    pub fn protection(&self) -> Result<[Protection; 2], KeyError> {
        self.run(|session, aes, hmac| {
            let read = |object| -> Result<Protection, KeyError> {
                let attributes = session
                    .get_attributes(
                        object,
                        &[
                            AttributeType::Sensitive,
                            AttributeType::Extractable,
                            AttributeType::Token,
                        ],
                    )
                    .map_err(|e| self.token.error(e))?;
                let flag = |wanted: AttributeType| {
                    attributes.iter().any(|a| match (a, wanted) {
                        (Attribute::Sensitive(v), AttributeType::Sensitive)
                        | (Attribute::Extractable(v), AttributeType::Extractable)
                        | (Attribute::Token(v), AttributeType::Token) => *v,
                        _ => false,
                    })
                };
                Ok(Protection {
                    sensitive: flag(AttributeType::Sensitive),
                    extractable: flag(AttributeType::Extractable),
                    token_object: flag(AttributeType::Token),
                })
            };
            Ok([read(aes)?, read(hmac)?])
        })
    }

    /// The token holding the secret.
    pub fn token(&self) -> &Arc<Pkcs11Token> {
        &self.token
    }
}
