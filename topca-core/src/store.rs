//! What the RA needs from storage, as domain verbs on narrow traits. `topca-store`
//! implements them with diesel; [`crate::memory::MemoryStore`] in memory.
//!
//! Guarantees every implementation gives:
//! - each method is atomic: it happens completely or not at all;
//! - updates are compare-and-set on [`Request::version`]: an update made from a
//!   stale copy is refused with [`StoreError::Conflict`], so no update is lost
//!   when callers race;
//! - certificate serials are unique ([`StoreError::DuplicateSerial`]);
//! - a certificate is revoked once ([`StoreError::AlreadyRevoked`]);
//! - a certificate is stored only under an open reservation of its serial made
//!   before it was signed ([`IssuanceStore`]);
//! - the audit entries of an issuance, a revocation or a recovery step are
//!   appended in the transaction that makes the change: both are written or
//!   neither is.

use std::time::{Duration, SystemTime};

mod acme;
mod acme_eab;
mod batch;
mod client;
mod cmp;
mod issuance;
mod listing;
mod ocsp;

pub use acme::{
    AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder, AcmeOrderLimit, AcmeStatus, AcmeStore,
};
pub use acme_eab::{AcmeEabKey, AcmeEabStore};
pub use batch::BatchIssuanceStore;
pub use client::ClientStore;
pub use cmp::CmpStore;
pub use issuance::{IssuanceStore, Reservation, check_reserved, tbs_sha256};
pub use listing::{AuditQuery, Page, RecoveryQuery, contains_folded, escrow_matches};
pub use ocsp::OcspStore;

use crate::{
    audit::{AuditEntry, AuditRecord},
    error::StoreError,
    kmc::{EscrowedKey, NewRecovery, Recovery, RecoveryId, RecoveryState},
    lifecycle::{CertificateUsage, RequestKind, RequestState, RevocationReason},
    ra::{
        Account, AccountId, AccountSettings, Holder, Request, RequestId, RequestRef, ServerPolicy,
        admin::AdminRecord,
    },
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
    /// The server certificate policy set for an account, if one was set.
    fn server_policy(&self, account: AccountId) -> Result<Option<ServerPolicy>, StoreError>;
    /// Sets (replaces) an account's server certificate policy;
    /// [`StoreError::NotFound`] if the account is unknown.
    fn put_server_policy(
        &self,
        account: AccountId,
        policy: &ServerPolicy,
    ) -> Result<(), StoreError>;
}

/// A request before the store numbers it.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// Its public reference (random; the store refuses a duplicate with
    /// [`StoreError::Conflict`]).
    pub reference: RequestRef,
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
            reference: self.reference,
            account: self.account,
            kind: self.kind,
            state,
            holder: self.holder,
            password: self.password,
            pin,
            pin_expires,
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

/// One atomic change: a request, what is revoked, issued and escrowed with it,
/// and the audit entries that tell of it.
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
    /// Audit entries appended, in order, in the same transaction.
    pub audit: Vec<AuditRecord>,
}

impl RequestChange {
    /// A change of the request alone.
    pub fn update(request: Request) -> Self {
        Self {
            request,
            revoke: None,
            issued: Vec::new(),
            escrow: None,
            audit: Vec::new(),
        }
    }
}

/// Certificate requests.
pub trait RequestStore: Send + Sync {
    /// Stores a new request (version 1) in the state its [`NewRequest::opening`] names.
    fn submit_request(&self, request: NewRequest) -> Result<Request, StoreError>;
    /// The request with `id`, if any.
    fn request(&self, id: RequestId) -> Result<Option<Request>, StoreError>;
    /// The request whose public reference is `reference`, if any.
    fn request_by_reference(&self, reference: &RequestRef) -> Result<Option<Request>, StoreError>;
    /// Requests of an account in `state`, oldest first.
    fn requests_in_state(
        &self,
        account: AccountId,
        state: RequestState,
    ) -> Result<Vec<Request>, StoreError>;
    /// Applies `change` completely or not at all: replaces the stored request if its
    /// version is still `change.request.version` ([`StoreError::Conflict`] otherwise),
    /// revokes, stores the issued certificates (each under its open reservation,
    /// which it marks issued; see [`IssuanceStore`]) and the escrowed key, and
    /// appends the audit entries; returns the request with its version bumped.
    fn commit_request(&self, change: RequestChange) -> Result<Request, StoreError>;
    /// Replaces the stored request if its version is still `request.version`, and
    /// returns it with the version bumped; [`StoreError::Conflict`] otherwise.
    fn update_request(&self, request: &Request) -> Result<Request, StoreError> {
        self.commit_request(RequestChange::update(request.clone()))
    }
    /// Counts one attempt at a holder secret (PIN, code, token, user password) of
    /// `request` from `source`, before the secret is checked, and returns the
    /// attempts from that source in the current window, this one included. One
    /// atomic increment, so N concurrent attempts count N. A window starts with
    /// the first attempt and lasts `window`; the next attempt after it ends
    /// starts a new count. [`StoreError::NotFound`] if the request is unknown.
    fn count_holder_attempt(
        &self,
        request: RequestId,
        source: &str,
        now: SystemTime,
        window: Duration,
    ) -> Result<u32, StoreError>;
    /// Forgets the attempts counted against `request` from `source`, or from every
    /// source when `None` (an RA administrator's unlock).
    fn clear_holder_attempts(
        &self,
        request: RequestId,
        source: Option<&str>,
    ) -> Result<(), StoreError>;
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
    /// Marks a valid certificate revoked and appends `audit`, atomically;
    /// [`StoreError::AlreadyRevoked`] if it is not valid any more,
    /// [`StoreError::NotFound`] if unknown.
    fn revoke_certificate(
        &self,
        revocation: &Revocation,
        audit: AuditRecord,
    ) -> Result<CertificateRecord, StoreError>;
    /// Calls `visit` with every revoked certificate revoked at or after `since` (all
    /// when `None`), in serial order, without loading them all at once: CRLs of a
    /// million entries are built from this.
    fn for_each_revoked(
        &self,
        since: Option<SystemTime>,
        visit: &mut dyn FnMut(&Revocation) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Whether any certificate was revoked at or after `since` (has a CRL made
    /// then missed a revocation?).
    fn revoked_since(&self, since: SystemTime) -> Result<bool, StoreError>;
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

impl CrlRecord {
    /// What the CRL says about itself.
    pub fn info(&self) -> crate::crl::CrlInfo {
        crate::crl::CrlInfo {
            number: self.number,
            this_update: self.this_update,
            next_update: self.next_update,
            delta_base: self.delta_base,
        }
    }
}

/// Issued CRLs.
pub trait CrlStore: Send + Sync {
    /// Stores a new CRL; [`StoreError::Conflict`] if its number is not above every
    /// stored number (another node issued one meanwhile).
    fn put_crl(&self, crl: CrlRecord) -> Result<(), StoreError>;
    /// The newest full CRL (`delta == false`) or delta CRL (`delta == true`), if any.
    fn latest_crl(&self, delta: bool) -> Result<Option<CrlRecord>, StoreError>;
    /// What the newest full or delta CRL says about itself, if there is one:
    /// [`CrlStore::latest_crl`] without reading the CRL (which may be large).
    fn latest_crl_info(&self, delta: bool) -> Result<Option<crate::crl::CrlInfo>, StoreError>;
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
    /// Stores a new recovery request in state `Requested`, version 1, and appends
    /// `audit` in the same transaction; [`StoreError::Conflict`] if its
    /// identifier is taken (nothing written).
    fn create_recovery(
        &self,
        recovery: NewRecovery,
        audit: AuditRecord,
    ) -> Result<Recovery, StoreError>;
    /// The recovery request with `id`, if any.
    fn recovery(&self, id: RecoveryId) -> Result<Option<Recovery>, StoreError>;
    /// Recovery requests in `state`, oldest first.
    fn recoveries_in_state(&self, state: RecoveryState) -> Result<Vec<Recovery>, StoreError>;
    /// Replaces the stored recovery request if its version is still
    /// `recovery.version` and appends `audit` in the same transaction, and returns
    /// it with the version bumped; [`StoreError::Conflict`] otherwise (nothing
    /// written, not even the audit entries).
    fn update_recovery(
        &self,
        recovery: &Recovery,
        audit: Vec<AuditRecord>,
    ) -> Result<Recovery, StoreError>;
    /// Counts one authorization-code attempt against the recovery `id` before the
    /// code is checked: adds one to [`Recovery::failed_attempts`] (saturating at
    /// 255) and bumps the version in one atomic step, so that concurrent attempts
    /// each count. Returns the recovery as counted; `None` if unknown.
    fn count_recovery_attempt(&self, id: RecoveryId) -> Result<Option<Recovery>, StoreError>;
    /// The escrowed keys whose serials or holder e-mail contain `text` (case
    /// ignored), newest first, `limit` of them after `offset`. The default
    /// filters every key in memory; a database store runs one query.
    fn escrowed_keys_page(
        &self,
        text: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Page<EscrowRecord>, StoreError>;
    /// The key recoveries `query` selects, newest first, `limit` of them after
    /// `offset`.
    fn recoveries_page(
        &self,
        query: &RecoveryQuery,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Recovery>, StoreError>;
}

/// The audit log.
pub trait AuditStore: Send + Sync {
    /// Chains `record` after the newest entry and stores it, atomically: keyed
    /// under the store's [`crate::audit::AuditKey`] when it was given one, with
    /// the plain hash otherwise.
    fn append_audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError>;
    /// Every entry, oldest first.
    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError>;
    /// The entries `query` selects, newest first, `limit` of them after
    /// `offset` (the console's pages; a database store runs one query).
    fn audit_page(
        &self,
        query: &AuditQuery,
        offset: u64,
        limit: u64,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let entries = self.audit_entries()?;
        Ok(Page::of(
            entries
                .into_iter()
                .rev()
                .filter(|e| query.matches(&e.record)),
            offset,
            limit,
        ))
    }
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
    /// Deletes the administrator `name` and their sessions;
    /// [`StoreError::NotFound`] if there is none.
    fn delete_admin(&self, name: &str) -> Result<(), StoreError>;
    /// Counts a log-in attempt for `name` before its password is checked, in one
    /// atomic step, and returns the administrator as it is after the count
    /// (`None` for an unknown name). An administrator locked until after `now` is
    /// returned unchanged. Otherwise an expired lockout is cleared first, the
    /// failure count goes up by one (an attempt counts as a failure until it
    /// succeeds), and when it reaches `max` the administrator is locked until
    /// `locked_until`. So N concurrent guesses count N.
    fn count_login_attempt(
        &self,
        name: &str,
        now: SystemTime,
        max: u8,
        locked_until: SystemTime,
    ) -> Result<Option<LoginAttempt>, StoreError>;
    /// The CA setting `name` (for example the CRL schedule), if set.
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Sets the CA setting `name` to `value`, replacing what was there.
    fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError>;
    /// Sets the CA setting `name` to `value` only if it is not set, atomically,
    /// and returns the value it holds afterwards: `value` if this call set it,
    /// else the one set first (of several nodes making the same choice at once,
    /// exactly one wins).
    fn claim_setting(&self, name: &str, value: &str) -> Result<String, StoreError>;
    /// Sets the CA setting `name` to `value` only if it holds `expected` now,
    /// atomically (compare and set, for leases between nodes); `false` if it held
    /// something else or was not set.
    fn replace_setting(&self, name: &str, expected: &str, value: &str) -> Result<bool, StoreError>;
    /// Requests of every account in `state`, oldest first, at most `limit` (the
    /// RA console's queue).
    fn requests_anywhere(
        &self,
        state: RequestState,
        limit: usize,
    ) -> Result<Vec<Request>, StoreError>;
}

/// A log-in attempt as [`AdminStore::count_login_attempt`] counted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    /// The administrator after the count.
    pub admin: AdminRecord,
    /// Whether the attempt was counted (`false`: the administrator was locked
    /// out already and the password must not be checked).
    pub counted: bool,
}

/// Administrator sessions, kept by the SHA-256 of their token (never the token).
pub trait SessionStore: Send + Sync {
    /// Stores a new session.
    fn create_session(&self, session: AdminSession) -> Result<(), StoreError>;
    /// The session whose token hashes to `token_hash`, if any.
    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<AdminSession>, StoreError>;
    /// Records that the session was used at `at`.
    fn touch_session(&self, token_hash: &[u8; 32], at: SystemTime) -> Result<(), StoreError>;
    /// Ends one session (nothing if it is gone already).
    fn end_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError>;
    /// Ends the sessions of the administrator `admin`, or every session with
    /// `None`; how many were ended.
    fn end_sessions(&self, admin: Option<&str>) -> Result<u64, StoreError>;
    /// Forgets the sessions last used before `used_before` or opened before
    /// `opened_before` (expired ones); how many.
    fn prune_sessions(
        &self,
        used_before: SystemTime,
        opened_before: SystemTime,
    ) -> Result<u64, StoreError>;
}

/// An administrator's session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    /// SHA-256 of the session token.
    pub token_hash: [u8; 32],
    /// The administrator's name.
    pub admin: String,
    /// When it was opened (for the absolute lifetime).
    pub opened: SystemTime,
    /// When it was last used (for the idle timeout).
    pub last_used: SystemTime,
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
    /// Takes the queued mails due at `now` (oldest first, at most `limit`) for
    /// one sender: their next attempt moves to `until` in the same transaction,
    /// so of several senders (nodes) claiming at once each mail goes to one. A
    /// sender that stops before it reports the mail sent or failed leaves it due
    /// again at `until`. The attempts counted stay as they were.
    fn claim_due_mails(
        &self,
        now: SystemTime,
        until: SystemTime,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, StoreError>;
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
    + IssuanceStore
    + AuditStore
    + CrlStore
    + EscrowStore
    + AdminStore
    + SessionStore
    + OutboxStore
{
}

impl<T> RaStore for T where
    T: AccountStore
        + RequestStore
        + CertificateStore
        + IssuanceStore
        + AuditStore
        + CrlStore
        + EscrowStore
        + AdminStore
        + SessionStore
        + OutboxStore
{
}
