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
    pkey::{PKey, Private},
    pkey_ctx::PkeyCtx,
    rsa::{Padding, Rsa},
};
use topca_core::KeyAlgorithm;

/// What the reference signers sign.
const DIGEST: [u8; 32] = [0x5a; 32];

/// One signature by OpenSSL per call.
pub struct ReferenceSigner {
    /// What the reference is: OpenSSL's algorithm and call.
    pub name: &'static str,
    kind: Kind,
}

enum Kind {
    Rsa(PkeyCtx<Private>),
    Ecdsa(EcKey<Private>),
    Ed25519(MdCtx),
}

impl ReferenceSigner {
    /// OpenSSL's signer for `algorithm` (for SM2: P-256's, the curve of the
    /// same form and size).
    pub fn new(algorithm: KeyAlgorithm) -> Result<Self, Box<dyn Error>> {
        let rsa = |bits: u32| -> Result<Kind, Box<dyn Error>> {
            let key = PKey::from_rsa(Rsa::generate(bits)?)?;
            let mut ctx = PkeyCtx::new(&key)?;
            ctx.sign_init()?;
            ctx.set_rsa_padding(Padding::PKCS1)?;
            ctx.set_signature_md(Md::sha256())?;
            Ok(Kind::Rsa(ctx))
        };
        let ecdsa = |curve: Nid| -> Result<Kind, Box<dyn Error>> {
            let group = EcGroup::from_curve_name(curve)?;
            Ok(Kind::Ecdsa(EcKey::generate(&group)?))
        };
        let (name, kind) = match algorithm {
            KeyAlgorithm::Rsa2048 => ("RSA-2048 EVP_PKEY_sign", rsa(2048)?),
            KeyAlgorithm::Rsa3072 => ("RSA-3072 EVP_PKEY_sign", rsa(3072)?),
            KeyAlgorithm::Rsa4096 => ("RSA-4096 EVP_PKEY_sign", rsa(4096)?),
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::Sm2 => {
                ("P-256 ECDSA_do_sign", ecdsa(Nid::X9_62_PRIME256V1)?)
            }
            KeyAlgorithm::EcdsaP384 => ("P-384 ECDSA_do_sign", ecdsa(Nid::SECP384R1)?),
            KeyAlgorithm::Ed25519 => {
                let key: PKey<Private> = PKey::generate_ed25519()?;
                let mut ctx = MdCtx::new()?;
                ctx.digest_sign_init(None, &key)?;
                ("Ed25519 EVP_DigestSign", Kind::Ed25519(ctx))
            }
        };
        Ok(Self { name, kind })
    }

    /// One signature; returns its length in bytes (for ECDSA, of `r` and `s`).
    pub fn sign(&mut self) -> Result<usize, Box<dyn Error>> {
        Ok(match &mut self.kind {
            Kind::Rsa(ctx) => {
                let mut signature = Vec::with_capacity(512);
                ctx.sign_to_vec(&DIGEST, &mut signature)?
            }
            Kind::Ecdsa(key) => {
                let signature = EcdsaSig::sign(&DIGEST, key)?;
                (signature.r().num_bytes() + signature.s().num_bytes()) as usize
            }
            Kind::Ed25519(ctx) => {
                let mut signature = Vec::with_capacity(64);
                ctx.digest_sign_to_vec(&DIGEST, &mut signature)?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contexts made once serve every call, each giving a whole signature.
    #[test]
    fn every_reference_signs_again_and_again() {
        for algorithm in KeyAlgorithm::ALL {
            let mut signer = ReferenceSigner::new(algorithm).unwrap();
            for _ in 0..3 {
                let len = signer.sign().unwrap();
                match algorithm {
                    KeyAlgorithm::Rsa2048 => assert_eq!(len, 256),
                    KeyAlgorithm::Rsa3072 => assert_eq!(len, 384),
                    KeyAlgorithm::Rsa4096 => assert_eq!(len, 512),
                    KeyAlgorithm::Ed25519 => assert_eq!(len, 64),
                    // r and s each have 32 (48) bytes but for leading zeros.
                    KeyAlgorithm::EcdsaP256 | KeyAlgorithm::Sm2 => {
                        assert!((60..=64).contains(&len))
                    }
                    KeyAlgorithm::EcdsaP384 => assert!((92..=96).contains(&len)),
                }
            }
        }
    }
}
