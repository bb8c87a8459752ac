//! EST (RFC 7030) checks that are not HTTP: the holder of a TLS client
//! certificate (§3.3.2), the names a re-enrollment keeps (§4.2.2), the CSR
//! attributes that ask for an enveloped server-generated key (§4.4.1.2) and
//! the channel binding a CSR carries in challengePassword (§3.5).

use der::{
    Decode, Encode,
    asn1::{ObjectIdentifier as Oid, OctetString, PrintableStringRef, Utf8StringRef},
};
use x509_cert::{
    ext::pkix::{ExtendedKeyUsage, SubjectAltName},
    request::CertReqInfo,
};

use crate::{
    ca::CertificateAuthority,
    certificate::Certificate,
    csr::CertificateRequest,
    error::{Error, RaError},
    name::{DistinguishedName, SubjectAltNames},
    oid,
    profile::ProfileKind,
    ra::AccountId,
    store::{CertificateStatus, CertificateStore},
};

/// challengePassword (PKCS#9), where an EST client puts its channel binding.
pub const CHALLENGE_PASSWORD: Oid = Oid::new_unwrap("1.2.840.113549.1.9.7");
/// id-aa-decryptKeyID (RFC 7030 §4.4.1.1): a symmetric key to envelope with.
pub const DECRYPT_KEY_IDENTIFIER: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.37");
/// id-aa-asymmDecryptKeyID (RFC 7030 §4.4.1.2): an asymmetric key to envelope to.
pub const ASYMMETRIC_DECRYPT_KEY_IDENTIFIER: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.54");

/// A TLS client certificate that authenticates an EST request.
#[derive(Debug, Clone)]
pub struct CertificateHolder {
    /// The certificate.
    pub certificate: Certificate,
    /// Its serial number (hex).
    pub serial: String,
    /// The account it belongs to.
    pub account: AccountId,
}

/// The holder of the client certificate `der` when this CA issued it (same
/// DER as stored), it is valid now, not revoked, and belongs to an account;
/// `None` otherwise (a certificate alone says nothing more).
pub fn holder_of<S: CertificateStore>(
    ca: &CertificateAuthority,
    store: &S,
    der: &[u8],
) -> Result<Option<CertificateHolder>, Error> {
    let Ok(certificate) = Certificate::from_der(der) else {
        return Ok(None);
    };
    let signed_here = ca
        .certificate()
        .public_key()
        .is_ok_and(|key| certificate.verify_signed_by(&key).is_ok());
    if !signed_here {
        return Ok(None);
    }
    let serial = certificate.serial_hex();
    let Some(record) = store.certificate(&serial)?.filter(|r| r.der == der) else {
        return Ok(None);
    };
    let now = ca.environment().clock().now();
    if record.status != CertificateStatus::Valid
        || now >= record.not_after
        || now < record.not_before
    {
        return Ok(None);
    }
    Ok(record.account.map(|account| CertificateHolder {
        certificate,
        serial,
        account,
    }))
}

/// The subject alternative names of `certificate`.
pub fn alt_names_of(certificate: &Certificate) -> Result<SubjectAltNames, Error> {
    let mut names = SubjectAltNames::default();
    let extensions = certificate.x509().tbs_certificate().extensions();
    for ext in extensions
        .into_iter()
        .flatten()
        .filter(|e| e.extn_id == oid::SUBJECT_ALT_NAME)
    {
        let san = SubjectAltName::from_der(ext.extn_value.as_bytes())?;
        let found = SubjectAltNames::from_general_names(&san.0)?;
        names.dns_names.extend(found.dns_names);
        names.ip_addresses.extend(found.ip_addresses);
        names.emails.extend(found.emails);
    }
    Ok(names)
}

fn mismatch(problem: &str) -> Error {
    RaError::InvalidField {
        field: "simplereenroll",
        problem: problem.to_owned(),
    }
    .into()
}

/// Whether every attribute `asked` names is `old`'s (the CA completes a
/// subject with the account's C, O and OU, which a device's CSR may leave out).
fn subject_within(asked: &DistinguishedName, old: &DistinguishedName) -> bool {
    let same = |a: &Option<String>, b: &Option<String>| a.is_none() || a == b;
    asked.common_name.is_some()
        && same(&asked.common_name, &old.common_name)
        && same(&asked.country, &old.country)
        && same(&asked.state, &old.state)
        && same(&asked.locality, &old.locality)
        && same(&asked.organization, &old.organization)
        && same(&asked.email, &old.email)
        && (asked.organizational_units.is_empty()
            || asked.organizational_units == old.organizational_units)
}

/// The request to issue for a re-enrollment of `old` (RFC 7030 §4.2.2): the
/// CSR's subject must name the old certificate's common name (and no other
/// value than the old subject's) and its alternative names must be among the
/// old ones; the new certificate gets the old subject and names with the
/// CSR's key.
pub fn reenrollment(
    old: &Certificate,
    csr: &CertificateRequest,
) -> Result<CertificateRequest, Error> {
    if !subject_within(csr.subject(), &old.subject()) {
        return Err(mismatch(
            "the CSR's subject must be the one of the certificate being renewed",
        ));
    }
    let kept = alt_names_of(old)?;
    let asked = csr.alt_names();
    let within = asked.dns_names.iter().all(|n| kept.dns_names.contains(n))
        && asked
            .ip_addresses
            .iter()
            .all(|n| kept.ip_addresses.contains(n))
        && asked.emails.iter().all(|n| kept.emails.contains(n));
    if !within {
        return Err(mismatch(
            "the CSR's alternative names must be those of the certificate being renewed",
        ));
    }
    Ok(CertificateRequest::from_checked_parts(
        old.x509().tbs_certificate().subject().clone(),
        csr.public_key().clone(),
        csr.signature_algorithm(),
        kept,
    ))
}

/// The profile a re-enrollment of `old` keeps: TLS client when its extended
/// key usage names client authentication and not server authentication, TLS
/// server otherwise (a device renewing a client certificate gets a client
/// certificate again, never a server one).
pub fn reenrollment_profile(old: &Certificate) -> ProfileKind {
    let mut purposes = Vec::new();
    let extensions = old.x509().tbs_certificate().extensions();
    for ext in extensions
        .into_iter()
        .flatten()
        .filter(|e| e.extn_id == oid::EXT_KEY_USAGE)
    {
        if let Ok(usage) = ExtendedKeyUsage::from_der(ext.extn_value.as_bytes()) {
            purposes.extend(usage.0);
        }
    }
    if purposes.contains(&oid::KP_CLIENT_AUTH) && !purposes.contains(&oid::KP_SERVER_AUTH) {
        ProfileKind::TlsClient
    } else {
        ProfileKind::TlsServer
    }
}

/// The DER of each value of the CSR attribute `attribute` (none when absent or
/// when the request has no DER).
pub fn attribute_values(csr: &CertificateRequest, attribute: Oid) -> Vec<Vec<u8>> {
    let Some(info) = request_info(csr.der()) else {
        return Vec::new();
    };
    info.attributes
        .iter()
        .filter(|a| a.oid == attribute)
        .flat_map(|a| a.values.iter().filter_map(|v| v.to_der().ok()))
        .collect()
}

/// The certificationRequestInfo of a request's DER.
fn request_info(der: &[u8]) -> Option<CertReqInfo> {
    #[derive(der::Sequence)]
    struct Raw {
        info: CertReqInfo,
        algorithm: der::Any,
        signature: der::Any,
    }
    Raw::from_der(der).ok().map(|r| r.info)
}

/// The text of a challengePassword value (a DirectoryString: UTF8String or
/// PrintableString), or of an OCTET STRING.
pub fn attribute_text(der: &[u8]) -> Option<String> {
    if let Ok(s) = Utf8StringRef::from_der(der) {
        return Some(s.as_str().to_owned());
    }
    if let Ok(s) = PrintableStringRef::from_der(der) {
        return Some(s.as_str().to_owned());
    }
    OctetString::from_der(der)
        .ok()
        .and_then(|o| String::from_utf8(o.as_bytes().to_vec()).ok())
}

/// Whether `csr` is bound to the TLS channel whose binding value is `binding`
/// (RFC 7030 §3.5): with no challengePassword there is nothing to check
/// (`true`); otherwise every value must be the base64 of `binding`. Without a
/// binding (plain HTTP) a challengePassword cannot be checked and is refused.
pub fn channel_bound(csr: &CertificateRequest, binding: Option<&[u8]>) -> bool {
    use base64::Engine;
    let values = attribute_values(csr, CHALLENGE_PASSWORD);
    if values.is_empty() {
        return true;
    }
    let Some(binding) = binding else {
        return false;
    };
    let expected = base64::engine::general_purpose::STANDARD.encode(binding);
    values.iter().all(|v| {
        attribute_text(v).is_some_and(|text| {
            subtle::ConstantTimeEq::ct_eq(text.trim().as_bytes(), expected.as_bytes()).into()
        })
    })
}

/// What a `serverkeygen` request asks about the returned key (RFC 7030
/// §4.4.1): in clear (under TLS), or enveloped for an asymmetric key (the
/// client's TLS certificate) or a symmetric one (not offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDelivery {
    /// PKCS#8, protected by TLS only.
    Clear,
    /// CMS EnvelopedData to the client's certificate key.
    Asymmetric,
    /// CMS EnvelopedData under a shared symmetric key.
    Symmetric,
}

/// How `csr` asks for its server-generated key.
pub fn key_delivery(csr: &CertificateRequest) -> KeyDelivery {
    if !attribute_values(csr, ASYMMETRIC_DECRYPT_KEY_IDENTIFIER).is_empty() {
        KeyDelivery::Asymmetric
    } else if !attribute_values(csr, DECRYPT_KEY_IDENTIFIER).is_empty() {
        KeyDelivery::Symmetric
    } else {
        KeyDelivery::Clear
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use der::asn1::{SetOfVec, Utf8StringRef};
    use x509_cert::attr::Attribute;

    use super::*;
    use crate::{algorithm::KeyAlgorithm, key::SigningKey, random::OsRandom};

    /// A request for CN=device.example.cn with `attributes` (OID, UTF8String).
    fn request(attributes: &[(Oid, &str)]) -> CertificateRequest {
        let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
        let mut set = SetOfVec::new();
        for (oid, text) in attributes {
            let mut values = SetOfVec::new();
            values
                .insert(der::Any::encode_from(&Utf8StringRef::new(text).unwrap()).unwrap())
                .unwrap();
            set.insert(Attribute { oid: *oid, values }).unwrap();
        }
        let info = CertReqInfo {
            version: x509_cert::request::Version::V1,
            subject: DistinguishedName::with_common_name("device.example.cn")
                .to_name()
                .unwrap(),
            public_key: spki::SubjectPublicKeyInfoOwned::from_der(key.public_key().spki_der())
                .unwrap(),
            attributes: set,
        };
        let info_der = info.to_der().unwrap();
        let signature = key.sign_bytes(&info_der).unwrap();
        let algorithm = key.signature_algorithm().algorithm_identifier();
        let der =
            crate::tbs::assemble_certificate(&info_der, &algorithm, signature.as_bytes()).unwrap();
        CertificateRequest::from_der(&der).unwrap()
    }

    #[test]
    fn a_challenge_password_must_be_the_binding() {
        use base64::Engine;
        let binding = [7u8; 32];
        let text = base64::engine::general_purpose::STANDARD.encode(binding);
        let bound = request(&[(CHALLENGE_PASSWORD, &text)]);
        assert!(channel_bound(&bound, Some(&binding)));
        assert!(!channel_bound(&bound, Some(&[8u8; 32])), "another channel");
        assert!(!channel_bound(&bound, None), "plain HTTP cannot check it");
        let wrong = request(&[(CHALLENGE_PASSWORD, "secret")]);
        assert!(!channel_bound(&wrong, Some(&binding)));
        let plain = request(&[]);
        assert!(channel_bound(&plain, Some(&binding)) && channel_bound(&plain, None));
    }

    #[test]
    fn key_delivery_follows_the_decrypt_key_attributes() {
        assert_eq!(key_delivery(&request(&[])), KeyDelivery::Clear);
        assert_eq!(
            key_delivery(&request(&[(ASYMMETRIC_DECRYPT_KEY_IDENTIFIER, "x")])),
            KeyDelivery::Asymmetric
        );
        assert_eq!(
            key_delivery(&request(&[(DECRYPT_KEY_IDENTIFIER, "x")])),
            KeyDelivery::Symmetric
        );
    }

    #[test]
    fn a_reenrollment_subject_names_only_the_old_values() {
        let old = DistinguishedName {
            organization: Some("TopCA".into()),
            ..DistinguishedName::with_common_name("device.example.cn")
        };
        let asked = DistinguishedName::with_common_name("device.example.cn");
        assert!(subject_within(&asked, &old));
        assert!(subject_within(&old, &old));
        assert!(!subject_within(
            &DistinguishedName::with_common_name("other.example.cn"),
            &old
        ));
        let other_o = DistinguishedName {
            organization: Some("Evil".into()),
            ..asked.clone()
        };
        assert!(!subject_within(&other_o, &old));
        assert!(!subject_within(&DistinguishedName::default(), &old));
    }
}
