//! PKCS#10 certificate signing requests (RFC 2986): parsing and signature check.

use der::{
    Decode, Encode,
    asn1::{AnyRef, BitStringRef},
};
use spki::AlgorithmIdentifierRef;
use x509_cert::{
    ext::pkix::{SubjectAltName, name::GeneralName},
    name::Name,
    request::{CertReqInfo, ExtensionReq},
};

use crate::{
    algorithm::SignatureAlgorithm,
    error::CsrError,
    key::PublicKey,
    name::{DistinguishedName, SubjectAltNames},
    oid,
};

/// CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm,
/// signature BIT STRING } (RFC 2986 §4.2), with the info kept as received so the
/// signature is checked over the exact signed bytes.
#[derive(der::Sequence)]
struct RawRequest<'a> {
    info: AnyRef<'a>,
    algorithm: AlgorithmIdentifierRef<'a>,
    signature: BitStringRef<'a>,
}

/// A certificate signing request whose self-signature has been verified.
#[derive(Debug, Clone)]
pub struct CertificateRequest {
    der: Vec<u8>,
    subject_name: Name,
    subject: DistinguishedName,
    public_key: PublicKey,
    signature_algorithm: SignatureAlgorithm,
    alt_names: SubjectAltNames,
    /// Whether a dNSName of the request was an IP address written as text
    /// (kept in `alt_names` as the address it names).
    ip_as_dns_name: bool,
}

impl CertificateRequest {
    /// Parses a PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`) or DER request
    /// and verifies its signature. SM2 requests are verified with the default ID.
    pub fn parse(input: &[u8]) -> Result<Self, CsrError> {
        let trimmed = input.trim_ascii();
        if trimmed.starts_with(b"-----BEGIN") {
            let (label, der) = der::pem::decode_vec(trimmed).map_err(|_| CsrError::Malformed)?;
            if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
                return Err(CsrError::Malformed);
            }
            Self::from_der(&der)
        } else {
            Self::from_der(trimmed)
        }
    }

    /// Parses a DER request and verifies its signature.
    pub fn from_der(der: &[u8]) -> Result<Self, CsrError> {
        let raw = RawRequest::from_der(der).map_err(|_| CsrError::Malformed)?;
        let info_der = raw.info.to_der().map_err(|_| CsrError::Malformed)?;
        let info = CertReqInfo::from_der(&info_der).map_err(|_| CsrError::Malformed)?;
        if info.version != x509_cert::request::Version::V1 {
            return Err(CsrError::Version);
        }
        let spki_der = info.public_key.to_der().map_err(|_| CsrError::Malformed)?;
        let public_key = PublicKey::from_spki_der(&spki_der).map_err(CsrError::Key)?;
        let signature_algorithm =
            SignatureAlgorithm::from_identifier(&raw.algorithm).map_err(CsrError::Key)?;
        let signature = raw.signature.as_bytes().ok_or(CsrError::BadSignature)?;
        public_key
            .verify(signature_algorithm, &info_der, signature)
            .map_err(|e| match e {
                crate::error::KeyError::BadSignature => CsrError::BadSignature,
                other => CsrError::Key(other),
            })?;
        let (alt_names, ip_as_dns_name) = requested_alt_names(&info)?;
        Ok(Self {
            der: der.to_vec(),
            subject: DistinguishedName::from_name(&info.subject),
            subject_name: info.subject,
            public_key,
            signature_algorithm,
            alt_names,
            ip_as_dns_name,
        })
    }

    /// A request for `subject` signed by `key` (no attributes), for example an
    /// issuing CA's request to an external root. It is parsed back and its
    /// signature verified before it is returned.
    pub fn create(
        key: &crate::key::SigningKey,
        subject: &DistinguishedName,
    ) -> Result<Self, crate::Error> {
        let info = CertReqInfo {
            version: x509_cert::request::Version::V1,
            subject: subject.to_name()?,
            public_key: spki::SubjectPublicKeyInfoOwned::from_der(key.public_key().spki_der())?,
            attributes: Default::default(),
        };
        let info_der = info.to_der()?;
        let signature = key.sign_bytes(&info_der)?;
        let algorithm = key.signature_algorithm().algorithm_identifier();
        let der = crate::tbs::assemble_certificate(&info_der, &algorithm, signature.as_bytes())?;
        Ok(Self::from_der(&der)?)
    }

    /// A request from parts whose proof of possession was checked by the caller
    /// (a CMP certificate template signed with `public_key`); it has no DER.
    pub fn from_checked_parts(
        subject_name: Name,
        public_key: PublicKey,
        signature_algorithm: SignatureAlgorithm,
        alt_names: SubjectAltNames,
    ) -> Self {
        Self {
            der: Vec::new(),
            subject: DistinguishedName::from_name(&subject_name),
            subject_name,
            public_key,
            signature_algorithm,
            alt_names,
            ip_as_dns_name: false,
        }
    }

    /// Whether the request wrote an IP address as a dNSName (`DNS:127.0.0.1`)
    /// rather than an iPAddress name: [`Self::alt_names`] holds it as the
    /// address, but a protocol that wants iPAddress names exactly (ACME, RFC
    /// 8738 §4) refuses such a request.
    pub fn names_an_ip_address_as_dns_name(&self) -> bool {
        self.ip_as_dns_name
    }

    /// The request as PEM (`CERTIFICATE REQUEST`).
    pub fn to_pem(&self) -> Result<String, crate::Error> {
        Ok(
            der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &self.der)
                .map_err(der::Error::from)?,
        )
    }

    /// The request as DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject attributes TopCA knows (C, ST, L, O, OU, CN, e-mail).
    pub fn subject(&self) -> &DistinguishedName {
        &self.subject
    }

    /// The subject exactly as encoded in the request.
    pub fn subject_name(&self) -> &Name {
        &self.subject_name
    }

    /// The verified public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The algorithm the request was signed with.
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm
    }

    /// Subject alternative names asked for in the extensionRequest attribute.
    pub fn alt_names(&self) -> &SubjectAltNames {
        &self.alt_names
    }

    /// The e-mail address of the request: the subject's emailAddress, else the
    /// first rfc822Name alternative name.
    pub fn email(&self) -> Option<&str> {
        self.subject
            .email
            .as_deref()
            .or_else(|| self.alt_names.emails.first().map(String::as_str))
    }
}

/// The requested alternative names, and whether a dNSName among them was an
/// IP address as text.
fn requested_alt_names(info: &CertReqInfo) -> Result<(SubjectAltNames, bool), CsrError> {
    let mut names = SubjectAltNames::default();
    let mut ip_as_dns_name = false;
    for attribute in info
        .attributes
        .iter()
        .filter(|a| a.oid == oid::EXTENSION_REQUEST)
    {
        for value in attribute.values.iter() {
            let request: ExtensionReq = value.decode_as().map_err(|_| CsrError::Extensions)?;
            for ext in request
                .0
                .iter()
                .filter(|e| e.extn_id == oid::SUBJECT_ALT_NAME)
            {
                let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                    .map_err(|_| CsrError::Extensions)?;
                ip_as_dns_name |= san.0.iter().any(|name| {
                    matches!(name, GeneralName::DnsName(dns)
                        if dns.as_str().parse::<std::net::IpAddr>().is_ok())
                });
                let found = SubjectAltNames::from_general_names(&san.0)
                    .map_err(|_| CsrError::Extensions)?;
                for dns in found.dns_names {
                    names.add_host(&dns).map_err(|_| CsrError::Extensions)?;
                }
                for ip in found.ip_addresses {
                    if !names.ip_addresses.contains(&ip) {
                        names.ip_addresses.push(ip);
                    }
                }
                for email in found.emails {
                    names.add_email(&email).map_err(|_| CsrError::Extensions)?;
                }
            }
        }
    }
    Ok((names, ip_as_dns_name))
}
