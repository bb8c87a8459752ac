//! Certificate preview (证书预览): a general view (subject, issuer, validity, serial,
//! purposes) and a detailed view listing every field and extension, each with a
//! one-line summary and its full value.

use der::{Decode, Encode, asn1::ObjectIdentifier};
use sha2::{Digest, Sha256};
use x509_cert::ext::{
    Extension,
    pkix::{
        AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
        CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
        SubjectKeyIdentifier,
        name::{DistributionPointName, GeneralName},
    },
};

use crate::{algorithm::SignatureAlgorithm, key::PublicKey, name::display_name, oid};

/// The two views of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificatePreview {
    /// The general view.
    pub general: GeneralView,
    /// Every field and extension, in certificate order, then the fingerprints.
    pub fields: Vec<PreviewField>,
}

/// The general view: who, by whom, when, which serial, what for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneralView {
    /// Subject, `C=CN, O=…, CN=…`.
    pub subject: String,
    /// Issuer, same form.
    pub issuer: String,
    /// Serial number, upper-case hex.
    pub serial_hex: String,
    /// Start of validity, RFC 3339 UTC.
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// Readable purposes from key usage, extended key usage and basic constraints.
    pub purposes: Vec<String>,
}

/// One row of the detailed view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewField {
    /// Field name, e.g. "Serial number" or "Key usage".
    pub name: String,
    /// Short one-line form for the list.
    pub summary: String,
    /// The full value (may span lines), shown when the row is opened.
    pub value: String,
    /// For extensions, whether it is critical.
    pub critical: Option<bool>,
}

impl PreviewField {
    fn plain(name: &str, value: String) -> Self {
        Self {
            name: name.to_owned(),
            summary: summarize(&value),
            value,
            critical: None,
        }
    }
}

/// Builds both views of `certificate`. Never fails: what cannot be decoded is shown
/// as hex with a note.
pub fn preview(certificate: &x509_cert::Certificate) -> CertificatePreview {
    let tbs = certificate.tbs_certificate();
    let subject = display_name(tbs.subject());
    let issuer = display_name(tbs.issuer());
    let serial_hex = hex(tbs.serial_number().as_bytes(), "");
    let not_before = tbs.validity().not_before.to_date_time().to_string();
    let not_after = tbs.validity().not_after.to_date_time().to_string();
    let signature_name = SignatureAlgorithm::from_oid(certificate.signature_algorithm().oid)
        .map(|a| a.name().to_owned())
        .unwrap_or_else(|_| certificate.signature_algorithm().oid.to_string());

    let mut fields = vec![
        PreviewField::plain("Version", format!("V{}", tbs.version() as u8 + 1)),
        PreviewField::plain("Serial number", serial_hex.clone()),
        PreviewField::plain("Signature algorithm", signature_name),
        PreviewField::plain("Issuer", issuer.clone()),
        PreviewField::plain("Validity not before", not_before.clone()),
        PreviewField::plain("Validity not after", not_after.clone()),
        PreviewField::plain("Subject", subject.clone()),
        public_key_field(tbs.subject_public_key_info()),
    ];
    let extensions: &[Extension] = tbs.extensions().map(|e| e.as_slice()).unwrap_or_default();
    fields.extend(extensions.iter().map(extension_field));
    let der = certificate.to_der().unwrap_or_default();
    fields.push(PreviewField::plain(
        "SHA-256 fingerprint",
        hex(&Sha256::digest(&der), ":"),
    ));
    fields.push(PreviewField::plain(
        "SM3 fingerprint",
        hex(&sm3::Sm3::digest(&der), ":"),
    ));

    CertificatePreview {
        general: GeneralView {
            subject,
            issuer,
            serial_hex,
            not_before,
            not_after,
            purposes: purposes(extensions),
        },
        fields,
    }
}

fn public_key_field(spki: &spki::SubjectPublicKeyInfoOwned) -> PreviewField {
    let bytes = spki.subject_public_key.raw_bytes();
    let algorithm = spki
        .to_der()
        .ok()
        .and_then(|der| PublicKey::from_spki_der(&der).ok())
        .map(|key| key.kind().to_string())
        .unwrap_or_else(|| format!("{} (not supported)", spki.algorithm.oid));
    PreviewField {
        name: "Public key".into(),
        summary: algorithm.clone(),
        value: format!("{algorithm}\n{}", hex(bytes, ":")),
        critical: None,
    }
}

fn extension_field(ext: &Extension) -> PreviewField {
    let bytes = ext.extn_value.as_bytes();
    let (name, decoded) = match ext.extn_id {
        o if o == oid::BASIC_CONSTRAINTS => (
            "Basic constraints",
            decode::<BasicConstraints>(bytes).map(|bc| match (bc.ca, bc.path_len_constraint) {
                (true, Some(n)) => format!("CA:TRUE, pathlen:{n}"),
                (true, None) => "CA:TRUE".to_owned(),
                (false, _) => "CA:FALSE".to_owned(),
            }),
        ),
        o if o == oid::KEY_USAGE => (
            "Key usage",
            decode::<KeyUsage>(bytes).map(|ku| key_usages(&ku).join(", ")),
        ),
        o if o == oid::EXT_KEY_USAGE => (
            "Extended key usage",
            decode::<ExtendedKeyUsage>(bytes).map(|eku| {
                eku.0
                    .iter()
                    .map(|o| purpose_name(*o))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        ),
        o if o == oid::SUBJECT_KEY_IDENTIFIER => (
            "Subject key identifier",
            decode::<SubjectKeyIdentifier>(bytes).map(|ski| hex(ski.0.as_bytes(), ":")),
        ),
        o if o == oid::AUTHORITY_KEY_IDENTIFIER => (
            "Authority key identifier",
            decode::<AuthorityKeyIdentifier>(bytes).map(|aki| {
                aki.key_identifier
                    .map(|id| format!("keyid:{}", hex(id.as_bytes(), ":")))
                    .unwrap_or_default()
            }),
        ),
        o if o == oid::SUBJECT_ALT_NAME => (
            "Subject alternative name",
            decode::<SubjectAltName>(bytes).map(|san| {
                san.0
                    .iter()
                    .map(general_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        ),
        o if o == oid::CRL_DISTRIBUTION_POINTS => (
            "CRL distribution points",
            decode::<CrlDistributionPoints>(bytes).map(|dps| {
                dps.0
                    .iter()
                    .filter_map(|dp| match &dp.distribution_point {
                        Some(DistributionPointName::FullName(names)) => Some(
                            names
                                .iter()
                                .map(general_name)
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
        ),
        o if o == oid::AUTHORITY_INFO_ACCESS => (
            "Authority information access",
            decode::<AuthorityInfoAccessSyntax>(bytes).map(|aia| {
                aia.0
                    .iter()
                    .map(|ad| {
                        let method = match ad.access_method {
                            m if m == oid::AD_OCSP => "OCSP".to_owned(),
                            m if m == oid::AD_CA_ISSUERS => "CA Issuers".to_owned(),
                            m => m.to_string(),
                        };
                        format!("{method} - {}", general_name(&ad.access_location))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
        ),
        o if o == oid::CERTIFICATE_POLICIES => (
            "Certificate policies",
            decode::<CertificatePolicies>(bytes).map(|p| {
                p.0.iter()
                    .map(|pi| pi.policy_identifier.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        ),
        _ => ("", None),
    };
    let (name, value) = match (name, decoded) {
        ("", _) => (ext.extn_id.to_string(), hex(bytes, ":")),
        (name, Some(value)) => (name.to_owned(), value),
        (name, None) => (
            name.to_owned(),
            format!("(could not be decoded) {}", hex(bytes, ":")),
        ),
    };
    PreviewField {
        summary: summarize(&value),
        name,
        value,
        critical: Some(ext.critical),
    }
}

fn decode<'a, T: Decode<'a>>(bytes: &'a [u8]) -> Option<T> {
    T::from_der(bytes).ok()
}

fn key_usages(ku: &KeyUsage) -> Vec<String> {
    ku.0.into_iter()
        .map(|usage| {
            match usage {
                KeyUsages::DigitalSignature => "Digital signature",
                KeyUsages::NonRepudiation => "Non-repudiation",
                KeyUsages::KeyEncipherment => "Key encipherment",
                KeyUsages::DataEncipherment => "Data encipherment",
                KeyUsages::KeyAgreement => "Key agreement",
                KeyUsages::KeyCertSign => "Certificate signing",
                KeyUsages::CRLSign => "CRL signing",
                KeyUsages::EncipherOnly => "Encipher only",
                KeyUsages::DecipherOnly => "Decipher only",
            }
            .to_owned()
        })
        .collect()
}

fn purpose_name(purpose: ObjectIdentifier) -> String {
    match purpose {
        o if o == oid::KP_SERVER_AUTH => "TLS server authentication".to_owned(),
        o if o == oid::KP_CLIENT_AUTH => "TLS client authentication".to_owned(),
        o if o == oid::KP_EMAIL_PROTECTION => "E-mail protection".to_owned(),
        o if o == oid::KP_CODE_SIGNING => "Code signing".to_owned(),
        o if o == oid::KP_TIME_STAMPING => "Time stamping".to_owned(),
        o if o == oid::KP_OCSP_SIGNING => "OCSP signing".to_owned(),
        other => other.to_string(),
    }
}

fn purposes(extensions: &[Extension]) -> Vec<String> {
    let mut out = Vec::new();
    for ext in extensions {
        let bytes = ext.extn_value.as_bytes();
        if ext.extn_id == oid::BASIC_CONSTRAINTS
            && decode::<BasicConstraints>(bytes).is_some_and(|bc| bc.ca)
        {
            out.push("Certificate authority".to_owned());
        } else if ext.extn_id == oid::KEY_USAGE {
            out.extend(
                decode::<KeyUsage>(bytes)
                    .map(|ku| key_usages(&ku))
                    .unwrap_or_default(),
            );
        } else if ext.extn_id == oid::EXT_KEY_USAGE {
            out.extend(
                decode::<ExtendedKeyUsage>(bytes)
                    .map(|eku| eku.0.iter().map(|o| purpose_name(*o)).collect::<Vec<_>>())
                    .unwrap_or_default(),
            );
        }
    }
    out
}

/// One GeneralName as OpenSSL prints it (`DNS:…`, `IP:…`, `email:…`, `URI:…`).
pub(crate) fn general_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(dns) => format!("DNS:{}", dns.as_str()),
        GeneralName::Rfc822Name(email) => format!("email:{}", email.as_str()),
        GeneralName::UniformResourceIdentifier(uri) => format!("URI:{}", uri.as_str()),
        GeneralName::DirectoryName(dn) => format!("DirName:{}", display_name(dn)),
        GeneralName::IpAddress(octets) => {
            let b = octets.as_bytes();
            let ip = <[u8; 4]>::try_from(b)
                .map(std::net::IpAddr::from)
                .or_else(|_| <[u8; 16]>::try_from(b).map(std::net::IpAddr::from));
            match ip {
                Ok(ip) => format!("IP:{ip}"),
                Err(_) => format!("IP:{}", hex(b, ":")),
            }
        }
        GeneralName::RegisteredId(id) => format!("RID:{id}"),
        GeneralName::OtherName(other) => format!("othername:{}", other.type_id),
        _ => "(other name form)".to_owned(),
    }
}

fn hex(bytes: &[u8], separator: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(separator)
}

/// The first line of `value`, cut to 80 characters.
fn summarize(value: &str) -> String {
    let first = value.lines().next().unwrap_or_default();
    let mut out: String = first.chars().take(80).collect();
    if first.chars().count() > 80 || value.lines().nth(1).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::{
        algorithm::KeyAlgorithm,
        key::SigningKey,
        name::DistinguishedName,
        random::OsRandom,
        serial::random_serial,
        tbs::{TbsFields, assemble_certificate},
    };
    use der::asn1::OctetString;
    use x509_cert::time::Validity;

    /// A certificate with a garbage keyUsage value and an unknown extension; its
    /// signature is not meant to verify, only to be shown.
    fn odd_certificate() -> x509_cert::Certificate {
        let key = SigningKey::generate(KeyAlgorithm::Sm2, &OsRandom).unwrap();
        let name = DistinguishedName::with_common_name("张三")
            .organization("天诚安信")
            .to_name()
            .unwrap();
        let extensions = vec![
            Extension {
                extn_id: oid::KEY_USAGE,
                critical: true,
                extn_value: OctetString::new(vec![0xde, 0xad]).unwrap(),
            },
            Extension {
                extn_id: ObjectIdentifier::new_unwrap("1.2.3.4.5"),
                critical: false,
                extn_value: OctetString::new(vec![0x01, 0x02, 0xff]).unwrap(),
            },
        ];
        let validity = Validity::from_now(std::time::Duration::from_secs(3600)).unwrap();
        let algorithm = key.signature_algorithm().algorithm_identifier();
        let tbs = TbsFields {
            serial: &random_serial(&OsRandom, std::time::SystemTime::now()).unwrap(),
            signature: &algorithm,
            issuer: &name,
            validity: &validity,
            subject: &name,
            spki_der: key.public_key().spki_der(),
            extensions: &extensions,
        }
        .encode()
        .unwrap();
        let der = assemble_certificate(&tbs, &algorithm, &[0x30, 0x00]).unwrap();
        x509_cert::Certificate::from_der(&der).unwrap()
    }

    #[test]
    fn undecodable_and_unknown_extensions_are_shown_as_hex() {
        let view = preview(&odd_certificate());
        let ku = view.fields.iter().find(|f| f.name == "Key usage").unwrap();
        assert!(
            ku.value.starts_with("(could not be decoded) DE:AD"),
            "{}",
            ku.value
        );
        assert_eq!(ku.critical, Some(true));
        let unknown = view.fields.iter().find(|f| f.name == "1.2.3.4.5").unwrap();
        assert_eq!(unknown.value, "01:02:FF");
        assert_eq!(view.general.subject, "O=天诚安信, CN=张三");
        let key = view.fields.iter().find(|f| f.name == "Public key").unwrap();
        assert_eq!(key.summary, "SM2");
        assert_eq!(view.fields.last().unwrap().name, "SM3 fingerprint");
        assert_eq!(view.fields.first().unwrap().value, "V3");
    }

    #[test]
    fn summaries_are_one_short_line() {
        assert_eq!(summarize("a\nb"), "a…");
        assert_eq!(summarize(&"x".repeat(100)).chars().count(), 81);
        assert_eq!(summarize("short"), "short");
    }
}
