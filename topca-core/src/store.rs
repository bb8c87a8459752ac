//! What the RA needs from storage, as domain verbs on narrow traits. `topca-store`
//! implements them with diesel; [`crate::memory::MemoryStore`] in memory.
//!
//! Guarantees every implementation gives:
//! - each method is atomic: it happens completely or not at all;
//! - updates are compare-and-set on [`Request::version`]: an update made from a
//!   stale copy is refused with [`StoreError::Conflict`], so no update is lost
//!   when callers race;
//! - certificate serials are unique ([`StoreError::DuplicateSerial`]);
//! - a certificate is revoked once ([`StoreError::AlreadyRevoked`]).

use std::time::SystemTime;

use crate::{
    audit::{AuditEntry, AuditRecord},
    error::StoreError,
    kmc::{EscrowedKey, NewRecovery, Recovery, RecoveryId, RecoveryState},
    lifecycle::{CertificateUsage, RequestKind, RequestState, RevocationReason},
    ra::{Account, AccountId, AccountSettings, Holder, Request, RequestId, admin::AdminRecord},
    secret::{CodeHash, PasswordHash},
};

/// Accounts.
pub trait AccountStore: Send + Sync {
    /// Stores a new account and returns it with its identifier.
    fn create_account(&self, settings: AccountSettings) -> Result<Account, StoreError>;
    /// The account with `id`, if any.
    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    /// Replaces a stored account's settings; [`StoreError::NotFound`] if unknown.
    fn update_account(&self, account: &Account) -> Result<Account, StoreError>;
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

impl NewRequest {
    /// The stored request this becomes under `id`: version 1, in the state its
    /// opening names (for stores).
    pub fn into_request(self, id: RequestId) -> Request {
        let (state, pin, pin_expires) = match self.opening {
            Opening::Submitted => (RequestState::Submitted, None, None),
            Opening::AwaitingConfirmation(code, end) => {
                (RequestState::AwaitingConfirmation, Some(code), Some(end))
            }
            Opening::Preapproved(code, end) => (RequestState::Approved, Some(code), Some(end)),
        };
        Request {
            id,
            account: self.account,
            kind: self.kind,
            state,
            holder: self.holder,
            password: self.password,
            pin,
            pin_expires,
            failed_attempts: 0,
            submitted_at: self.submitted_at,
            reject_reason: None,
            issued_serial: None,
            csr: self.csr,
            previous_serial: self.previous_serial,
            version: 1,
        }
    }
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

/// A certificate revoked in the same transaction as a request change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The serial, upper-case hex.
    pub serial: String,
    /// When.
    pub at: SystemTime,
    /// Why.
    pub reason: RevocationReason,
}

/// One atomic change: a request, and what is revoked, issued and escrowed with it.
#[derive(Debug, Clone)]
pub struct RequestChange {
    /// The request as it is to be stored (compare-and-set on its version).
    pub request: Request,
    /// A certificate to revoke with it (a replacement revokes its original).
    pub revoke: Option<Revocation>,
    /// Certificates issued for it (a dual account issues two).
    pub issued: Vec<CertificateRecord>,
    /// The sealed encryption key of a dual issuance.
    pub escrow: Option<EscrowRecord>,
}

impl RequestChange {
    /// A change of the request alone.
    pub fn update(request: Request) -> Self {
        Self {
            request,
            revoke: None,
            issued: Vec::new(),
            escrow: None,
        }
    }
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
    /// Applies `change` completely or not at all: replaces the stored request if its
    /// version is still `change.request.version` ([`StoreError::Conflict`] otherwise),
    /// revokes, stores the issued certificates and the escrowed key; returns the
    /// request with its version bumped.
    fn commit_request(&self, change: RequestChange) -> Result<Request, StoreError>;
    /// Replaces the stored request if its version is still `request.version`, and
    /// returns it with the version bumped; [`StoreError::Conflict`] otherwise.
    fn update_request(&self, request: &Request) -> Result<Request, StoreError> {
        self.commit_request(RequestChange::update(request.clone()))
    }
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
    /// The subject, as text (RFC 4514 order and escaping).
    pub subject: String,
    /// The issuer, as text.
    pub issuer: String,
    /// What the certificate is for.
    pub usage: CertificateUsage,
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
    /// Valid certificates whose end of validity is in `[from, to)`, soonest first.
    fn certificates_ending_between(
        &self,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<CertificateRecord>, StoreError>;
    /// Marks a valid certificate revoked, atomically; [`StoreError::AlreadyRevoked`]
    /// if it is not valid any more, [`StoreError::NotFound`] if unknown.
    fn revoke_certificate(&self, revocation: &Revocation) -> Result<CertificateRecord, StoreError>;
    /// Calls `visit` with every revoked certificate revoked at or after `since` (all
    /// when `None`), in serial order, without loading them all at once: CRLs of a
    /// million entries are built from this.
    fn for_each_revoked(
        &self,
        since: Option<SystemTime>,
        visit: &mut dyn FnMut(&Revocation) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// A CRL as stored, with its history kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlRecord {
    /// The CRL number.
    pub number: u64,
    /// For a delta CRL, the number of its base CRL.
    pub delta_base: Option<u64>,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate.
    pub next_update: SystemTime,
    /// The CRL, DER.
    pub der: Vec<u8>,
}

/// Issued CRLs.
pub trait CrlStore: Send + Sync {
    /// Stores a new CRL; [`StoreError::Conflict`] if its number is not above every
    /// stored number (another node issued one meanwhile).
    fn put_crl(&self, crl: CrlRecord) -> Result<(), StoreError>;
    /// The newest full CRL (`delta == false`) or delta CRL (`delta == true`), if any.
    fn latest_crl(&self, delta: bool) -> Result<Option<CrlRecord>, StoreError>;
}

/// An escrowed encryption key as stored: ciphertext only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowRecord {
    /// The encryption certificate's serial, upper-case hex (the key's identity).
    pub encryption_serial: String,
    /// The signing certificate issued with it.
    pub signing_serial: String,
    /// The holder's e-mail.
    pub email: String,
    /// The sealed key.
    pub key: EscrowedKey,
    /// When it was escrowed.
    pub escrowed_at: SystemTime,
}

/// The KMC's escrowed keys and recovery requests.
pub trait EscrowStore: Send + Sync {
    /// The escrowed key of an encryption certificate, if any.
    fn escrowed_key(&self, encryption_serial: &str) -> Result<Option<EscrowRecord>, StoreError>;
    /// Escrowed keys of a holder e-mail (case-insensitive), newest first.
    fn escrowed_keys_by_email(&self, email: &str) -> Result<Vec<EscrowRecord>, StoreError>;
    /// Stores a new recovery request in state `Requested`, version 1.
    fn create_recovery(&self, recovery: NewRecovery) -> Result<Recovery, StoreError>;
    /// The recovery request with `id`, if any.
    fn recovery(&self, id: RecoveryId) -> Result<Option<Recovery>, StoreError>;
    /// Recovery requests in `state`, oldest first.
    fn recoveries_in_state(&self, state: RecoveryState) -> Result<Vec<Recovery>, StoreError>;
    /// Replaces the stored recovery request if its version is still
    /// `recovery.version` and returns it with the version bumped;
    /// [`StoreError::Conflict`] otherwise.
    fn update_recovery(&self, recovery: &Recovery) -> Result<Recovery, StoreError>;
}

/// The audit log.
pub trait AuditStore: Send + Sync {
    /// Chains `record` after the newest entry and stores it, atomically.
    fn append_audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError>;
    /// Every entry, oldest first.
    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Administrator accounts.
pub trait AdminStore: Send + Sync {
    /// Stores a new administrator; [`StoreError::Conflict`] if the name is taken.
    fn create_admin(&self, admin: AdminRecord) -> Result<(), StoreError>;
    /// The administrator named `name`, if any.
    fn admin(&self, name: &str) -> Result<Option<AdminRecord>, StoreError>;
    /// Replaces the stored administrator if its version is still `admin.version`
    /// and returns it with the version bumped; [`StoreError::Conflict`] otherwise.
    fn update_admin(&self, admin: &AdminRecord) -> Result<AdminRecord, StoreError>;
    /// Every administrator, ordered by name.
    fn admins(&self) -> Result<Vec<AdminRecord>, StoreError>;
    /// The CA setting `name` (for example the CRL schedule), if set.
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Sets the CA setting `name` to `value`, replacing what was there.
    fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError>;
    /// Requests of every account in `state`, oldest first, at most `limit` (the
    /// RA console's queue).
    fn requests_anywhere(
        &self,
        state: RequestState,
        limit: usize,
    ) -> Result<Vec<Request>, StoreError>;
}

/// A mail waiting in the outbox: its message sealed under the master key
/// (it may carry a PIN or a code), never in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    /// The outbox's number for it.
    pub id: u64,
    /// The recipient's address.
    pub recipient: String,
    /// The sealed message.
    pub sealed: Vec<u8>,
    /// Failed delivery attempts so far.
    pub attempts: u32,
    /// When to try (again).
    pub next_attempt: SystemTime,
}

/// The mail outbox: mails queued after the change they tell of, delivered and
/// retried by a sender, removed once sent.
pub trait OutboxStore: Send + Sync {
    /// Queues a mail to `recipient`, due at `due`; its number.
    fn queue_mail(
        &self,
        recipient: &str,
        sealed: &[u8],
        due: SystemTime,
    ) -> Result<u64, StoreError>;
    /// Queued mails due at `now`, oldest first, at most `limit`.
    fn due_mails(&self, now: SystemTime, limit: usize) -> Result<Vec<QueuedMail>, StoreError>;
    /// A mail was sent: it leaves the outbox (its sealed text with it).
    fn mail_sent(&self, id: u64) -> Result<(), StoreError>;
    /// A delivery failed: one more attempt counted, the next one at `next`.
    fn mail_failed(&self, id: u64, next: SystemTime) -> Result<(), StoreError>;
}

/// Everything the registration authority and the KMC use.
pub trait RaStore:
    AccountStore
    + RequestStore
    + CertificateStore
    + AuditStore
    + CrlStore
    + EscrowStore
    + AdminStore
    + OutboxStore
{
}

impl<T> RaStore for T where
    T: AccountStore
        + RequestStore
        + CertificateStore
        + AuditStore
        + CrlStore
        + EscrowStore
        + AdminStore
        + OutboxStore
{
}
