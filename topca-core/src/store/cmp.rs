//! CMP storage (see [`crate::cmp`]): credentials and transactions.

use std::time::SystemTime;

use crate::{
    audit::AuditRecord,
    cmp::{CmpCredential, credential::CmpTransaction},
    error::StoreError,
};

/// CMP credentials (the secret sealed, never in clear) and the transactions
/// seen, which make a replayed transactionID detectable on every node.
pub trait CmpStore: Send + Sync {
    /// Stores a new credential and appends `audit` in the same transaction;
    /// [`StoreError::Conflict`] when the reference is taken.
    fn create_cmp_credential(
        &self,
        credential: &CmpCredential,
        audit: AuditRecord,
    ) -> Result<(), StoreError>;
    /// The credential whose reference is `reference`, if any.
    fn cmp_credential(&self, reference: &str) -> Result<Option<CmpCredential>, StoreError>;
    /// Credentials newest first: `limit` of them from `offset`, and how many
    /// there are.
    fn cmp_credentials(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<CmpCredential>, u64), StoreError>;
    /// Revokes the live credential `reference` at `at`, appending `audit`, in
    /// one transaction; returns it as revoked. [`StoreError::NotFound`] for an
    /// unknown reference, [`StoreError::Conflict`] for one revoked already.
    fn revoke_cmp_credential(
        &self,
        reference: &str,
        at: SystemTime,
        audit: AuditRecord,
    ) -> Result<CmpCredential, StoreError>;
    /// Notes that credential `reference` authenticated a request at `at`.
    fn cmp_credential_used(&self, reference: &str, at: SystemTime) -> Result<(), StoreError>;
    /// Deletes the transactions begun before `before`, except those waiting
    /// for an RA administrator's approval (their transactionIDs can then be
    /// used again); returns how many.
    fn prune_cmp_transactions(&self, before: SystemTime) -> Result<u64, StoreError>;
    /// Records a new transaction; [`StoreError::Conflict`] when its
    /// transactionID was seen before (a replay).
    fn start_cmp_transaction(&self, transaction: &CmpTransaction) -> Result<(), StoreError>;
    /// The transaction `id`, if it was seen.
    fn cmp_transaction(&self, id: &[u8]) -> Result<Option<CmpTransaction>, StoreError>;
    /// Stores the state, serial and nonce of the known transaction
    /// `transaction.id`; [`StoreError::NotFound`] if it is unknown.
    fn update_cmp_transaction(&self, transaction: &CmpTransaction) -> Result<(), StoreError>;
}
