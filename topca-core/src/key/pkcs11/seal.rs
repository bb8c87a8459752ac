//! Secrets sealed by a token: AES-256-GCM (`CKM_AES_GCM`) under an AES key
//! generated in the token (sensitive, not extractable, encrypt and decrypt
//! only), which never leaves it. A sealed secret is `IV (12 bytes) ||
//! ciphertext || tag (16 bytes)`, bound to the key's label as associated data.

use std::sync::Arc;

use cryptoki::{
    mechanism::{Mechanism, aead::GcmParams},
    object::{Attribute, KeyType, ObjectClass, ObjectHandle},
    session::Session,
};
use zeroize::Zeroizing;

use super::{Pkcs11Token, find_one, label_id};
use crate::{error::KeyError, random::RandomSource};

const IV_LEN: usize = 12;
const TAG_BITS: std::ffi::c_ulong = 128;

fn aad(label: &str) -> Vec<u8> {
    format!("TopCA sealed secret\0{label}").into_bytes()
}

/// What one of the token's AES keys is for: it can do that and nothing else.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum AesRole {
    /// Sealing secrets (encrypt and decrypt).
    Seal,
    /// Wrapping secrets (wrap and unwrap).
    Wrap,
}

impl Pkcs11Token {
    /// The AES key labelled `label` for `role`, generated when missing and
    /// `create` (sensitive, never extractable, usable for `role` only).
    pub(super) fn aes_key(
        &self,
        session: &Session,
        label: &str,
        create: bool,
        role: AesRole,
    ) -> Result<ObjectHandle, KeyError> {
        let label_attr = Attribute::Label(label.as_bytes().to_vec());
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            label_attr.clone(),
        ];
        if let Some(key) = find_one(self, session, &template)? {
            return Ok(key);
        }
        if !create {
            let what = match role {
                AesRole::Seal => "the sealing key",
                AesRole::Wrap => "the wrapping key",
            };
            return Err(KeyError::KeyNotFound(format!("object={label} ({what})")));
        }
        let (seal, wrap) = (role == AesRole::Seal, role == AesRole::Wrap);
        session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(seal),
                    Attribute::Decrypt(seal),
                    Attribute::Sign(false),
                    Attribute::Verify(false),
                    Attribute::Wrap(wrap),
                    Attribute::Unwrap(wrap),
                    Attribute::Derive(false),
                    Attribute::ValueLen(32.into()),
                    label_attr,
                    Attribute::Id(label_id(label)),
                ],
            )
            .map_err(|e| self.error(e))
    }

    /// Seals `secret` under the token's AES key `label` (made when missing).
    pub fn seal(
        self: &Arc<Self>,
        label: &str,
        secret: &[u8],
        random: &dyn RandomSource,
    ) -> Result<Vec<u8>, KeyError> {
        self.seal_bound(label, secret, &aad(label), random)
    }

    /// Opens what [`Pkcs11Token::seal`] sealed under `label`.
    pub fn unseal(
        self: &Arc<Self>,
        label: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.unseal_bound(label, sealed, &aad(label))
    }

    /// Seals `secret` under the token's AES key `label` (made when missing),
    /// bound to the associated data `aad`: `IV || ciphertext || tag`.
    pub fn seal_bound(
        self: &Arc<Self>,
        label: &str,
        secret: &[u8],
        aad: &[u8],
        random: &dyn RandomSource,
    ) -> Result<Vec<u8>, KeyError> {
        let mut iv = [0u8; IV_LEN];
        random
            .fill(&mut iv)
            .map_err(|_| KeyError::Pkcs11("the random number generator failed".into()))?;
        let sealed = self.with_session(|session| {
            let key = self.aes_key(session, label, true, AesRole::Seal)?;
            let mut iv = iv;
            let params =
                GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(|e| self.error(e))?;
            session
                .encrypt(&Mechanism::AesGcm(params), key, secret)
                .map_err(|e| self.error(e))
        })?;
        Ok([iv.as_slice(), &sealed].concat())
    }

    /// Opens what [`Pkcs11Token::seal_bound`] sealed under `label` with `aad`.
    pub fn unseal_bound(
        self: &Arc<Self>,
        label: &str,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let (iv, ciphertext) = sealed
            .split_at_checked(IV_LEN)
            .ok_or_else(|| KeyError::Pkcs11("the sealed secret is too short".into()))?;
        self.with_session(|session| {
            let key = self.aes_key(session, label, false, AesRole::Seal)?;
            let mut iv = <[u8; IV_LEN]>::try_from(iv).map_err(|_| KeyError::Malformed("sealed"))?;
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(|e| self.error(e))?;
            session
                .decrypt(&Mechanism::AesGcm(params), key, ciphertext)
                .map(Zeroizing::new)
                .map_err(|e| match self.error(e) {
                    lost @ KeyError::TokenLost(_) => lost,
                    _ => KeyError::Pkcs11(format!(
                        "the secret sealed under {label} does not open: another token or key, or a damaged file"
                    )),
                })
        })
    }
}
