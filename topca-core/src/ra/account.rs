//! Accounts (帐户): an organisation unit granted a certificate service.

use crate::{
    algorithm::KeyAlgorithm,
    error::RaError,
    lifecycle::{CertificateType, VerificationMode},
    name::DistinguishedName,
};

/// An account's identifier, assigned by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub u64);

/// The language of the mails and pages an account's holders get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// Simplified Chinese (the default).
    #[default]
    Chinese = 1,
    /// English.
    English = 2,
}

/// What an RA administrator configures for an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    /// Organisation (O).
    pub organization: String,
    /// Organisational unit (OU).
    pub unit: String,
    /// Single or dual certificates.
    pub certificate_type: CertificateType,
    /// How requests are approved.
    pub verification: VerificationMode,
    /// The algorithm of server-generated and KMC key pairs.
    pub algorithm: KeyAlgorithm,
    /// Validity of issued certificates, in days.
    pub validity_days: u32,
    /// Base URL of the enrollment centre, used in mailed links.
    pub service_url: String,
    /// Language of mails.
    pub language: Language,
}

impl AccountSettings {
    /// Checks the settings: O and OU encode as a name, the URL is http(s), the
    /// validity is within the user-certificate limit, a dual account's algorithm
    /// can encrypt.
    pub fn validate(&self) -> Result<(), RaError> {
        let invalid = |field, problem: String| RaError::InvalidField { field, problem };
        DistinguishedName::default()
            .organization(self.organization.clone())
            .unit(self.unit.clone())
            .to_name()
            .map_err(|e| invalid("O / OU", e.to_string()))?;
        crate::profile::Profile::new(crate::profile::ProfileKind::UserSigning, self.validity_days)
            .map_err(|e| invalid("validity", e.to_string()))?;
        let dual = self.certificate_type == crate::lifecycle::CertificateType::Dual;
        if dual && self.algorithm == crate::algorithm::KeyAlgorithm::Ed25519 {
            return Err(invalid(
                "algorithm",
                "Ed25519 keys cannot encrypt; dual-certificate accounts use SM2, RSA or ECDSA"
                    .into(),
            ));
        }
        let url_ok = (self.service_url.starts_with("http://")
            || self.service_url.starts_with("https://"))
            && !self
                .service_url
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
        if !url_ok {
            return Err(invalid(
                "service URL",
                "must be an http or https URL".into(),
            ));
        }
        Ok(())
    }

    /// Whether `keyword` occurs in O or OU (case-insensitive; Chinese as is).
    pub fn matches_keyword(&self, keyword: &str) -> bool {
        let keyword = keyword.trim().to_lowercase();
        !keyword.is_empty()
            && (self.organization.to_lowercase().contains(&keyword)
                || self.unit.to_lowercase().contains(&keyword))
    }
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Identifier.
    pub id: AccountId,
    /// Settings.
    pub settings: AccountSettings,
}
