//! Sealing and opening escrowed private keys.

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{AeadInOut, Nonce},
};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{error::KmcError, key::SigningKey, random::RandomSource};

/// Domain separation for the additional authenticated data.
const AAD_PREFIX: &[u8] = b"TopCA escrow v1\0";

/// The 256-bit key that seals escrowed keys and data, and from which the
/// audit key is derived. Held either in this process (zeroised on drop) or in
/// a PKCS#11 token ([`MasterKey::from_token`]), where its bytes never leave
/// the token: both give the same results for the same key. With an escrow key
/// in a token ([`MasterKey::with_token_escrow`]), new escrowed keys are sealed
/// in the token instead, and those sealed before under the master key still
/// open.
pub struct MasterKey {
    pub(super) held: Held,
    /// Public identifier, computed once when the key was set up.
    pub(super) id: [u8; 8],
    /// Check value, computed once when the key was set up.
    pub(super) check: [u8; 32],
    /// The audit key derived from it (a sub-key, kept in memory).
    pub(super) audit: Zeroizing<[u8; 32]>,
    /// The token's AES key that seals escrowed keys, when there is one.
    #[cfg(feature = "pkcs11")]
    pub(super) token: Option<super::token_escrow::TokenEscrow>,
}

/// Where the master key's bytes are.
pub(super) enum Held {
    /// In this process.
    Memory(Zeroizing<[u8; 32]>),
    /// Only in a token: this arm has no bytes to give.
    #[cfg(feature = "pkcs11")]
    Token(crate::key::pkcs11::TokenSecret),
}

/// The label of the id: `SHA-256(label || key)`, first 8 bytes.
const ID_LABEL: &[u8] = b"TopCA master key id\0";
/// The label of the check value: `SHA-256(label || key)`.
const CHECK_LABEL: &[u8] = b"TopCA KMC master key check value\0";

impl MasterKey {
    /// A master key from its 32 bytes (as loaded from the deployment's secret store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let digest = |label: &[u8]| -> [u8; 32] {
            Sha256::new_with_prefix(label)
                .chain_update(bytes.as_ref())
                .finalize()
                .into()
        };
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest(ID_LABEL)[..8]);
        let check = digest(CHECK_LABEL);
        let audit = memory_mac(&bytes, crate::audit::AUDIT_KEY_LABEL);
        Self {
            held: Held::Memory(bytes),
            id,
            check,
            audit,
            #[cfg(feature = "pkcs11")]
            token: None,
        }
    }

    /// A fresh random master key, for initialising a KMC.
    pub fn generate(random: &dyn RandomSource) -> Result<Self, KmcError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        random.fill(bytes.as_mut()).map_err(|_| KmcError::Random)?;
        Ok(Self::from_bytes(*bytes))
    }

    /// The audit key derived from this master key.
    pub(crate) fn audit_key(&self) -> &Zeroizing<[u8; 32]> {
        &self.audit
    }

    /// A public identifier of this master key (first 8 bytes of a hash of it), stored
    /// with each escrowed key so a wrong master key is reported as such.
    pub fn id(&self) -> [u8; 8] {
        self.id
    }

    /// The check value of this master key (SHA-256 over a fixed label and the
    /// key, computed when it was set up): whether two nodes hold the same key,
    /// revealing nothing of it.
    pub fn check_value(&self) -> [u8; 32] {
        self.check
    }

    /// Whether the key's bytes are only in a token (never in this process).
    pub fn in_token(&self) -> bool {
        !matches!(self.held, Held::Memory(_))
    }

    /// HMAC-SHA-256 of `label` under the master key: a sub-key derived from
    /// it (computed in the token when the key is there).
    pub fn derive(&self, label: &[u8]) -> Result<Zeroizing<[u8; 32]>, KmcError> {
        match &self.held {
            Held::Memory(bytes) => Ok(memory_mac(bytes, label)),
            #[cfg(feature = "pkcs11")]
            Held::Token(secret) => secret
                .hmac_sha256(label)
                .map_err(super::token_escrow::token_error),
        }
    }

    /// AES-256-GCM of `buffer` in place (tag appended) under the master key.
    pub(super) fn encrypt(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        buffer: &mut Vec<u8>,
    ) -> Result<(), KmcError> {
        match &self.held {
            Held::Memory(bytes) => Aes256Gcm::new(&(**bytes).into())
                .encrypt_in_place(&Nonce::<Aes256Gcm>::from(nonce), aad, buffer)
                .map_err(|_| KmcError::Damaged),
            #[cfg(feature = "pkcs11")]
            Held::Token(secret) => {
                let sealed = secret
                    .gcm_encrypt(nonce, aad, buffer)
                    .map_err(super::token_escrow::token_error)?;
                zeroize::Zeroize::zeroize(buffer);
                *buffer = sealed;
                Ok(())
            }
        }
    }

    /// Opens what [`Self::encrypt`] made; `Damaged` when it does not open.
    fn decrypt(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmcError> {
        match &self.held {
            Held::Memory(bytes) => {
                let mut buffer = Zeroizing::new(sealed.to_vec());
                Aes256Gcm::new(&(**bytes).into())
                    .decrypt_in_place(&Nonce::<Aes256Gcm>::from(nonce), aad, &mut *buffer)
                    .map_err(|_| KmcError::Damaged)?;
                Ok(buffer)
            }
            #[cfg(feature = "pkcs11")]
            Held::Token(secret) => secret.gcm_decrypt(nonce, aad, sealed).map_err(|e| match e {
                lost @ crate::error::KeyError::TokenLost(_) => {
                    super::token_escrow::token_error(lost)
                }
                _ => KmcError::Damaged,
            }),
        }
    }

    /// Seals `key` for escrow, bound to `binding` (for example the encryption
    /// certificate's serial): it only opens with the same binding.
    pub fn seal(
        &self,
        key: &SigningKey,
        binding: &str,
        random: &dyn RandomSource,
    ) -> Result<EscrowedKey, KmcError> {
        #[cfg(feature = "pkcs11")]
        if let Some(token) = &self.token {
            return token.seal(key, &aad(binding), random);
        }
        let mut nonce = [0u8; 12];
        random.fill(&mut nonce).map_err(|_| KmcError::Random)?;
        let pkcs8 = key.to_pkcs8_der().map_err(|_| KmcError::Damaged)?;
        let mut buffer = pkcs8.to_vec();
        if let Err(e) = self.encrypt(nonce, &aad(binding), &mut buffer) {
            zeroize::Zeroize::zeroize(&mut buffer);
            return Err(e);
        }
        Ok(EscrowedKey {
            master_key_id: self.id(),
            nonce,
            ciphertext: buffer,
        })
    }

    /// Opens an escrowed key sealed with this master key and `binding`.
    pub fn open(&self, escrowed: &EscrowedKey, binding: &str) -> Result<SigningKey, KmcError> {
        #[cfg(feature = "pkcs11")]
        if let Some(token) = self
            .token
            .as_ref()
            .filter(|t| t.id() == escrowed.master_key_id)
        {
            return token.open(escrowed, &aad(binding));
        }
        if escrowed.master_key_id != self.id() {
            return Err(KmcError::WrongMasterKey);
        }
        let buffer = self.decrypt(escrowed.nonce, &aad(binding), &escrowed.ciphertext)?;
        SigningKey::from_pkcs8_der(&buffer).map_err(|_| KmcError::Damaged)
    }

    /// Seals `data` (a queued mail, say) bound to `binding`: the master key's id,
    /// a random nonce and the AES-256-GCM ciphertext, as one byte string.
    pub fn seal_bytes(
        &self,
        data: &[u8],
        binding: &str,
        random: &dyn RandomSource,
    ) -> Result<Vec<u8>, KmcError> {
        let mut nonce = [0u8; 12];
        random.fill(&mut nonce).map_err(|_| KmcError::Random)?;
        let mut buffer = Zeroizing::new(data.to_vec());
        self.encrypt(nonce, &data_aad(binding), &mut buffer)?;
        Ok([&self.id()[..], &nonce, &buffer].concat())
    }

    /// Opens what [`Self::seal_bytes`] sealed with this master key and `binding`.
    pub fn open_bytes(&self, sealed: &[u8], binding: &str) -> Result<Zeroizing<Vec<u8>>, KmcError> {
        let (id, rest) = sealed.split_at_checked(8).ok_or(KmcError::Damaged)?;
        let (nonce, ciphertext) = rest.split_at_checked(12).ok_or(KmcError::Damaged)?;
        if id != self.id() {
            return Err(KmcError::WrongMasterKey);
        }
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| KmcError::Damaged)?;
        self.decrypt(nonce, &data_aad(binding), ciphertext)
    }
}

/// HMAC-SHA-256 of `label` under `key`, in memory.
fn memory_mac(key: &[u8; 32], label: &[u8]) -> Zeroizing<[u8; 32]> {
    // HMAC pads a short key with zeros to the block.
    let mut block = Zeroizing::new([0u8; 64]);
    block[..32].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new(&(*block).into());
    mac.update(label);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {:02x?})", self.id())
    }
}

/// An escrowed private key as the store keeps it: ciphertext only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowedKey {
    /// Which master key sealed it.
    pub master_key_id: [u8; 8],
    /// The AES-GCM nonce (random per seal).
    pub nonce: [u8; 12],
    /// The sealed PKCS#8 key followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// Domain separation for sealed data other than keys.
const DATA_AAD_PREFIX: &[u8] = b"TopCA sealed data v1\0";

fn data_aad(binding: &str) -> Vec<u8> {
    [DATA_AAD_PREFIX, binding.as_bytes()].concat()
}

fn aad(binding: &str) -> Vec<u8> {
    [AAD_PREFIX, binding.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{algorithm::KeyAlgorithm, random::OsRandom};

    #[test]
    fn escrowed_keys_open_only_with_their_master_key_and_binding() {
        let master = MasterKey::generate(&OsRandom).unwrap();
        for algorithm in [
            KeyAlgorithm::Sm2,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::EcdsaP256,
        ] {
            let key = SigningKey::generate(algorithm, &OsRandom).unwrap();
            let sealed = master.seal(&key, "serial 0A1B", &OsRandom).unwrap();
            let plain = key.to_pkcs8_der().unwrap();
            assert!(
                !sealed
                    .ciphertext
                    .windows(16)
                    .any(|w| plain.windows(16).any(|p| p == w)),
                "no clear key bytes"
            );
            assert_eq!(
                master.open(&sealed, "serial 0A1B").unwrap().public_key(),
                key.public_key()
            );

            let other = MasterKey::generate(&OsRandom).unwrap();
            assert_eq!(
                other.open(&sealed, "serial 0A1B").unwrap_err(),
                KmcError::WrongMasterKey
            );
            assert_eq!(
                master.open(&sealed, "serial FFFF").unwrap_err(),
                KmcError::Damaged,
                "bound to its serial"
            );
            let mut tampered = sealed.clone();
            tampered.ciphertext[3] ^= 1;
            assert_eq!(
                master.open(&tampered, "serial 0A1B").unwrap_err(),
                KmcError::Damaged
            );
            let again = master.seal(&key, "serial 0A1B", &OsRandom).unwrap();
            assert_ne!(again.nonce, sealed.nonce, "a fresh nonce per seal");
        }
        let known = MasterKey::from_bytes([0xA5; 32]);
        let text = format!("{known:?}").to_lowercase();
        assert!(!text.contains("165") && !text.contains("a5, a5") && !text.contains("a5a5"));
        assert!(!known.in_token());
    }

    #[test]
    fn derived_keys_are_hmac_sha256_of_their_label_under_the_master_key() {
        let bytes = [0x5Au8; 32];
        let master = MasterKey::from_bytes(bytes);
        let expected = |label: &[u8]| {
            let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&bytes).unwrap();
            mac.update(label);
            <[u8; 32]>::from(mac.finalize().into_bytes())
        };
        assert_eq!(
            *master.derive(b"topca backup manifest v1").unwrap(),
            expected(b"topca backup manifest v1")
        );
        assert_eq!(**master.audit_key(), expected(b"topca audit key v1"));
        let id: [u8; 32] = Sha256::new_with_prefix(b"TopCA master key id\0")
            .chain_update(bytes)
            .finalize()
            .into();
        assert_eq!(master.id(), id[..8]);
    }
}
