//! ACME (RFC 8555) storage: replay nonces, accounts, orders, authorizations and
//! challenges. Everything lives in the store so that every node of a cluster
//! answers for every object, and a nonce is spent once whichever node sees it.
//! Identifiers are random text (never guessable numbers); times are UTC.

use std::time::SystemTime;

use crate::{audit::AuditRecord, error::StoreError, profile::ProfileKind};

/// The status of an ACME object (RFC 8555 §7.1.6); each object uses its
/// subset. Stored as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcmeStatus {
    /// Waiting for the client (orders, authorizations, challenges).
    Pending = 1,
    /// Every authorization is valid: the order can be finalized.
    Ready = 2,
    /// Being worked on by the server (a challenge under validation).
    Processing = 3,
    /// Done and good.
    Valid = 4,
    /// Failed for good.
    Invalid = 5,
    /// Deactivated by its owner (accounts, authorizations).
    Deactivated = 6,
    /// Revoked (authorizations).
    Revoked = 7,
    /// Expired.
    Expired = 8,
}

/// Every status, in number order.
const STATUSES: [AcmeStatus; 8] = [
    AcmeStatus::Pending,
    AcmeStatus::Ready,
    AcmeStatus::Processing,
    AcmeStatus::Valid,
    AcmeStatus::Invalid,
    AcmeStatus::Deactivated,
    AcmeStatus::Revoked,
    AcmeStatus::Expired,
];

impl AcmeStatus {
    /// The RFC's word for it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Processing => "processing",
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Deactivated => "deactivated",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }

    /// The number it is stored as.
    pub fn code(self) -> i16 {
        self as i16
    }

    /// The status stored as `code`, if it is one.
    pub fn from_code(code: i16) -> Option<Self> {
        STATUSES.into_iter().find(|s| s.code() == code)
    }
}

/// An ACME account: a client's public key under one ACME profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeAccount {
    /// Its random identifier (the last part of its URL).
    pub id: String,
    /// The ACME profile it was made under (empty: the default profile).
    pub profile: String,
    /// The RFC 7638 SHA-256 thumbprint of its key, base64url (unique).
    pub thumbprint: String,
    /// Its public key as a JWK (JSON text).
    pub jwk: String,
    /// Its contact URLs (`mailto:`).
    pub contact: Vec<String>,
    /// `valid` or `deactivated`.
    pub status: AcmeStatus,
    /// When it was made.
    pub created: SystemTime,
}

/// An order for a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeOrder {
    /// Its random identifier.
    pub id: String,
    /// The account that placed it.
    pub account: String,
    /// The names ordered, sorted: DNS names in lower case, IP addresses
    /// (RFC 8738) in their canonical text.
    pub identifiers: Vec<String>,
    /// The certificate profile it was placed for (draft-ietf-acme-profiles);
    /// `None`: the ACME client's default.
    pub profile: Option<ProfileKind>,
    /// Its status.
    pub status: AcmeStatus,
    /// When it expires.
    pub expires: SystemTime,
    /// Why it became invalid (a problem document, JSON), if it did.
    pub error: Option<String>,
    /// The serial of the certificate issued for it, once valid.
    pub certificate: Option<String>,
    /// Its authorizations' identifiers, in the order of `identifiers`.
    pub authorizations: Vec<String>,
}

/// The authorization of one identifier of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeAuthorization {
    /// Its random identifier.
    pub id: String,
    /// The order it belongs to.
    pub order: String,
    /// The DNS name it authorizes.
    pub identifier: String,
    /// Its status.
    pub status: AcmeStatus,
    /// When it expires.
    pub expires: SystemTime,
    /// Its challenges.
    pub challenges: Vec<AcmeChallenge>,
}

/// One way to prove control of an authorization's identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeChallenge {
    /// Its random identifier.
    pub id: String,
    /// The authorization it belongs to.
    pub authorization: String,
    /// Its type (`http-01`).
    pub kind: String,
    /// Its random token.
    pub token: String,
    /// Its status.
    pub status: AcmeStatus,
    /// When it was validated, once valid.
    pub validated: Option<SystemTime>,
    /// Why it failed (a problem document, JSON), if it did.
    pub error: Option<String>,
}

/// ACME storage.
pub trait AcmeStore: Send + Sync {
    /// Keeps a fresh nonce until `expires`.
    fn put_acme_nonce(&self, nonce: &str, expires: SystemTime) -> Result<(), StoreError>;
    /// Spends `nonce`: `true` when it was issued and had not expired by `now`
    /// nor been spent (it is gone afterwards, as are all nonces expired by `now`).
    fn take_acme_nonce(&self, nonce: &str, now: SystemTime) -> Result<bool, StoreError>;
    /// Stores a new account with its `audit` entry, both or neither;
    /// [`StoreError::Conflict`] when its key is taken.
    fn create_acme_account(
        &self,
        account: &AcmeAccount,
        audit: AuditRecord,
    ) -> Result<(), StoreError>;
    /// The account `id`, if any.
    fn acme_account(&self, id: &str) -> Result<Option<AcmeAccount>, StoreError>;
    /// The account whose key has `thumbprint`, if any.
    fn acme_account_by_thumbprint(
        &self,
        thumbprint: &str,
    ) -> Result<Option<AcmeAccount>, StoreError>;
    /// Replaces the key, contact and status of account `account.id`;
    /// [`StoreError::NotFound`] if there is none, [`StoreError::Conflict`] when
    /// the new key is another account's. `audit` (a key rollover, a
    /// deactivation) is appended in the same transaction.
    fn update_acme_account(
        &self,
        account: &AcmeAccount,
        audit: Option<AuditRecord>,
    ) -> Result<(), StoreError>;
    /// Stores a new order with its authorizations and their challenges, all or none.
    fn create_acme_order(
        &self,
        order: &AcmeOrder,
        authorizations: &[AcmeAuthorization],
    ) -> Result<(), StoreError>;
    /// The order `id` (with its authorizations' identifiers), if any.
    fn acme_order(&self, id: &str) -> Result<Option<AcmeOrder>, StoreError>;
    /// The identifiers of at most `limit` orders of `account` that are not
    /// invalid (RFC 8555 §7.1.2.1).
    fn acme_orders_of(&self, account: &str, limit: usize) -> Result<Vec<String>, StoreError>;
    /// The order whose certificate has `serial`, if any.
    fn acme_order_by_certificate(&self, serial: &str) -> Result<Option<AcmeOrder>, StoreError>;
    /// Sets the status, error and certificate of order `order.id` if its status
    /// is still `expected`: `false` (nothing changed) when it is not.
    fn update_acme_order(
        &self,
        order: &AcmeOrder,
        expected: AcmeStatus,
    ) -> Result<bool, StoreError>;
    /// The authorization `id` with its challenges, if any.
    fn acme_authorization(&self, id: &str) -> Result<Option<AcmeAuthorization>, StoreError>;
    /// The challenge `id`, if any.
    fn acme_challenge(&self, id: &str) -> Result<Option<AcmeChallenge>, StoreError>;
    /// Sets the status, time and error of challenge `challenge.id` if its status
    /// is still `expected`, and the status of its authorization to
    /// `authorization`, in one transaction: `false` when it was not `expected`.
    fn update_acme_challenge(
        &self,
        challenge: &AcmeChallenge,
        expected: AcmeStatus,
        authorization: AcmeStatus,
    ) -> Result<bool, StoreError>;
    /// Sets the status of authorization `id` (deactivation).
    fn set_acme_authorization_status(&self, id: &str, status: AcmeStatus)
    -> Result<(), StoreError>;
    /// Counts one new order against every limit of `limits` in fixed window
    /// number `window`, all or none in one transaction, so that every node
    /// sharing the store shares the counts: `None` when all were under their
    /// limit (each is raised by one), or the index of the first limit already
    /// reached (nothing counted). Counts of earlier windows are dropped.
    fn count_acme_order(
        &self,
        limits: &[AcmeOrderLimit],
        window: i64,
    ) -> Result<Option<usize>, StoreError>;
}

/// A limit on new ACME orders: `key` may be named by `limit` new orders in
/// each window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeOrderLimit {
    /// What is limited: `account:ID`, `identifier:NAME`.
    pub key: String,
    /// How many new orders a window allows it.
    pub limit: u32,
}
