//! The KMC master key held in a PKCS#11 token: wrapped there once when it is
//! set up (`CKM_AES_KEY_WRAP_PAD` under the token's AES key `LABEL-wrap`), and
//! from then on unwrapped into the token (as `LABEL-master-ID-aes` and
//! `LABEL-master-ID-hmac`, sensitive, never extractable), never into this
//! process. What the deployment keeps ([`WrappedMasterKey`]) is the wrapped
//! key and the values computed from the key when it was set up: its id, its
//! check value, and two check values (an HMAC and an AES-GCM one) that prove
//! the key unwrapped in the token is the one they were computed from.

use std::sync::Arc;

use sha2::Digest;
use zeroize::Zeroizing;

use super::{MasterKey, escrow::Held, token_escrow::token_error};
use crate::{
    error::KmcError,
    key::pkcs11::{Pkcs11Token, TokenSecret},
};

/// The first bytes of a wrapped master key (an older file sealed with
/// AES-GCM starts with a random IV instead).
const MAGIC: &[u8; 16] = b"TopCA KMC KWP v1";
/// What the HMAC check value is computed over.
const HMAC_CHECK_LABEL: &[u8] = b"TopCA KMC master key check, HMAC\0";
/// The associated data of the AES-GCM check value.
const GCM_CHECK_AAD: &[u8] = b"TopCA KMC master key check, GCM\0";
/// The fixed IV of the AES-GCM check value (one message only; every other
/// use of the key draws a random IV).
const GCM_CHECK_IV: [u8; 12] = [0xFF; 12];
/// The plaintext of the AES-GCM check value.
const GCM_CHECK_PLAIN: [u8; 16] = [0; 16];
/// The label of a token-generated key's id: `SHA-256(label || wrapped)`,
/// first 8 bytes (its bytes are not here to hash).
const GENERATED_ID_LABEL: &[u8] = b"TopCA KMC master key id, generated in a token\0";
/// The label of a token-generated key's check value: HMAC-SHA-256 of it
/// under the key, computed in the token.
const GENERATED_CHECK_LABEL: &[u8] = b"TopCA KMC master key check value, generated in a token\0";
/// MAGIC, id, check value, HMAC check, GCM check (ciphertext and tag).
const HEADER_LEN: usize = 16 + 8 + 32 + 32 + 32;

/// A KMC master key wrapped by a token, as the deployment keeps it
/// (`secrets/kmc-master.sealed`): nothing in it opens without the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedMasterKey {
    id: [u8; 8],
    check: [u8; 32],
    hmac_check: [u8; 32],
    gcm_check: [u8; 32],
    wrapped: Vec<u8>,
}

impl WrappedMasterKey {
    /// Whether `bytes` are a wrapped master key (not an older AES-GCM sealed one).
    pub fn is_wrapped(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }

    /// Reads what [`Self::to_bytes`] wrote; `Damaged` when it is not that.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KmcError> {
        let (header, wrapped) = bytes
            .split_at_checked(HEADER_LEN)
            .ok_or(KmcError::Damaged)?;
        if !Self::is_wrapped(header) || wrapped.len() < 16 {
            return Err(KmcError::Damaged);
        }
        let field = |from: usize, to: usize| header.get(from..to).ok_or(KmcError::Damaged);
        let array32 = |from| -> Result<[u8; 32], KmcError> {
            field(from, from + 32)?
                .try_into()
                .map_err(|_| KmcError::Damaged)
        };
        Ok(Self {
            id: field(16, 24)?.try_into().map_err(|_| KmcError::Damaged)?,
            check: array32(24)?,
            hmac_check: array32(56)?,
            gcm_check: array32(88)?,
            wrapped: wrapped.to_vec(),
        })
    }

    /// The bytes to keep.
    pub fn to_bytes(&self) -> Vec<u8> {
        [
            MAGIC.as_slice(),
            &self.id,
            &self.check,
            &self.hmac_check,
            &self.gcm_check,
            &self.wrapped,
        ]
        .concat()
    }

    /// The id of the master key it holds.
    pub fn id(&self) -> [u8; 8] {
        self.id
    }
}

fn wrapping_label(label: &str) -> String {
    format!("{label}-wrap")
}

fn object_label(label: &str, id: [u8; 8]) -> String {
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!("{label}-master-{id}")
}

impl MasterKey {
    /// Sets up a master key in `token`: `bytes` (a new key, or one kept until
    /// now in a file or sealed another way) are wrapped under the token's AES
    /// key `LABEL-wrap` (made when missing) and unwrapped back into the token.
    /// Returns the key, held by the token only, and what to keep for it. The
    /// bytes are no longer needed once this returns.
    pub fn wrap_into_token(
        bytes: Zeroizing<[u8; 32]>,
        token: &Arc<Pkcs11Token>,
        label: &str,
    ) -> Result<(Self, WrappedMasterKey), KmcError> {
        let memory = Self::from_bytes(*bytes);
        let hmac_check = *memory.derive(HMAC_CHECK_LABEL)?;
        let mut gcm_check = GCM_CHECK_PLAIN.to_vec();
        memory.encrypt(GCM_CHECK_IV, GCM_CHECK_AAD, &mut gcm_check)?;
        let wrapped = token
            .wrap_secret(&wrapping_label(label), &bytes)
            .map_err(token_error)?;
        let record = WrappedMasterKey {
            id: memory.id(),
            check: memory.check_value(),
            hmac_check,
            gcm_check: gcm_check.try_into().map_err(|_| KmcError::Damaged)?,
            wrapped,
        };
        drop(memory);
        drop(bytes);
        let master = Self::from_token(token, label, &record)?;
        Ok((master, record))
    }

    /// Sets up a new master key generated inside `token`: its bytes never
    /// exist outside the token, not even at set-up. It is wrapped under
    /// `LABEL-wrap` and unwrapped into the token as [`Self::wrap_into_token`]
    /// does; its id is the first 8 bytes of SHA-256 over the id label and the
    /// wrapped form, and its check values are computed in the token (HMAC and
    /// AES-GCM under the key), so nodes holding the record compare the same
    /// values. Returns the key and what to keep for it.
    pub fn generate_in_token(
        token: &Arc<Pkcs11Token>,
        label: &str,
    ) -> Result<(Self, WrappedMasterKey), KmcError> {
        let wrapped = token
            .generate_wrapped_secret(&wrapping_label(label))
            .map_err(token_error)?;
        let digest = sha2::Sha256::new_with_prefix(GENERATED_ID_LABEL)
            .chain_update(&wrapped)
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        let secret = token
            .unwrap_secret(&wrapping_label(label), &object_label(label, id), &wrapped)
            .map_err(token_error)?;
        let hmac_check = *secret.hmac_sha256(HMAC_CHECK_LABEL).map_err(token_error)?;
        let check = *secret
            .hmac_sha256(GENERATED_CHECK_LABEL)
            .map_err(token_error)?;
        let gcm_check = secret
            .gcm_encrypt(GCM_CHECK_IV, GCM_CHECK_AAD, &GCM_CHECK_PLAIN)
            .map_err(token_error)?;
        drop(secret);
        let record = WrappedMasterKey {
            id,
            check,
            hmac_check,
            gcm_check: gcm_check.try_into().map_err(|_| KmcError::Damaged)?,
            wrapped,
        };
        let master = Self::from_token(token, label, &record)?;
        Ok((master, record))
    }

    /// Upgrades a master key that an earlier version kept sealed by the token
    /// (AES-GCM under its key `label`, see [`Pkcs11Token::seal`], and opened
    /// into memory at each start): opened this once more, then wrapped as
    /// [`Self::wrap_into_token`] does. Keep the returned record in place of
    /// `sealed`.
    pub fn rewrap_sealed(
        token: &Arc<Pkcs11Token>,
        label: &str,
        sealed: &[u8],
    ) -> Result<(Self, WrappedMasterKey), KmcError> {
        let opened = token.unseal(label, sealed).map_err(token_error)?;
        let bytes =
            Zeroizing::new(<[u8; 32]>::try_from(opened.as_slice()).map_err(|_| KmcError::Damaged)?);
        drop(opened);
        Self::wrap_into_token(bytes, token, label)
    }

    /// The master key `record` holds, unwrapped into `token` (found there when
    /// it was before) under the wrapping key `LABEL-wrap`; its bytes never
    /// come into this process. `Damaged` when what the token unwrapped is not
    /// the key the record's check values were computed from.
    pub fn from_token(
        token: &Arc<Pkcs11Token>,
        label: &str,
        record: &WrappedMasterKey,
    ) -> Result<Self, KmcError> {
        let secret = token
            .unwrap_secret(
                &wrapping_label(label),
                &object_label(label, record.id),
                &record.wrapped,
            )
            .map_err(token_error)?;
        let hmac_check = secret.hmac_sha256(HMAC_CHECK_LABEL).map_err(token_error)?;
        let gcm_check = secret
            .gcm_encrypt(GCM_CHECK_IV, GCM_CHECK_AAD, &GCM_CHECK_PLAIN)
            .map_err(token_error)?;
        if *hmac_check != record.hmac_check || gcm_check != record.gcm_check {
            return Err(KmcError::Damaged);
        }
        let audit = secret
            .hmac_sha256(crate::audit::AUDIT_KEY_LABEL)
            .map_err(token_error)?;
        Ok(Self {
            held: Held::Token(secret),
            id: record.id,
            check: record.check,
            audit,
            token: None,
        })
    }

    /// The token objects holding this master key, when it is in a token.
    pub fn token_secret(&self) -> Option<&TokenSecret> {
        match &self.held {
            Held::Token(secret) => Some(secret),
            Held::Memory(_) => None,
        }
    }
}
