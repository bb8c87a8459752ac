//! Distinguished names with UTF-8 values, and subject alternative names.
//!
//! Attribute values are encoded as UTF8String (RFC 5280 §4.1.2.4: "CAs MUST use
//! UTF8String"), except countryName (PrintableString, X.520) and emailAddress
//! (IA5String, PKCS#9), so Chinese O/OU/CN values such as `天诚安信` survive unchanged.

use std::{fmt, net::IpAddr};

use der::{
    Any, Decode, Encode, Tag, Tagged,
    asn1::{BmpString, Ia5String, PrintableString},
};
use x509_cert::{
    attr::AttributeTypeAndValue,
    ext::pkix::name::GeneralName,
    name::{Name, RdnSequence, RelativeDistinguishedName},
};

use crate::{
    error::NameError,
    oid,
    tbs::{close_der, der_length_len, push_der_length},
};

/// RFC 5280 appendix A upper bounds, in characters.
const MAX_COMMON_NAME: usize = 64;
const MAX_ORGANIZATION: usize = 64;
const MAX_UNIT: usize = 64;
const MAX_LOCALITY: usize = 128;
const MAX_STATE: usize = 128;
const MAX_EMAIL: usize = 255;

/// A distinguished name as TopCA issues it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistinguishedName {
    /// countryName: two letters, e.g. `CN`.
    pub country: Option<String>,
    /// stateOrProvinceName.
    pub state: Option<String>,
    /// localityName.
    pub locality: Option<String>,
    /// organizationName (O).
    pub organization: Option<String>,
    /// organizationalUnitName (OU), outermost first.
    pub organizational_units: Vec<String>,
    /// commonName (CN).
    pub common_name: Option<String>,
    /// emailAddress (PKCS#9).
    pub email: Option<String>,
}

impl DistinguishedName {
    /// A name with only a common name.
    pub fn with_common_name(common_name: impl Into<String>) -> Self {
        Self {
            common_name: Some(common_name.into()),
            ..Self::default()
        }
    }

    /// Sets the country.
    pub fn country(mut self, value: impl Into<String>) -> Self {
        self.country = Some(value.into());
        self
    }

    /// Sets the organization (O).
    pub fn organization(mut self, value: impl Into<String>) -> Self {
        self.organization = Some(value.into());
        self
    }

    /// Adds an organizational unit (OU).
    pub fn unit(mut self, value: impl Into<String>) -> Self {
        self.organizational_units.push(value.into());
        self
    }

    /// Sets the e-mail address.
    pub fn email(mut self, value: impl Into<String>) -> Self {
        self.email = Some(value.into());
        self
    }

    /// Checks every attribute and encodes the name (order C, ST, L, O, OU, CN, E).
    pub fn to_name(&self) -> Result<Name, NameError> {
        let mut rdns = RdnSequence::default();
        self.for_each_attribute(|oid, tag, value| {
            let value = Any::new(tag, value.as_bytes()).map_err(|_| attribute_error(oid, value))?;
            let atv = AttributeTypeAndValue { oid, value };
            let rdn = RelativeDistinguishedName::try_from(vec![atv])
                .map_err(|_| NameError::Missing("value"))?;
            rdns.push(rdn);
            Ok(())
        })?;
        if rdns.is_empty() {
            return Err(NameError::Missing("subject"));
        }
        let der = rdns.to_der().map_err(|_| NameError::Missing("subject"))?;
        Name::from_der(&der).map_err(|_| NameError::Missing("subject"))
    }

    /// Checks every attribute like [`DistinguishedName::to_name`] and appends the
    /// DER Name to `out` directly (the same bytes `to_name` encodes to, without
    /// building and re-decoding the x509-cert structure).
    pub(crate) fn write_der(&self, out: &mut Vec<u8>) -> Result<(), NameError> {
        let start = out.len();
        out.push(0x30);
        let mut count = 0usize;
        self.for_each_attribute(|oid, tag, value| {
            // SET { SEQUENCE { OID, value } }: one attribute per RDN.
            let oid = oid.as_bytes();
            let value_tlv = 1 + der_length_len(value.len()) + value.len();
            let atv = 2 + oid.len() + value_tlv;
            let set = 1 + der_length_len(atv) + atv;
            out.push(0x31);
            push_der_length(out, set);
            out.push(0x30);
            push_der_length(out, atv);
            out.push(0x06);
            push_der_length(out, oid.len());
            out.extend_from_slice(oid);
            out.push(string_tag_octet(tag));
            push_der_length(out, value.len());
            out.extend_from_slice(value.as_bytes());
            count += 1;
            Ok(())
        })
        .inspect_err(|_| out.truncate(start))?;
        if count == 0 {
            out.truncate(start);
            return Err(NameError::Missing("subject"));
        }
        close_der(out, start);
        Ok(())
    }

    /// Validates the attributes and hands each to `emit` in encoding order
    /// (C, ST, L, O, OU…, CN, E) with its OID, string type and value: the one place
    /// both encoders take their rules from.
    fn for_each_attribute(
        &self,
        mut emit: impl FnMut(der::asn1::ObjectIdentifier, Tag, &str) -> Result<(), NameError>,
    ) -> Result<(), NameError> {
        if let Some(country) = &self.country {
            let country = country.trim();
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(NameError::Country);
            }
            let upper = country.to_ascii_uppercase();
            PrintableString::new(&upper).map_err(|_| NameError::Country)?;
            emit(oid::COUNTRY, Tag::PrintableString, &upper)?;
        }
        if let Some(v) = &self.state {
            emit(
                oid::STATE,
                Tag::Utf8String,
                utf8("state or province", v, MAX_STATE)?,
            )?;
        }
        if let Some(v) = &self.locality {
            emit(
                oid::LOCALITY,
                Tag::Utf8String,
                utf8("locality", v, MAX_LOCALITY)?,
            )?;
        }
        if let Some(v) = &self.organization {
            emit(
                oid::ORGANIZATION,
                Tag::Utf8String,
                utf8("organization (O)", v, MAX_ORGANIZATION)?,
            )?;
        }
        for v in &self.organizational_units {
            emit(
                oid::ORGANIZATIONAL_UNIT,
                Tag::Utf8String,
                utf8("organizational unit (OU)", v, MAX_UNIT)?,
            )?;
        }
        if let Some(v) = &self.common_name {
            emit(
                oid::COMMON_NAME,
                Tag::Utf8String,
                utf8("common name (CN)", v, MAX_COMMON_NAME)?,
            )?;
        }
        if let Some(v) = &self.email {
            let email = validate_email(v)?;
            Ia5String::new(&email).map_err(|_| NameError::Email(v.clone()))?;
            emit(oid::EMAIL_ADDRESS, Tag::Ia5String, &email)?;
        }
        Ok(())
    }

    /// Reads the attributes TopCA knows from an encoded name; other attribute types
    /// are left out (TopCA never copies unknown attributes into what it issues).
    pub fn from_name(name: &Name) -> Self {
        let mut dn = Self::default();
        for atv in name.iter() {
            let Some(value) = attribute_text(&atv.value) else {
                continue;
            };
            match atv.oid {
                o if o == oid::COUNTRY => dn.country = Some(value),
                o if o == oid::STATE => dn.state = Some(value),
                o if o == oid::LOCALITY => dn.locality = Some(value),
                o if o == oid::ORGANIZATION => dn.organization = Some(value),
                o if o == oid::ORGANIZATIONAL_UNIT => dn.organizational_units.push(value),
                o if o == oid::COMMON_NAME => dn.common_name = Some(value),
                o if o == oid::EMAIL_ADDRESS => dn.email = Some(value),
                _ => {}
            }
        }
        dn
    }
}

impl fmt::Display for DistinguishedName {
    /// `C=CN, O=天诚安信, OU=技术部, CN=张三`, in encoding order, RFC 4514 escapes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            ("C", &self.country),
            ("ST", &self.state),
            ("L", &self.locality),
            ("O", &self.organization),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .chain(self.organizational_units.iter().map(|v| ("OU", v.as_str())))
        .chain(self.common_name.as_deref().map(|v| ("CN", v)))
        .chain(self.email.as_deref().map(|v| ("emailAddress", v)));
        for (i, (key, value)) in parts.enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{key}={}", escape_rfc4514(value))?;
        }
        Ok(())
    }
}

/// Renders any encoded name in `C=CN, O=…` form, with attribute types TopCA does not
/// know shown by OID. Used by the preview and in messages.
pub fn display_name(name: &Name) -> String {
    let mut out = String::new();
    for (i, atv) in name.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&attribute_label(atv.oid));
        out.push('=');
        match attribute_text(&atv.value) {
            Some(text) => out.push_str(&escape_rfc4514(&text)),
            None => {
                out.push('#');
                for b in atv.value.value() {
                    out.push_str(&format!("{b:02x}"));
                }
            }
        }
    }
    out
}

/// The short label of a name attribute type (`CN`, `O`, …) or its dotted OID.
pub fn attribute_label(attribute: der::asn1::ObjectIdentifier) -> String {
    let label = match attribute {
        o if o == oid::COUNTRY => "C",
        o if o == oid::STATE => "ST",
        o if o == oid::LOCALITY => "L",
        o if o == oid::ORGANIZATION => "O",
        o if o == oid::ORGANIZATIONAL_UNIT => "OU",
        o if o == oid::COMMON_NAME => "CN",
        o if o == oid::EMAIL_ADDRESS => "emailAddress",
        o if o == oid::SERIAL_NUMBER_ATTRIBUTE => "serialNumber",
        o if o == oid::DOMAIN_COMPONENT => "DC",
        other => return other.to_string(),
    };
    label.to_owned()
}

/// Decodes a DirectoryString-like attribute value (UTF8String, PrintableString,
/// IA5String, BMPString, TeletexString as Latin-1) to text.
pub fn attribute_text(value: &Any) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
            std::str::from_utf8(bytes).ok().map(str::to_owned)
        }
        Tag::BmpString => BmpString::from_ucs2(bytes.to_vec())
            .ok()
            .map(|s| s.to_string()),
        Tag::TeletexString => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        _ => None,
    }
}

fn utf8<'a>(attribute: &'static str, value: &'a str, max: usize) -> Result<&'a str, NameError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(NameError::Missing(attribute));
    }
    if value.chars().count() > max {
        return Err(NameError::TooLong { attribute, max });
    }
    if value.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter(attribute));
    }
    Ok(value)
}

/// The identifier octet of the universal string types names use.
fn string_tag_octet(tag: Tag) -> u8 {
    match tag {
        Tag::Utf8String => 0x0C,
        Tag::PrintableString => 0x13,
        Tag::Ia5String => 0x16,
        // Universal, primitive, low tag number: the octet is the number.
        other => other.number().0 as u8,
    }
}

/// The error for an attribute value the ASN.1 string type refuses (after the
/// checks above this cannot happen: values are short and of the right alphabet).
fn attribute_error(attribute: der::asn1::ObjectIdentifier, value: &str) -> NameError {
    match attribute {
        o if o == oid::COUNTRY => NameError::Country,
        o if o == oid::EMAIL_ADDRESS => NameError::Email(value.to_owned()),
        _ => NameError::Missing("value"),
    }
}

fn escape_rfc4514(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let leading = i == 0 && (c == ' ' || c == '#');
        let trailing = i + 1 == value.chars().count() && c == ' ';
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') || leading || trailing {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Checks an e-mail address (`local@domain`, ASCII, RFC 5321 sizes) and returns it
/// with the domain in lower case.
pub fn validate_email(address: &str) -> Result<String, NameError> {
    let bad = || NameError::Email(address.to_owned());
    let address = address.trim();
    if address.len() > MAX_EMAIL || !address.is_ascii() {
        return Err(bad());
    }
    let (local, domain) = address.rsplit_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok || !is_dns_name(domain, false) {
        return Err(bad());
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

fn is_dns_name(name: &str, allow_wildcard: bool) -> bool {
    let name = match name.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        _ => name,
    };
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Subject alternative names of a certificate or request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectAltNames {
    /// dNSName entries, lower case; a leading `*.` wildcard is allowed.
    pub dns_names: Vec<String>,
    /// iPAddress entries.
    pub ip_addresses: Vec<IpAddr>,
    /// rfc822Name entries.
    pub emails: Vec<String>,
}

impl SubjectAltNames {
    /// Whether there is no name at all.
    pub fn is_empty(&self) -> bool {
        self.dns_names.is_empty() && self.ip_addresses.is_empty() && self.emails.is_empty()
    }

    /// Adds a host given as a DNS name or an IP address literal.
    pub fn add_host(&mut self, host: &str) -> Result<(), NameError> {
        let host = host.trim();
        if let Ok(ip) = host.parse::<IpAddr>() {
            if !self.ip_addresses.contains(&ip) {
                self.ip_addresses.push(ip);
            }
            return Ok(());
        }
        let lower = host.trim_end_matches('.').to_ascii_lowercase();
        if !is_dns_name(&lower, true) {
            return Err(NameError::AltName(host.to_owned()));
        }
        if !self.dns_names.contains(&lower) {
            self.dns_names.push(lower);
        }
        Ok(())
    }

    /// Adds an e-mail address.
    pub fn add_email(&mut self, email: &str) -> Result<(), NameError> {
        let email = validate_email(email)?;
        if !self.emails.contains(&email) {
            self.emails.push(email);
        }
        Ok(())
    }

    /// Reads the names TopCA handles from GeneralNames, validating each; other
    /// name forms are ignored.
    pub fn from_general_names(names: &[GeneralName]) -> Result<Self, NameError> {
        let mut out = Self::default();
        for name in names {
            match name {
                GeneralName::DnsName(dns) => out.add_host(dns.as_str())?,
                GeneralName::Rfc822Name(email) => out.add_email(email.as_str())?,
                GeneralName::IpAddress(octets) => {
                    let ip = match octets.as_bytes().len() {
                        4 => <[u8; 4]>::try_from(octets.as_bytes())
                            .map(IpAddr::from)
                            .ok(),
                        16 => <[u8; 16]>::try_from(octets.as_bytes())
                            .map(IpAddr::from)
                            .ok(),
                        _ => None,
                    };
                    let ip =
                        ip.ok_or_else(|| NameError::AltName("(malformed IP address)".to_owned()))?;
                    if !out.ip_addresses.contains(&ip) {
                        out.ip_addresses.push(ip);
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Encodes the names as GeneralNames (DNS names, then IP addresses, then e-mails).
    pub fn to_general_names(&self) -> Result<Vec<GeneralName>, NameError> {
        let mut out =
            Vec::with_capacity(self.dns_names.len() + self.ip_addresses.len() + self.emails.len());
        for dns in &self.dns_names {
            out.push(GeneralName::DnsName(
                Ia5String::new(dns).map_err(|_| NameError::AltName(dns.clone()))?,
            ));
        }
        for ip in &self.ip_addresses {
            let octets = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            let octets = der::asn1::OctetString::new(octets)
                .map_err(|_| NameError::AltName(ip.to_string()))?;
            out.push(GeneralName::IpAddress(octets));
        }
        for email in &self.emails {
            out.push(GeneralName::Rfc822Name(
                Ia5String::new(email).map_err(|_| NameError::Email(email.clone()))?,
            ));
        }
        Ok(out)
    }

    /// Appends the DER GeneralNames (`SEQUENCE OF GeneralName`, the
    /// subjectAltName extension value) directly: the same bytes as encoding
    /// [`SubjectAltNames::to_general_names`], with the same checks.
    pub(crate) fn write_general_names_der(&self, out: &mut Vec<u8>) -> Result<(), NameError> {
        let start = out.len();
        out.push(0x30);
        for dns in &self.dns_names {
            if !dns.is_ascii() {
                out.truncate(start);
                return Err(NameError::AltName(dns.clone()));
            }
            // [2] IMPLICIT IA5String
            out.push(0x82);
            push_der_length(out, dns.len());
            out.extend_from_slice(dns.as_bytes());
        }
        for ip in &self.ip_addresses {
            // [7] IMPLICIT OCTET STRING
            out.push(0x87);
            match ip {
                IpAddr::V4(v4) => {
                    out.push(4);
                    out.extend_from_slice(&v4.octets());
                }
                IpAddr::V6(v6) => {
                    out.push(16);
                    out.extend_from_slice(&v6.octets());
                }
            }
        }
        for email in &self.emails {
            if !email.is_ascii() {
                out.truncate(start);
                return Err(NameError::Email(email.clone()));
            }
            // [1] IMPLICIT IA5String
            out.push(0x81);
            push_der_length(out, email.len());
            out.extend_from_slice(email.as_bytes());
        }
        close_der(out, start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_name_round_trips_as_utf8() {
        let dn = DistinguishedName::with_common_name("张三")
            .country("cn")
            .organization("天诚安信")
            .unit("技术部")
            .email("zhangsan@Example.COM");
        let name = dn.to_name().unwrap();
        let back = DistinguishedName::from_name(&name);
        assert_eq!(back.organization.as_deref(), Some("天诚安信"));
        assert_eq!(back.organizational_units, vec!["技术部".to_owned()]);
        assert_eq!(back.common_name.as_deref(), Some("张三"));
        assert_eq!(back.country.as_deref(), Some("CN"));
        assert_eq!(back.email.as_deref(), Some("zhangsan@example.com"));
        assert!(name.iter().any(|atv| atv.value.tag() == Tag::Utf8String));
        assert_eq!(
            display_name(&name),
            "C=CN, O=天诚安信, OU=技术部, CN=张三, emailAddress=zhangsan@example.com"
        );
        assert_eq!(back.to_string(), display_name(&name));
    }

    #[test]
    fn malformed_names_are_refused_with_a_reason() {
        assert_eq!(
            DistinguishedName::default().to_name(),
            Err(NameError::Missing("subject"))
        );
        assert_eq!(
            DistinguishedName::with_common_name("  ").to_name(),
            Err(NameError::Missing("common name (CN)"))
        );
        assert_eq!(
            DistinguishedName::with_common_name("x")
                .country("中国")
                .to_name(),
            Err(NameError::Country)
        );
        assert_eq!(
            DistinguishedName::with_common_name("a".repeat(65)).to_name(),
            Err(NameError::TooLong {
                attribute: "common name (CN)",
                max: 64
            })
        );
        assert_eq!(
            DistinguishedName::with_common_name("a\u{0}b").to_name(),
            Err(NameError::ControlCharacter("common name (CN)"))
        );
        assert!(matches!(
            DistinguishedName::with_common_name("x")
                .email("no-at-sign")
                .to_name(),
            Err(NameError::Email(_))
        ));
    }

    #[test]
    fn display_escapes_special_characters() {
        let dn = DistinguishedName::with_common_name("a,b+c").organization(" lead");
        assert_eq!(dn.to_string(), "O=\\ lead, CN=a\\,b\\+c");
    }

    #[test]
    fn alt_names_validate_hosts_and_round_trip() {
        let mut names = SubjectAltNames::default();
        names.add_host("WWW.Example.com.").unwrap();
        names.add_host("*.example.com").unwrap();
        names.add_host("192.0.2.1").unwrap();
        names.add_host("2001:db8::1").unwrap();
        names.add_email("ops@example.com").unwrap();
        assert!(names.add_host("bad host").is_err());
        assert!(names.add_host("-bad.example").is_err());
        let general = names.to_general_names().unwrap();
        assert_eq!(
            SubjectAltNames::from_general_names(&general).unwrap(),
            names
        );
        assert_eq!(names.dns_names, vec!["www.example.com", "*.example.com"]);
    }
}
