//! The two halves of template issuance: writing a checked TBSCertificate
//! ([`IssuanceTemplate::write`]), which a caller can record before it is
//! signed, and signing it ([`IssuanceTemplate::sign`]); and the check every
//! signing path makes after signing ([`OwnSignatureCheck`]).

use sha2::{Digest, Sha256};

use super::{IssuanceTemplate, IssuedDer};
use crate::{
    ca::IssueRequest,
    certificate::hex_upper,
    error::{Error, PolicyError},
    key::{PreparedVerifier, SigningKey},
    serial::SERIAL_LEN,
    tbs::{close_der, push_der_length},
};

/// A checked TBSCertificate written by a template, with its serial, waiting to
/// be signed by the same template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenTbs {
    serial: [u8; SERIAL_LEN],
    /// The outer SEQUENCE's tag, then the TBSCertificate: the certificate's
    /// buffer, to which the signature is appended.
    der: Vec<u8>,
}

impl WrittenTbs {
    /// The serial number in upper-case hexadecimal.
    pub fn serial_hex(&self) -> String {
        hex_upper(&self.serial)
    }

    /// The exact TBSCertificate that will be signed.
    pub fn tbs_der(&self) -> &[u8] {
        self.der.get(1..).unwrap_or_default()
    }

    /// SHA-256 of [`Self::tbs_der`], as recorded before signing.
    pub fn tbs_sha256(&self) -> [u8; 32] {
        Sha256::digest(self.tbs_der()).into()
    }
}

impl IssuanceTemplate<'_> {
    /// Checks `request` and writes its TBSCertificate under a fresh serial,
    /// without signing: [`Self::issue`] is this, then [`Self::sign`].
    pub fn write(&self, request: &IssueRequest) -> Result<WrittenTbs, Error> {
        let mut der = Vec::with_capacity(self.size_hint(request));
        // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
        der.push(0x30);
        let serial = self.write_tbs(request, &mut der)?;
        Ok(WrittenTbs { serial, der })
    }

    /// Signs a TBSCertificate this template wrote and completes the certificate
    /// (checking the signature first if [`Self::with_signature_check`] asked for it).
    pub fn sign(&self, written: WrittenTbs) -> Result<IssuedDer, Error> {
        let WrittenTbs { serial, mut der } = written;
        let tbs = der.get(1..).ok_or(PolicyError::PostIssuanceCheck)?;
        let signature = self.ca.key().sign_bytes(tbs)?;
        if self.check_signature {
            self.ca.own_check().check(tbs, signature.as_bytes())?;
        }
        der.extend_from_slice(&self.algorithm);
        // BIT STRING, no unused bits.
        der.push(0x03);
        push_der_length(&mut der, signature.as_bytes().len() + 1);
        der.push(0x00);
        der.extend_from_slice(signature.as_bytes());
        close_der(&mut der, 0);
        // The buffer was sized generously (about twice the certificate). A
        // batch keeps every certificate until the caller drops them, and the
        // slack doubled the memory that glibc hands back to the system and
        // faults in again on the next batch: 367 page faults per 1,024 P-256
        // certificates without this, 150 with it (`perf stat -e page-faults`).
        der.shrink_to_fit();
        Ok(IssuedDer { serial, der })
    }
}

/// The check after signing, made ready once for a CA key (its public key
/// parsed once, not once per certificate): a signature over a message verifies
/// under the key's public key ([`PolicyError::PostIssuanceCheck`] otherwise).
/// RSA signatures made in software are not verified again, since aws-lc
/// verifies each RSA signature it makes before returning it (see the module
/// documentation of [`crate::template`]); ECDSA, Ed25519 and SM2 signatures,
/// and every signature a PKCS#11 token makes, are.
#[derive(Debug)]
pub(crate) enum OwnSignatureCheck {
    /// RSA in software: aws-lc checked the signature as it made it.
    CheckedBySigner,
    /// Every other key: its public key, ready to verify.
    Verify(PreparedVerifier),
}

impl OwnSignatureCheck {
    /// The check for signatures made by `key`.
    pub(crate) fn for_key(key: &SigningKey) -> Result<Self, Error> {
        if matches!(key, SigningKey::Rsa(_)) {
            return Ok(Self::CheckedBySigner);
        }
        Ok(Self::Verify(
            key.public_key()
                .prepared_verifier(key.signature_algorithm())?,
        ))
    }

    /// Checks `signature` over `message`.
    pub(crate) fn check(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        match self {
            Self::CheckedBySigner => Ok(()),
            Self::Verify(verifier) => verifier
                .verify(message, signature)
                .map_err(|_| PolicyError::PostIssuanceCheck.into()),
        }
    }
}
