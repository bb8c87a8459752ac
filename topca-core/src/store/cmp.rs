//! CMP storage (see [`crate::cmp`]): credentials and transactions.

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
    /// Records a new transaction; [`StoreError::Conflict`] when its
    /// transactionID was seen before (a replay).
    fn start_cmp_transaction(&self, transaction: &CmpTransaction) -> Result<(), StoreError>;
    /// The transaction `id`, if it was seen.
    fn cmp_transaction(&self, id: &[u8]) -> Result<Option<CmpTransaction>, StoreError>;
    /// Stores the state, serial and nonce of the known transaction
    /// `transaction.id`; [`StoreError::NotFound`] if it is unknown.
    fn update_cmp_transaction(&self, transaction: &CmpTransaction) -> Result<(), StoreError>;
}
