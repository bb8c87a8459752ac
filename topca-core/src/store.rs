//! What the RA needs from storage, as domain verbs on narrow traits. `topca-store`
//! implements them with diesel; [`crate::memory::MemoryStore`] in memory.
//!
//! Guarantees every implementation gives:
//! - each method is atomic: it happens completely or not at all;
//! - updates are compare-and-set on [`Request::version`]: an update made from a
//!   stale copy is refused with [`StoreError::Conflict`], so no update is lost
//!   when callers race;
//! - certificate serials are unique ([`StoreError::DuplicateSerial`]).

use std::time::SystemTime;

use crate::{
    audit::{AuditEntry, AuditRecord},
    error::StoreError,
    lifecycle::{RequestKind, RequestState, RevocationReason},
    ra::{Account, AccountId, AccountSettings, Holder, Request, RequestId},
    secret::{CodeHash, PasswordHash},
};

/// Accounts.
pub trait AccountStore: Send + Sync {
    /// Stores a new account and returns it with its identifier.
    fn create_account(&self, settings: AccountSettings) -> Result<Account, StoreError>;
    /// The account with `id`, if any.
    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    /// Accounts whose O or OU contains `keyword` (case-insensitive), at most `limit`.
    fn search_accounts(&self, keyword: &str, limit: usize) -> Result<Vec<Account>, StoreError>;
}

/// A request before the store numbers it.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// The account.
    pub account: AccountId,
    /// What it asks for.
    pub kind: RequestKind,
    /// The holder's details.
    pub holder: Holder,
    /// The user password's hash; `None` until a pre-registered holder chooses one.
    pub password: Option<PasswordHash>,
    /// When it was submitted.
    pub submitted_at: SystemTime,
    /// The PKCS#10 request (DER) of a server application.
    pub csr: Option<Vec<u8>>,
    /// The serial of the certificate a renewal or replacement follows.
    pub previous_serial: Option<String>,
    /// How the request starts.
    pub opening: Opening,
}

/// How a new request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// `Submitted`, waiting for the RA.
    Submitted,
    /// `AwaitingConfirmation`: a replacement whose mailed confirmation token (hash,
    /// kept as the request's PIN) expires at the given time.
    AwaitingConfirmation(CodeHash, SystemTime),
    /// `Approved`: pre-registered by the RA in passcode mode, with the mailed
    /// authorization code (hash, kept as the request's PIN) and its expiry.
    Preapproved(CodeHash, SystemTime),
}

/// Certificate requests.
pub trait RequestStore: Send + Sync {
    /// Stores a new request (version 1) in the state its [`NewRequest::opening`] names.
    fn submit_request(&self, request: NewRequest) -> Result<Request, StoreError>;
    /// The request with `id`, if any.
    fn request(&self, id: RequestId) -> Result<Option<Request>, StoreError>;
    /// Requests of an account in `state`, oldest first.
    fn requests_in_state(
        &self,
        account: AccountId,
        state: RequestState,
    ) -> Result<Vec<Request>, StoreError>;
    /// Replaces the stored request if its version is still `request.version`, and
    /// returns it with the version bumped; [`StoreError::Conflict`] otherwise.
    fn update_request(&self, request: &Request) -> Result<Request, StoreError>;
    /// Atomically: updates the request as [`RequestStore::update_request`] does and
    /// stores the certificate issued for it.
    fn complete_issuance(
        &self,
        request: &Request,
        certificate: CertificateRecord,
    ) -> Result<Request, StoreError>;
}

/// Status of an issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStatus {
    /// In force.
    Valid = 1,
    /// Revoked.
    Revoked = 2,
}

/// An issued certificate as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Serial, upper-case hex.
    pub serial: String,
    /// The account it was issued under, if any.
    pub account: Option<AccountId>,
    /// The request it answered, if any.
    pub request: Option<RequestId>,
    /// The holder's name (CN).
    pub holder_name: String,
    /// The holder's e-mail.
    pub email: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Status.
    pub status: CertificateStatus,
    /// When and why it was revoked.
    pub revocation: Option<(SystemTime, RevocationReason)>,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

/// Issued certificates.
pub trait CertificateStore: Send + Sync {
    /// The certificate with `serial` (upper-case hex), if any.
    fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError>;
    /// Certificates of a holder e-mail (case-insensitive), newest first.
    fn certificates_by_email(&self, email: &str) -> Result<Vec<CertificateRecord>, StoreError>;
    /// Certificates of a holder name (exact, after trimming), newest first.
    fn certificates_by_holder_name(&self, name: &str)
    -> Result<Vec<CertificateRecord>, StoreError>;
    /// Marks a valid certificate revoked, atomically; [`StoreError::Conflict`] if it
    /// is not valid any more (revoked meanwhile), [`StoreError::NotFound`] if unknown.
    fn revoke_certificate(
        &self,
        serial: &str,
        at: SystemTime,
        reason: RevocationReason,
    ) -> Result<CertificateRecord, StoreError>;
}

/// The audit log.
pub trait AuditStore: Send + Sync {
    /// Chains `record` after the newest entry and stores it, atomically.
    fn append_audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError>;
    /// Every entry, oldest first.
    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Everything the registration authority uses.
pub trait RaStore: AccountStore + RequestStore + CertificateStore + AuditStore {}

impl<T: AccountStore + RequestStore + CertificateStore + AuditStore> RaStore for T {}
