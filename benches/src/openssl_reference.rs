//! OpenSSL's own signers, called in this process through libcrypto: the
//! reference `compare` times in alternating slices with TopCA's, so that both
//! sides run within milliseconds of each other on a machine whose speed drifts
//! by tens of percent within seconds.
//!
//! Each signs a 32-byte digest (the Ed25519 signer: a 32-byte message) with a
//! key made once, as `openssl speed` does: RSA through an `EVP_PKEY_sign`
//! context set up once (PKCS #1 v1.5, SHA-256), ECDSA through `ECDSA_do_sign`,
//! Ed25519 through one `EVP_DigestSign` context. SM2 is set against P-256.

use std::error::Error;

use openssl::{
    ec::{EcGroup, EcKey},
    ecdsa::EcdsaSig,
    md::Md,
    md_ctx::MdCtx,
    nid::Nid,
    pkey::{Id, PKey, Private},
    pkey_ctx::PkeyCtx,
    rsa::{Padding, Rsa},
};
use topca_core::KeyAlgorithm;

/// What the reference signers sign.
const DIGEST: [u8; 32] = [0x5a; 32];

/// One signature by OpenSSL per call; the last one is kept, so that tests can
/// verify it.
pub struct ReferenceSigner {
    kind: Kind,
}

enum Kind {
    /// A signing context set up once, and the last signature.
    Rsa(PkeyCtx<Private>, Vec<u8>),
    Ecdsa(EcKey<Private>, Option<EcdsaSig>),
    Ed25519(MdCtx, Vec<u8>),
}

/// A fresh key of `algorithm`'s kind (for SM2: P-256, the curve of the same
/// form and size).
fn generate_key(algorithm: KeyAlgorithm) -> Result<PKey<Private>, Box<dyn Error>> {
    let ec = |curve: Nid| -> Result<PKey<Private>, Box<dyn Error>> {
        let group = EcGroup::from_curve_name(curve)?;
        Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
    };
    match algorithm {
        KeyAlgorithm::Rsa2048 => Ok(PKey::from_rsa(Rsa::generate(2048)?)?),
        KeyAlgorithm::Rsa3072 => Ok(PKey::from_rsa(Rsa::generate(3072)?)?),
        KeyAlgorithm::Rsa4096 => Ok(PKey::from_rsa(Rsa::generate(4096)?)?),
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::Sm2 => ec(Nid::X9_62_PRIME256V1),
        KeyAlgorithm::EcdsaP384 => ec(Nid::SECP384R1),
        KeyAlgorithm::Ed25519 => Ok(PKey::generate_ed25519()?),
    }
}

impl ReferenceSigner {
    /// OpenSSL's signer for `algorithm` with a fresh key (for SM2: P-256's).
    pub fn new(algorithm: KeyAlgorithm) -> Result<Self, Box<dyn Error>> {
        Self::with_key(&generate_key(algorithm)?)
    }

    /// OpenSSL's signer for `key` (RSA, EC or Ed25519).
    fn with_key(key: &PKey<Private>) -> Result<Self, Box<dyn Error>> {
        let kind = match key.id() {
            Id::RSA => {
                let mut ctx = PkeyCtx::new(key)?;
                ctx.sign_init()?;
                ctx.set_rsa_padding(Padding::PKCS1)?;
                ctx.set_signature_md(Md::sha256())?;
                Kind::Rsa(ctx, Vec::with_capacity(512))
            }
            Id::EC => Kind::Ecdsa(key.ec_key()?, None),
            Id::ED25519 => {
                let mut ctx = MdCtx::new()?;
                ctx.digest_sign_init(None, key)?;
                Kind::Ed25519(ctx, Vec::with_capacity(64))
            }
            other => return Err(format!("no reference signer for key type {other:?}").into()),
        };
        Ok(Self { kind })
    }

    /// One signature.
    pub fn sign(&mut self) -> Result<(), Box<dyn Error>> {
        match &mut self.kind {
            Kind::Rsa(ctx, signature) => {
                signature.clear();
                ctx.sign_to_vec(&DIGEST, signature)?;
            }
            Kind::Ecdsa(key, last) => {
                last.replace(EcdsaSig::sign(&DIGEST, key)?);
            }
            Kind::Ed25519(ctx, signature) => {
                signature.clear();
                ctx.digest_sign_to_vec(&DIGEST, signature)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the signer's last signature verifies under `key`.
    fn last_verifies(signer: &ReferenceSigner, key: &PKey<Private>) -> bool {
        match &signer.kind {
            Kind::Rsa(_, signature) => {
                let mut ctx = PkeyCtx::new(key).unwrap();
                ctx.verify_init().unwrap();
                ctx.set_rsa_padding(Padding::PKCS1).unwrap();
                ctx.set_signature_md(Md::sha256()).unwrap();
                ctx.verify(&DIGEST, signature).unwrap_or(false)
            }
            Kind::Ecdsa(_, last) => last
                .as_ref()
                .is_some_and(|s| s.verify(&DIGEST, &key.ec_key().unwrap()).unwrap_or(false)),
            Kind::Ed25519(_, signature) => {
                let mut ctx = MdCtx::new().unwrap();
                ctx.digest_verify_init(None, key).unwrap();
                ctx.digest_verify(&DIGEST, signature).unwrap_or(false)
            }
        }
    }

    /// The contexts made once serve every call, each giving a signature that
    /// verifies.
    #[test]
    fn every_reference_signs_again_and_again() {
        for algorithm in KeyAlgorithm::ALL {
            let key = generate_key(algorithm).unwrap();
            let mut signer = ReferenceSigner::with_key(&key).unwrap();
            assert!(
                !last_verifies(&signer, &key),
                "{algorithm}: nothing signed yet"
            );
            for _ in 0..3 {
                signer.sign().unwrap();
                assert!(last_verifies(&signer, &key), "{algorithm}");
            }
        }
    }
}
