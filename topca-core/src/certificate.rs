//! An X.509 certificate as TopCA hands it out: the DER plus its parsed form.

use std::time::SystemTime;

use der::{Decode, Encode, pem::LineEnding};
use sha2::{Digest, Sha256};

use crate::{
    algorithm::SignatureAlgorithm,
    error::{EncodingError, KeyError},
    key::PublicKey,
    name::{DistinguishedName, display_name},
    preview::{CertificatePreview, preview},
};

/// A certificate: its exact DER and the decoded structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    x509: x509_cert::Certificate,
}

impl Certificate {
    /// Decodes a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, EncodingError> {
        let x509 = x509_cert::Certificate::from_der(der).map_err(EncodingError::Certificate)?;
        Ok(Self {
            der: der.to_vec(),
            x509,
        })
    }

    /// Decodes a DER certificate, keeping `der` without copying it.
    pub(crate) fn from_der_vec(der: Vec<u8>) -> Result<Self, EncodingError> {
        let x509 = x509_cert::Certificate::from_der(&der).map_err(EncodingError::Certificate)?;
        Ok(Self { der, x509 })
    }

    /// Decodes one PEM `CERTIFICATE`.
    pub fn from_pem(pem: &str) -> Result<Self, EncodingError> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| EncodingError::Certificate(e.into()))?;
        if label != "CERTIFICATE" {
            return Err(EncodingError::Certificate(der::Error::from(
                der::ErrorKind::Failed,
            )));
        }
        Self::from_der(&der)
    }

    /// Decodes every certificate of a PEM bundle, in order.
    pub fn from_pem_chain(pem: &str) -> Result<Vec<Self>, EncodingError> {
        let parsed = x509_cert::Certificate::load_pem_chain(pem.as_bytes())
            .map_err(EncodingError::Certificate)?;
        parsed
            .into_iter()
            .map(|x509| {
                Ok(Self {
                    der: x509.to_der()?,
                    x509,
                })
            })
            .collect()
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding (`-----BEGIN CERTIFICATE-----`).
    pub fn to_pem(&self) -> String {
        // Encoding a byte string we already hold cannot fail except on absurd sizes.
        der::pem::encode_string("CERTIFICATE", LineEnding::LF, &self.der).unwrap_or_default()
    }

    /// The decoded structure (x509-cert).
    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.x509
    }

    /// The serial number in upper-case hexadecimal, as OpenSSL prints it.
    pub fn serial_hex(&self) -> String {
        hex_upper(self.x509.tbs_certificate().serial_number().as_bytes())
    }

    /// The subject attributes.
    pub fn subject(&self) -> DistinguishedName {
        DistinguishedName::from_name(self.x509.tbs_certificate().subject())
    }

    /// The subject as text (`C=CN, O=…, CN=…`).
    pub fn subject_text(&self) -> String {
        display_name(self.x509.tbs_certificate().subject())
    }

    /// The issuer as text.
    pub fn issuer_text(&self) -> String {
        display_name(self.x509.tbs_certificate().issuer())
    }

    /// Start of validity.
    pub fn not_before(&self) -> SystemTime {
        self.x509
            .tbs_certificate()
            .validity()
            .not_before
            .to_system_time()
    }

    /// End of validity.
    pub fn not_after(&self) -> SystemTime {
        self.x509
            .tbs_certificate()
            .validity()
            .not_after
            .to_system_time()
    }

    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey, KeyError> {
        let spki = self
            .x509
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|_| KeyError::Malformed("public"))?;
        PublicKey::from_spki_der(&spki)
    }

    /// Checks that `issuer` signed this certificate.
    pub fn verify_signed_by(&self, issuer: &PublicKey) -> Result<(), KeyError> {
        let algorithm = SignatureAlgorithm::from_oid(self.x509.signature_algorithm().oid)?;
        let tbs = self
            .x509
            .tbs_certificate()
            .to_der()
            .map_err(|_| KeyError::Malformed("certificate"))?;
        let signature = self
            .x509
            .signature()
            .as_bytes()
            .ok_or(KeyError::BadSignature)?;
        issuer.verify(algorithm, &tbs, signature)
    }

    /// The subject Name as DER (for example as a TLS client-certificate hint).
    pub fn subject_der(&self) -> Result<Vec<u8>, crate::Error> {
        Ok(der::Encode::to_der(
            self.x509().tbs_certificate().subject(),
        )?)
    }

    /// SHA-256 fingerprint of the DER, upper-case hex with colons.
    pub fn sha256_fingerprint(&self) -> String {
        let digest = Sha256::digest(&self.der);
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The general and detailed views shown by "certificate preview".
    pub fn preview(&self) -> CertificatePreview {
        preview(&self.x509)
    }
}

/// Upper-case hexadecimal, as OpenSSL prints serial numbers.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Lower-case hexadecimal, as certificate fingerprints are stored.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
