//! Encoding of the to-be-signed certificate and of the signed certificate.
//!
//! ```text
//! TBSCertificate ::= SEQUENCE {
//!     version         [0]  EXPLICIT Version DEFAULT v1,   -- always v3 here
//!     serialNumber         CertificateSerialNumber,
//!     signature            AlgorithmIdentifier,
//!     issuer               Name,
//!     validity             Validity,
//!     subject              Name,
//!     subjectPublicKeyInfo SubjectPublicKeyInfo,
//!     extensions      [3]  EXPLICIT Extensions OPTIONAL }
//! Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
//! ```
//! (RFC 5280 §4.1). x509-cert keeps its TBS fields private, so TopCA writes the
//! encoding itself and decodes the result with x509-cert as a check.

use der::{Encode, Header, Length, Tag, TagNumber, asn1::BitStringRef};
use spki::AlgorithmIdentifierOwned;
use x509_cert::{ext::Extension, name::Name, serial_number::SerialNumber, time::Validity};

/// `[0] EXPLICIT INTEGER 2` (v3).
pub(crate) const VERSION_V3: [u8; 5] = [0xA0, 0x03, 0x02, 0x01, 0x02];

/// The fields of a TBSCertificate.
pub(crate) struct TbsFields<'a> {
    pub(crate) serial: &'a SerialNumber,
    pub(crate) signature: &'a AlgorithmIdentifierOwned,
    pub(crate) issuer: &'a Name,
    pub(crate) validity: &'a Validity,
    pub(crate) subject: &'a Name,
    pub(crate) spki_der: &'a [u8],
    pub(crate) extensions: &'a [Extension],
}

impl TbsFields<'_> {
    /// The DER TBSCertificate.
    pub(crate) fn encode(&self) -> der::Result<Vec<u8>> {
        let mut body = Vec::with_capacity(768);
        body.extend_from_slice(&VERSION_V3);
        self.serial.encode_to_vec(&mut body)?;
        self.signature.encode_to_vec(&mut body)?;
        self.issuer.encode_to_vec(&mut body)?;
        self.validity.encode_to_vec(&mut body)?;
        self.subject.encode_to_vec(&mut body)?;
        body.extend_from_slice(self.spki_der);
        if !self.extensions.is_empty() {
            let mut list = Vec::with_capacity(512);
            for ext in self.extensions {
                ext.encode_to_vec(&mut list)?;
            }
            let sequence = tlv(Tag::Sequence, &list)?;
            let explicit = Tag::ContextSpecific {
                constructed: true,
                number: TagNumber(3),
            };
            body.extend_from_slice(&tlv(explicit, &sequence)?);
        }
        tlv(Tag::Sequence, &body)
    }
}

/// The DER Certificate from a TBSCertificate and its signature.
pub(crate) fn assemble_certificate(
    tbs_der: &[u8],
    algorithm: &AlgorithmIdentifierOwned,
    signature: &[u8],
) -> der::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(tbs_der.len() + signature.len() + 32);
    body.extend_from_slice(tbs_der);
    algorithm.encode_to_vec(&mut body)?;
    BitStringRef::from_bytes(signature)?.encode_to_vec(&mut body)?;
    tlv(Tag::Sequence, &body)
}

fn tlv(tag: Tag, body: &[u8]) -> der::Result<Vec<u8>> {
    let header = Header::new(tag, Length::try_from(body.len())?);
    let mut out = Vec::with_capacity(body.len() + 8);
    header.encode_to_vec(&mut out)?;
    out.extend_from_slice(body);
    Ok(out)
}

/// Octets a DER definite length of `len` takes.
pub(crate) fn der_length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    }
}

/// Appends the DER definite length `len` (short form below 128, else long form).
pub(crate) fn push_der_length(out: &mut Vec<u8>, len: usize) {
    let mut header = [0u8; 9];
    let n = write_der_length(&mut header, len);
    out.extend_from_slice(&header[..n]);
}

/// Writes the DER length into `header`, returning how many octets it took.
fn write_der_length(header: &mut [u8; 9], len: usize) -> usize {
    let n = der_length_len(len);
    if n == 1 {
        header[0] = len as u8;
    } else {
        header[0] = 0x80 | (n - 1) as u8;
        for (i, octet) in header[1..n].iter_mut().enumerate() {
            *octet = (len >> (8 * (n - 2 - i))) as u8;
        }
    }
    n
}

/// Closes the TLV whose tag octet is at `start` and whose contents run from
/// `start + 1` to the end of `out`: inserts the DER length after the tag.
pub(crate) fn close_der(out: &mut Vec<u8>, start: usize) {
    let mut header = [0u8; 9];
    let n = write_der_length(&mut header, out.len() - start - 1);
    out.splice(start + 1..start + 1, header[..n].iter().copied());
}
