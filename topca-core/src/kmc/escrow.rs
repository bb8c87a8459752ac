//! Sealing and opening escrowed private keys.

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{AeadInOut, Nonce},
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{error::KmcError, key::SigningKey, random::RandomSource};

/// Domain separation for the additional authenticated data.
const AAD_PREFIX: &[u8] = b"TopCA escrow v1\0";

/// The 256-bit key that seals escrowed keys; zeroised on drop. With an
/// escrow key in a PKCS#11 token ([`MasterKey::with_token_escrow`]), new
/// escrowed keys are sealed in the token instead, and those sealed before
/// under these bytes still open.
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    /// The token's AES key that seals escrowed keys, when there is one.
    #[cfg(feature = "pkcs11")]
    pub(super) token: Option<super::token_escrow::TokenEscrow>,
}

impl MasterKey {
    /// A master key from its 32 bytes (as loaded from the deployment's secret store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            bytes: Zeroizing::new(bytes),
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

    /// The key bytes, for deriving the other keys kept with it (never stored).
    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// A public identifier of this master key (first 8 bytes of a hash of it), stored
    /// with each escrowed key so a wrong master key is reported as such.
    pub fn id(&self) -> [u8; 8] {
        let digest = Sha256::new_with_prefix(b"TopCA master key id\0")
            .chain_update(self.bytes.as_ref())
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        id
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
        let sealed = self.cipher().encrypt_in_place(
            &Nonce::<Aes256Gcm>::from(nonce),
            &aad(binding),
            &mut buffer,
        );
        if sealed.is_err() {
            zeroize::Zeroize::zeroize(&mut buffer);
            return Err(KmcError::Damaged);
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
        let mut buffer = Zeroizing::new(escrowed.ciphertext.clone());
        self.cipher()
            .decrypt_in_place(
                &Nonce::<Aes256Gcm>::from(escrowed.nonce),
                &aad(binding),
                &mut *buffer,
            )
            .map_err(|_| KmcError::Damaged)?;
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
        self.cipher()
            .encrypt_in_place(
                &Nonce::<Aes256Gcm>::from(nonce),
                &data_aad(binding),
                &mut *buffer,
            )
            .map_err(|_| KmcError::Damaged)?;
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
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        self.cipher()
            .decrypt_in_place(
                &Nonce::<Aes256Gcm>::from(nonce),
                &data_aad(binding),
                &mut *buffer,
            )
            .map_err(|_| KmcError::Damaged)?;
        Ok(buffer)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&(*self.bytes).into())
    }
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
        assert!(!format!("{master:?}").contains(&format!("{:?}", master.bytes.as_ref())));
    }
}
