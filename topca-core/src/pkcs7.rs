//! PKCS#7 / CMS "certs-only" bundles: what `certChain.p7b` is.
//!
//! A degenerate SignedData with no signers that only carries certificates
//! (RFC 5652 §5, RFC 8894 §3.4 "degenerate certificates-only"):
//!
//! ```text
//! ContentInfo ::= SEQUENCE {
//!     contentType  ContentType,                       -- id-signedData
//!     content  [0] EXPLICIT ANY DEFINED BY contentType }
//! SignedData ::= SEQUENCE {
//!     version           CMSVersion,                   -- 1
//!     digestAlgorithms  SET OF DigestAlgorithmIdentifier,   -- empty
//!     encapContentInfo  EncapsulatedContentInfo,      -- id-data, no content
//!     certificates  [0] IMPLICIT CertificateSet OPTIONAL,
//!     crls          [1] IMPLICIT RevocationInfoChoices OPTIONAL,
//!     signerInfos       SET OF SignerInfo }           -- empty
//! ```

use der::{
    Decode, Encode, Sequence,
    asn1::{Any, ObjectIdentifier, SetOfVec},
    pem::LineEnding,
};
use x509_cert::Certificate;

/// id-signedData (RFC 5652 §5.1).
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-data (RFC 5652 §4).
pub(crate) const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");

/// ContentInfo (RFC 5652 §3), shared by PKCS#7, PKCS#12 and CMS envelopes.
#[derive(Sequence)]
pub(crate) struct ContentInfo {
    /// What the content is.
    pub(crate) content_type: ObjectIdentifier,
    /// The content.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub(crate) content: Any,
}

/// EncapsulatedContentInfo with the content absent (RFC 5652 §5.2).
#[derive(Sequence)]
struct EncapsulatedContentInfo {
    e_content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    e_content: Option<Any>,
}

/// SignedData restricted to what a certs-only bundle holds (RFC 5652 §5.1).
#[derive(Sequence)]
struct SignedData {
    version: u8,
    digest_algorithms: SetOfVec<Any>,
    encap_content_info: EncapsulatedContentInfo,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    certificates: Option<SetOfVec<Certificate>>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    crls: Option<SetOfVec<Any>>,
    signer_infos: SetOfVec<Any>,
}

/// Encodes `certificates` as a certs-only SignedData (DER). DER orders a SET OF by
/// encoding, so readers see the certificates in that order, not the given one.
pub fn certs_only_der(certificates: &[Certificate]) -> Result<Vec<u8>, der::Error> {
    let mut set = SetOfVec::new();
    for cert in certificates {
        set.insert(cert.clone())?;
    }
    let signed = SignedData {
        version: 1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            e_content_type: ID_DATA,
            e_content: None,
        },
        certificates: Some(set),
        crls: None,
        signer_infos: SetOfVec::new(),
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed)?,
    }
    .to_der()
}

/// The same bundle, PEM-armoured with the label `PKCS7` (as `openssl crl2pkcs7` writes).
pub fn certs_only_pem(certificates: &[Certificate]) -> Result<String, der::Error> {
    let der = certs_only_der(certificates)?;
    Ok(der::pem::encode_string("PKCS7", LineEnding::LF, &der)?)
}

/// Reads the certificates of a certs-only bundle (DER, or PEM labelled `PKCS7`).
pub fn parse_certs_only(bytes: &[u8]) -> Result<Vec<Certificate>, der::Error> {
    let trimmed = bytes.trim_ascii();
    let der = if trimmed.starts_with(b"-----BEGIN") {
        der::pem::decode_vec(trimmed)?.1
    } else {
        trimmed.to_vec()
    };
    let info = ContentInfo::from_der(&der)?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(der::ErrorKind::OidUnknown {
            oid: info.content_type,
        }
        .into());
    }
    let signed: SignedData = info.content.decode_as()?;
    Ok(signed
        .certificates
        .map(SetOfVec::into_vec)
        .unwrap_or_default())
}
