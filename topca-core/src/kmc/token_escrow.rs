//! Escrowed keys sealed inside a PKCS#11 token: AES-256-GCM (`CKM_AES_GCM`)
//! under an AES key generated in the token (sensitive, never extractable), so
//! the key that seals them never exists in this process. The escrowed key's
//! PKCS#8 goes into the token and comes back sealed; opening gives the PKCS#8
//! back, which the KMC needs to envelope it for its holder.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{EscrowedKey, MasterKey};
use crate::{
    error::{KeyError, KmcError},
    key::{SigningKey, pkcs11::Pkcs11Token},
    random::RandomSource,
};

/// The AES-GCM IV length the token uses.
const IV_LEN: usize = 12;

/// A token's AES key sealing escrowed keys.
pub(super) struct TokenEscrow {
    token: Arc<Pkcs11Token>,
    label: String,
}

impl TokenEscrow {
    /// The identifier stored with each key sealed in the token, in place of a
    /// master key's: a hash of the sealing key's label.
    pub(super) fn id(&self) -> [u8; 8] {
        let digest = Sha256::new_with_prefix(b"TopCA token escrow key id\0")
            .chain_update(self.label.as_bytes())
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        id
    }

    /// Seals `key` in the token, bound to `aad`.
    pub(super) fn seal(
        &self,
        key: &SigningKey,
        aad: &[u8],
        random: &dyn RandomSource,
    ) -> Result<EscrowedKey, KmcError> {
        let pkcs8 = key.to_pkcs8_der().map_err(|_| KmcError::Damaged)?;
        let sealed = self
            .token
            .seal_bound(&self.label, &pkcs8, aad, random)
            .map_err(token_error)?;
        let (iv, ciphertext) = sealed.split_at_checked(IV_LEN).ok_or(KmcError::Damaged)?;
        Ok(EscrowedKey {
            master_key_id: self.id(),
            nonce: iv.try_into().map_err(|_| KmcError::Damaged)?,
            ciphertext: ciphertext.to_vec(),
        })
    }

    /// Opens, in the token, an escrowed key it sealed with `aad`.
    pub(super) fn open(&self, escrowed: &EscrowedKey, aad: &[u8]) -> Result<SigningKey, KmcError> {
        let sealed = [escrowed.nonce.as_slice(), &escrowed.ciphertext].concat();
        let pkcs8 = self
            .token
            .unseal_bound(&self.label, &sealed, aad)
            .map_err(|e| match e {
                lost @ KeyError::TokenLost(_) => token_error(lost),
                _ => KmcError::Damaged,
            })?;
        SigningKey::from_pkcs8_der(&pkcs8).map_err(|_| KmcError::Damaged)
    }
}

pub(super) fn token_error(e: KeyError) -> KmcError {
    KmcError::Token(e.to_string())
}

impl MasterKey {
    /// This master key, with escrowed keys from now on sealed and opened in
    /// `token` under its AES key `label` (generated there on first use); keys
    /// escrowed before under the master key's bytes still open.
    pub fn with_token_escrow(mut self, token: Arc<Pkcs11Token>, label: &str) -> Self {
        self.token = Some(TokenEscrow {
            token,
            label: label.to_owned(),
        });
        self
    }

    /// Whether escrowed keys are sealed in a token.
    pub fn escrow_in_token(&self) -> bool {
        self.token.is_some()
    }
}
