//! Certificate profiles: each kind owns its validity limit and its extensions
//! (RFC 5280 §4.2), built from validated configuration.

use std::time::Duration;

use der::{
    Encode,
    asn1::{Ia5String, OctetString},
    flagset::FlagSet,
};
use x509_cert::ext::{
    Extension,
    pkix::{
        AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
        CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
        SubjectKeyIdentifier,
        crl::dp::DistributionPoint,
        name::{DistributionPointName, GeneralName},
    },
};

use crate::{
    algorithm::KeyKind,
    error::{Error, PolicyError},
    key::PublicKey,
    name::SubjectAltNames,
    oid,
};

const DAY: u64 = 86_400;

/// The only RSA public exponent certified (F4, what every key generator uses).
pub const RSA_EXPONENT: u64 = 65_537;

/// What a certificate is for; decides its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileKind {
    /// A self-signed root CA.
    RootCa,
    /// A subordinate (intermediate or issuing) CA.
    SubCa,
    /// A person's signing certificate (single certificate, or the signing half of a dual pair).
    UserSigning,
    /// A person's encryption certificate (the KMC half of a dual pair).
    UserEncryption,
    /// A TLS server.
    TlsServer,
    /// A TLS client.
    TlsClient,
    /// A delegated OCSP responder (id-kp-OCSPSigning, with id-pkix-ocsp-nocheck).
    OcspSigning,
    /// A TLS server certificate short-lived enough to need no revocation
    /// information (RFC 9608): at most [`SHORT_LIVED_MAX_DAYS`] days, without
    /// CRL or OCSP pointers, with the non-critical noRevAvail extension.
    ShortLivedTlsServer,
}

/// The longest validity of a short-lived certificate, in days: the CA/Browser
/// Forum's bound for short-lived subscriber certificates (Baseline Requirements
/// §1.6.1, 7 days from 2026-03-15), which also keeps a key compromise's
/// exposure within a week when no CRL or OCSP answer can end it sooner.
pub const SHORT_LIVED_MAX_DAYS: u32 = 7;

impl ProfileKind {
    /// Longest validity this kind allows, in days.
    pub fn max_validity_days(self) -> u32 {
        match self {
            Self::RootCa => 30 * 365,
            Self::SubCa => 20 * 365,
            Self::UserSigning | Self::UserEncryption | Self::TlsClient => 5 * 365,
            // Private-PKI ceiling for servers; public-trust CAs use 398 or less.
            Self::TlsServer => 825,
            // Responder certificates are not revocation-checked: keep them short.
            Self::OcspSigning => 90,
            Self::ShortLivedTlsServer => SHORT_LIVED_MAX_DAYS,
        }
    }

    /// The kind whose [`Self::label`] is `label`, if any (as stored).
    pub fn from_label(label: &str) -> Option<Self> {
        [
            Self::RootCa,
            Self::SubCa,
            Self::UserSigning,
            Self::UserEncryption,
            Self::TlsServer,
            Self::TlsClient,
            Self::OcspSigning,
            Self::ShortLivedTlsServer,
        ]
        .into_iter()
        .find(|kind| kind.label() == label)
    }

    /// The profile's name as shown in messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::RootCa => "root CA",
            Self::SubCa => "subordinate CA",
            Self::UserSigning => "user signing",
            Self::UserEncryption => "user encryption",
            Self::TlsServer => "TLS server",
            Self::TlsClient => "TLS client",
            Self::OcspSigning => "OCSP signing",
            Self::ShortLivedTlsServer => "short-lived TLS server",
        }
    }

    /// Whether certificates of this kind are CAs.
    pub fn is_ca(self) -> bool {
        matches!(self, Self::RootCa | Self::SubCa)
    }

    /// Whether certificates of this kind carry no revocation information
    /// (RFC 9608): relying parties cannot learn of a revocation, so none is
    /// published for them ahead of time.
    pub fn no_revocation_info(self) -> bool {
        self == Self::ShortLivedTlsServer
    }
}

/// A validated profile: kind, validity and (for CAs) path length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    kind: ProfileKind,
    validity_days: u32,
    path_len: Option<u8>,
}

/// URLs written into issued certificates so relying parties find the issuer's
/// certificate (AIA caIssuers), its OCSP responder and its CRL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaUrls {
    /// CRL distribution point.
    pub crl: Option<String>,
    /// Where the issuing CA's certificate can be downloaded.
    pub ca_issuers: Option<String>,
    /// OCSP responder.
    pub ocsp: Option<String>,
    /// Where delta CRLs are published, when the CA issues them: written into
    /// certificates as the freshest CRL pointer (RFC 5280 §4.2.1.15).
    pub delta_crl: Option<String>,
}

impl CaUrls {
    /// Checks that every URL is an absolute http(s) URL without spaces.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for url in [&self.crl, &self.ca_issuers, &self.ocsp, &self.delta_crl]
            .into_iter()
            .flatten()
        {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.len() > "https://".len()
                && url.is_ascii()
                && !url
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
            if !ok {
                return Err(PolicyError::Url(url.clone()));
            }
        }
        Ok(())
    }
}

impl Profile {
    /// A profile of `kind` whose certificates last `validity_days`.
    pub fn new(kind: ProfileKind, validity_days: u32) -> Result<Self, PolicyError> {
        let max_days = kind.max_validity_days();
        if validity_days == 0 || validity_days > max_days {
            return Err(PolicyError::Validity { max_days });
        }
        Ok(Self {
            kind,
            validity_days,
            path_len: (kind == ProfileKind::SubCa).then_some(0),
        })
    }

    /// A subordinate CA profile allowing `path_len` further CA levels below it.
    pub fn sub_ca(validity_days: u32, path_len: u8) -> Result<Self, PolicyError> {
        let mut profile = Self::new(ProfileKind::SubCa, validity_days)?;
        profile.path_len = Some(path_len);
        Ok(profile)
    }

    /// The kind.
    pub fn kind(&self) -> ProfileKind {
        self.kind
    }

    /// The validity period.
    pub fn validity(&self) -> Duration {
        Duration::from_secs(u64::from(self.validity_days) * DAY)
    }

    /// The basicConstraints path length (CAs only).
    pub fn path_len(&self) -> Option<u8> {
        self.path_len
    }

    /// Checks that `key` may be certified under this profile: RSA keys use the
    /// public exponent 65537 (sizes and curves were checked when the key was
    /// parsed), and an encryption certificate's key can encrypt.
    pub fn check_key(&self, key: &PublicKey) -> Result<(), PolicyError> {
        if let Some(exponent) = key.rsa_public_exponent().filter(|&e| e != RSA_EXPONENT) {
            return Err(PolicyError::RsaExponent { exponent });
        }
        let kind = key.kind();
        if self.kind == ProfileKind::UserEncryption && !kind.can_encrypt() {
            return Err(PolicyError::KeyNotAllowed {
                key: kind.to_string(),
                profile: self.kind.label(),
            });
        }
        Ok(())
    }

    /// The extensions of a certificate for `subject_key` under this profile, in
    /// this order: [`Profile::leading_extensions`], subjectAltName (when there are
    /// names), subjectKeyIdentifier, then [`Profile::trailing_extensions`].
    pub(crate) fn extensions(&self, inputs: &ExtensionInputs<'_>) -> Result<Vec<Extension>, Error> {
        let mut exts = self.leading_extensions(inputs.subject_key.kind())?;
        if !inputs.alt_names.is_empty() {
            let names = inputs.alt_names.to_general_names()?;
            exts.push(extension(
                oid::SUBJECT_ALT_NAME,
                false,
                &SubjectAltName(names),
            )?);
        }
        let ski = key_identifier(inputs.subject_key)?;
        exts.push(extension(
            oid::SUBJECT_KEY_IDENTIFIER,
            false,
            &SubjectKeyIdentifier(OctetString::new(ski)?),
        )?);
        exts.extend(self.trailing_extensions(inputs.issuer_key_id, inputs.urls)?);
        Ok(exts)
    }

    /// The extensions before the subject's names and key identifier: basic
    /// constraints, key usage (which depends on the kind of subject key) and
    /// extended key usage.
    pub(crate) fn leading_extensions(&self, kind: KeyKind) -> Result<Vec<Extension>, Error> {
        let mut exts = Vec::with_capacity(9);
        let basic = BasicConstraints {
            ca: self.kind.is_ca(),
            path_len_constraint: self.path_len,
        };
        exts.push(extension(oid::BASIC_CONSTRAINTS, true, &basic)?);
        exts.push(extension(
            oid::KEY_USAGE,
            true,
            &KeyUsage(self.key_usage(kind)),
        )?);
        if let Some(eku) = self.extended_key_usage() {
            exts.push(extension(
                oid::EXT_KEY_USAGE,
                false,
                &ExtendedKeyUsage(eku),
            )?);
        }
        Ok(exts)
    }

    /// The extensions after the subject's key identifier, which depend only on
    /// the issuer: authority key identifier, then OCSP no-check for responders,
    /// caIssuers and noRevAvail for short-lived certificates, or CRL
    /// distribution point, freshest CRL and authority information access.
    pub(crate) fn trailing_extensions(
        &self,
        issuer_key_id: Option<&[u8]>,
        urls: &CaUrls,
    ) -> Result<Vec<Extension>, Error> {
        let mut exts = Vec::with_capacity(5);
        if let Some(issuer_key_id) = issuer_key_id {
            let aki = AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(issuer_key_id)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            };
            exts.push(extension(oid::AUTHORITY_KEY_IDENTIFIER, false, &aki)?);
        }
        if self.kind == ProfileKind::OcspSigning {
            // RFC 6960 §4.2.2.2.1: clients trust the responder certificate for its
            // lifetime without checking its revocation.
            exts.push(extension(oid::OCSP_NO_CHECK, false, &der::asn1::Null)?);
        } else if self.kind.no_revocation_info() {
            // RFC 9608 §2: no CRL distribution point, no OCSP pointer; the
            // issuer's certificate may still be pointed at.
            if let Some(url) = &urls.ca_issuers {
                let access = vec![AccessDescription {
                    access_method: oid::AD_CA_ISSUERS,
                    access_location: uri(url)?,
                }];
                exts.push(extension(
                    oid::AUTHORITY_INFO_ACCESS,
                    false,
                    &AuthorityInfoAccessSyntax(access),
                )?);
            }
            // RFC 9608 §2: ext-noRevAvail EXTENSION ::= { SYNTAX NULL
            // IDENTIFIED BY id-ce-noRevAvail }, non-critical.
            exts.push(extension(oid::NO_REV_AVAIL, false, &der::asn1::Null)?);
        } else if self.kind != ProfileKind::RootCa {
            if let Some(crl) = &urls.crl {
                let point = DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![uri(crl)?])),
                    reasons: None,
                    crl_issuer: None,
                };
                exts.push(extension(
                    oid::CRL_DISTRIBUTION_POINTS,
                    false,
                    &CrlDistributionPoints(vec![point]),
                )?);
            }
            if let Some(delta) = &urls.delta_crl {
                let point = DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![uri(delta)?])),
                    reasons: None,
                    crl_issuer: None,
                };
                exts.push(extension(
                    oid::FRESHEST_CRL,
                    false,
                    &CrlDistributionPoints(vec![point]),
                )?);
            }
            let access: Vec<AccessDescription> = [
                (oid::AD_OCSP, &urls.ocsp),
                (oid::AD_CA_ISSUERS, &urls.ca_issuers),
            ]
            .into_iter()
            .filter_map(|(method, url)| url.as_ref().map(|u| (method, u)))
            .map(|(access_method, url)| {
                Ok(AccessDescription {
                    access_method,
                    access_location: uri(url)?,
                })
            })
            .collect::<Result<_, Error>>()?;
            if !access.is_empty() {
                exts.push(extension(
                    oid::AUTHORITY_INFO_ACCESS,
                    false,
                    &AuthorityInfoAccessSyntax(access),
                )?);
            }
        }
        Ok(exts)
    }

    fn key_usage(&self, kind: KeyKind) -> FlagSet<KeyUsages> {
        match self.kind {
            ProfileKind::RootCa => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
            ProfileKind::SubCa => {
                KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature
            }
            ProfileKind::UserSigning => KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
            // RSA and SM2 encrypt to the key (SM2 public-key encryption, GM/T 0003.4);
            // NIST-curve keys are used through key agreement (ECDH).
            ProfileKind::UserEncryption => match kind {
                KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => KeyUsages::KeyAgreement.into(),
                _ => KeyUsages::KeyEncipherment | KeyUsages::DataEncipherment,
            },
            ProfileKind::TlsServer | ProfileKind::ShortLivedTlsServer if kind.is_rsa() => {
                KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
            }
            ProfileKind::TlsServer
            | ProfileKind::ShortLivedTlsServer
            | ProfileKind::TlsClient
            | ProfileKind::OcspSigning => KeyUsages::DigitalSignature.into(),
        }
    }

    fn extended_key_usage(&self) -> Option<Vec<der::asn1::ObjectIdentifier>> {
        match self.kind {
            ProfileKind::RootCa | ProfileKind::SubCa => None,
            ProfileKind::UserSigning => Some(vec![oid::KP_CLIENT_AUTH, oid::KP_EMAIL_PROTECTION]),
            ProfileKind::UserEncryption => Some(vec![oid::KP_EMAIL_PROTECTION]),
            ProfileKind::TlsServer | ProfileKind::ShortLivedTlsServer => {
                Some(vec![oid::KP_SERVER_AUTH])
            }
            ProfileKind::TlsClient => Some(vec![oid::KP_CLIENT_AUTH]),
            ProfileKind::OcspSigning => Some(vec![oid::KP_OCSP_SIGNING]),
        }
    }
}

/// What a profile needs to know to build the extensions of one certificate.
pub(crate) struct ExtensionInputs<'a> {
    pub(crate) subject_key: &'a PublicKey,
    /// The issuer's key identifier; `None` for a self-signed root.
    pub(crate) issuer_key_id: Option<&'a [u8]>,
    pub(crate) alt_names: &'a SubjectAltNames,
    pub(crate) urls: &'a CaUrls,
}

/// Key identifier per RFC 7093 §2 method 1: the leftmost 160 bits of the SHA-256
/// hash of the subjectPublicKey BIT STRING value.
pub fn key_identifier(key: &PublicKey) -> Result<Vec<u8>, Error> {
    Ok(key_identifier_array(key)?.to_vec())
}

/// [`key_identifier`] without allocating.
pub(crate) fn key_identifier_array(key: &PublicKey) -> Result<[u8; 20], Error> {
    // aws-lc's SHA-256 (assembly); the same digest as the `sha2` crate's.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.subject_public_key()?);
    let mut id = [0u8; 20];
    id.copy_from_slice(&digest.as_ref()[..20]);
    Ok(id)
}

fn extension<T: Encode>(
    extn_id: der::asn1::ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<Extension, Error> {
    Ok(Extension {
        extn_id,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

fn uri(url: &str) -> Result<GeneralName, Error> {
    Ok(GeneralName::UniformResourceIdentifier(Ia5String::new(url)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_limits_are_enforced_per_kind() {
        assert!(Profile::new(ProfileKind::TlsServer, 825).is_ok());
        assert_eq!(
            Profile::new(ProfileKind::TlsServer, 826),
            Err(PolicyError::Validity { max_days: 825 })
        );
        assert_eq!(
            Profile::new(ProfileKind::UserSigning, 0),
            Err(PolicyError::Validity { max_days: 1825 })
        );
        assert_eq!(Profile::sub_ca(3650, 1).unwrap().path_len(), Some(1));
        assert_eq!(
            Profile::new(ProfileKind::RootCa, 3650).unwrap().path_len(),
            None
        );
    }

    #[test]
    fn ed25519_cannot_be_an_encryption_key() {
        let profile = Profile::new(ProfileKind::UserEncryption, 365).unwrap();
        let key = |algorithm| {
            crate::key::SigningKey::generate(algorithm, &crate::random::OsRandom)
                .unwrap()
                .public_key()
                .clone()
        };
        let ed25519 = key(crate::algorithm::KeyAlgorithm::Ed25519);
        assert!(profile.check_key(&ed25519).is_err());
        assert!(
            profile
                .check_key(&key(crate::algorithm::KeyAlgorithm::Sm2))
                .is_ok()
        );
    }

    #[test]
    fn key_identifiers_are_the_leftmost_160_bits_of_sha256() {
        use sha2::{Digest, Sha256};
        let key = crate::key::SigningKey::generate(
            crate::algorithm::KeyAlgorithm::EcdsaP256,
            &crate::random::OsRandom,
        )
        .unwrap();
        let digest = Sha256::digest(key.public_key().key_bytes().unwrap());
        assert_eq!(key_identifier(key.public_key()).unwrap(), digest[..20]);
    }

    #[test]
    fn urls_must_be_http() {
        let urls = CaUrls {
            crl: Some("ftp://example.com/x.crl".into()),
            ..CaUrls::default()
        };
        assert_eq!(
            urls.validate(),
            Err(PolicyError::Url("ftp://example.com/x.crl".into()))
        );
        let urls = CaUrls {
            crl: Some("http://ca.example.com/TopCA/crl/current.crl".into()),
            ..CaUrls::default()
        };
        assert_eq!(urls.validate(), Ok(()));
    }
}
