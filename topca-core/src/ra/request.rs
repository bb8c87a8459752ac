//! Certificate requests as the RA keeps them, and the PIN format.

use std::time::SystemTime;

use crate::{
    error::RaError,
    lifecycle::{RequestKind, RequestState},
    name::{DistinguishedName, validate_email},
    secret::{CodeHash, PasswordHash},
};

use super::account::{AccountId, AccountSettings};

/// A request's number, assigned by the store: the internal key, shown to
/// administrators only. Holders see the request's [`RequestRef`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A request's public reference: 128 random bits as 32 lower-case hex digits.
/// It is what holders see in mails, PINs, links and pages, so a guessed or
/// counted reference finds nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestRef(pub String);

impl RequestRef {
    /// Random bytes in a reference.
    const BYTES: usize = 16;

    /// A new random reference.
    pub fn generate(random: &dyn crate::random::RandomSource) -> Result<Self, crate::Error> {
        let mut bytes = [0u8; Self::BYTES];
        random.fill(&mut bytes)?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The reference in `text` as a holder typed it (case and surrounding blanks
    /// ignored), if it has the form of one.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        (text.len() == Self::BYTES * 2 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(text.to_ascii_lowercase()))
    }
}

impl std::fmt::Display for RequestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The certificate holder's details from the application form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Name (CN), required.
    pub name: String,
    /// E-mail, required; mails go there.
    pub email: String,
    /// Telephone, optional (kept for the RA, not put in the certificate).
    pub phone: Option<String>,
    /// Province or state (ST), optional.
    pub state: Option<String>,
    /// City (L), optional.
    pub locality: Option<String>,
}

impl Holder {
    /// Checks the required fields and normalises the e-mail.
    pub fn validated(mut self) -> Result<Self, RaError> {
        let invalid = |field, problem: &str| RaError::InvalidField {
            field,
            problem: problem.to_owned(),
        };
        self.name = self.name.trim().to_owned();
        if self.name.is_empty() {
            return Err(invalid("name", "is required"));
        }
        self.email = validate_email(&self.email).map_err(|e| RaError::InvalidField {
            field: "e-mail",
            problem: e.to_string(),
        })?;
        self.phone = self
            .phone
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty());
        if self.phone.as_ref().is_some_and(|p| p.chars().count() > 32) {
            return Err(invalid("telephone", "is too long"));
        }
        self.state = self
            .state
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        self.locality = self
            .locality
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        DistinguishedName {
            state: self.state.clone(),
            locality: self.locality.clone(),
            common_name: Some(self.name.clone()),
            ..DistinguishedName::default()
        }
        .to_name()
        .map_err(|e| RaError::InvalidField {
            field: "name",
            problem: e.to_string(),
        })?;
        Ok(self)
    }

    /// The certificate subject: C=CN, ST, L, O and OU from the account, CN, e-mail.
    pub fn subject(&self, account: &AccountSettings) -> DistinguishedName {
        DistinguishedName {
            country: Some("CN".to_owned()),
            state: self.state.clone(),
            locality: self.locality.clone(),
            organization: Some(account.organization.clone()),
            organizational_units: vec![account.unit.clone()],
            common_name: Some(self.name.clone()),
            email: Some(self.email.clone()),
        }
    }
}

/// A request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Number (internal).
    pub id: RequestId,
    /// The public reference holders use.
    pub reference: RequestRef,
    /// The account it belongs to.
    pub account: AccountId,
    /// What it asks for.
    pub kind: RequestKind,
    /// Where it stands.
    pub state: RequestState,
    /// The holder's details.
    pub holder: Holder,
    /// The user password's hash; `None` until a pre-registered holder chooses one.
    pub password: Option<PasswordHash>,
    /// The PIN's hash, once approved.
    pub pin: Option<CodeHash>,
    /// When the PIN stops working.
    pub pin_expires: Option<SystemTime>,
    /// When it was submitted.
    pub submitted_at: SystemTime,
    /// The reason given when it was rejected.
    pub reject_reason: Option<String>,
    /// Serial of the certificate issued for it.
    pub issued_serial: Option<String>,
    /// The PKCS#10 request (DER) of a server application, issued from on approval.
    pub csr: Option<Vec<u8>>,
    /// The serial of the certificate a renewal or replacement follows.
    pub previous_serial: Option<String>,
    /// Bumped by every update; the store refuses an update made from an older copy.
    pub version: u64,
}

impl Request {
    /// Whether `password` is the request's user password (never, before one is chosen).
    pub fn password_matches(&self, password: &str) -> bool {
        self.password
            .as_ref()
            .is_some_and(|hash| hash.verify(password))
    }
}

/// A PIN as mailed: the reference of what it opens, then the secret in groups of
/// four (`3f9c…-7KQ4-M9XD-2PRT`), so a wrong secret still counts against its request.
#[derive(Debug)]
pub struct PinInput<'a> {
    /// The reference the PIN names (a request's [`RequestRef`], or a recovery's number).
    pub reference: &'a str,
    /// The secret part, as typed.
    pub secret: &'a str,
}

impl<'a> PinInput<'a> {
    /// Splits a typed PIN; anything that is not `reference-secret` is refused.
    pub fn parse(pin: &'a str) -> Result<Self, RaError> {
        let wrong = || RaError::InvalidField {
            field: "PIN",
            problem: "is not a PIN from the approval mail".to_owned(),
        };
        let (reference, secret) = pin.trim().split_once('-').ok_or_else(wrong)?;
        let reference = reference.trim();
        if reference.is_empty() || secret.trim().is_empty() {
            return Err(wrong());
        }
        Ok(Self { reference, secret })
    }

    /// The PIN text for a reference and a secret.
    pub fn format(reference: &str, secret: &str) -> String {
        format!("{reference}-{secret}")
    }
}

/// Changes to a holder's details (变更证书持有者信息); `None` keeps a field. O and
/// OU are carried only to refuse a change of them: they belong to the account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolderUpdate {
    /// New name.
    pub name: Option<String>,
    /// New e-mail.
    pub email: Option<String>,
    /// New telephone.
    pub phone: Option<String>,
    /// New province or state.
    pub state: Option<String>,
    /// New city.
    pub locality: Option<String>,
    /// The organisation (O) as submitted; must equal the account's.
    pub organization: Option<String>,
    /// The department (OU) as submitted; must equal the account's.
    pub unit: Option<String>,
}

impl HolderUpdate {
    /// The holder after the update; refuses a different O or OU.
    pub fn apply(&self, holder: &Holder, account: &AccountSettings) -> Result<Holder, RaError> {
        let changes = |given: &Option<String>, fixed: &str| {
            given.as_deref().is_some_and(|g| g.trim() != fixed)
        };
        if changes(&self.organization, &account.organization) || changes(&self.unit, &account.unit)
        {
            return Err(RaError::OrganizationFixed);
        }
        Ok(Holder {
            name: self.name.clone().unwrap_or_else(|| holder.name.clone()),
            email: self.email.clone().unwrap_or_else(|| holder.email.clone()),
            phone: self.phone.clone().or_else(|| holder.phone.clone()),
            state: self.state.clone().or_else(|| holder.state.clone()),
            locality: self.locality.clone().or_else(|| holder.locality.clone()),
        })
    }
}
