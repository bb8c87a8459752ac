//! Machine clients' storage (see [`crate::client`]).

use std::time::SystemTime;

use crate::{
    audit::AuditRecord,
    client::{ClientId, MachineClient, NewClient},
    error::StoreError,
};

/// Machine clients, kept with the SHA-256 of their token (never the token).
pub trait ClientStore: Send + Sync {
    /// Stores a new client and appends `audit` in the same transaction;
    /// [`StoreError::Conflict`] when the name is taken.
    fn create_client(
        &self,
        client: NewClient,
        audit: AuditRecord,
    ) -> Result<MachineClient, StoreError>;
    /// The client numbered `id`, if any.
    fn client(&self, id: ClientId) -> Result<Option<MachineClient>, StoreError>;
    /// The client named `name`, if any.
    fn client_by_name(&self, name: &str) -> Result<Option<MachineClient>, StoreError>;
    /// The client (revoked or not) whose token hashes to `token_hash`, if any.
    fn client_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<MachineClient>, StoreError>;
    /// Clients by number, `limit` from `offset`.
    fn clients(&self, offset: usize, limit: usize) -> Result<Vec<MachineClient>, StoreError>;
    /// How many clients there are.
    fn count_clients(&self) -> Result<u64, StoreError>;
    /// Marks client `id` revoked at `at` and appends `audit` in the same
    /// transaction; [`StoreError::NotFound`] if there is no such client,
    /// [`StoreError::Conflict`] if it was revoked already.
    fn revoke_client(
        &self,
        id: ClientId,
        at: SystemTime,
        audit: AuditRecord,
    ) -> Result<MachineClient, StoreError>;
}
