//! ACME external account binding keys (RFC 8555 §7.3.4): a key identifier and
//! an HMAC key an RA administrator hands to one ACME client, for one ACME
//! profile. The HMAC key is needed in clear to check a binding, so it is kept
//! sealed under the KMC master key, never hashed. A key binds one account.

use std::time::SystemTime;

use crate::{audit::AuditRecord, error::StoreError, store::AcmeAccount};

/// An external account binding key as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct AcmeEabKey {
    /// Its key identifier (`kid` of the binding), random text.
    pub id: String,
    /// The ACME profile it is for (empty: the default profile).
    pub profile: String,
    /// The HMAC key, sealed under the master key and bound to `id`.
    pub sealed_key: Vec<u8>,
    /// When it was made.
    pub created: SystemTime,
    /// The ACME account it bound, once used.
    pub account: Option<String>,
    /// When an RA administrator revoked it (`None` while live): a revoked key
    /// binds no account, and the account it bound is deactivated.
    pub revoked: Option<SystemTime>,
}

impl std::fmt::Debug for AcmeEabKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeEabKey")
            .field("id", &self.id)
            .field("profile", &self.profile)
            .field("account", &self.account)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// Storage of external account binding keys.
pub trait AcmeEabStore: Send + Sync {
    /// Stores a new key with the audit entry of its making, in one transaction;
    /// [`StoreError::Conflict`] when its identifier is taken.
    fn create_acme_eab_key(&self, key: &AcmeEabKey, audit: AuditRecord) -> Result<(), StoreError>;
    /// The key `id`, if any.
    fn acme_eab_key(&self, id: &str) -> Result<Option<AcmeEabKey>, StoreError>;
    /// Whether ACME profile `profile` has any key, used or not (it then
    /// requires a binding from every new account).
    fn acme_profile_has_eab_keys(&self, profile: &str) -> Result<bool, StoreError>;
    /// Keys newest first: `limit` of them from `offset`, and how many there are.
    fn acme_eab_keys(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<AcmeEabKey>, u64), StoreError>;
    /// Revokes the live key `id` at `at` and deactivates the ACME account it
    /// bound, if any, appending `audit`, in one transaction; returns the key
    /// as revoked. [`StoreError::NotFound`] for an unknown key,
    /// [`StoreError::Conflict`] for one revoked already.
    fn revoke_acme_eab_key(
        &self,
        id: &str,
        at: SystemTime,
        audit: AuditRecord,
    ) -> Result<AcmeEabKey, StoreError>;
    /// Stores `account` with its `audit` entry and marks key `key` as used by
    /// it, in one transaction: `false`, with nothing stored, when the key is
    /// unknown, revoked or used already; [`StoreError::Conflict`] when the
    /// account's key is taken.
    fn create_acme_account_bound(
        &self,
        account: &AcmeAccount,
        key: &str,
        audit: AuditRecord,
    ) -> Result<bool, StoreError>;
}
