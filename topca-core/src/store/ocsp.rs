//! Pre-signed OCSP responses' storage, shared by the nodes of one database (see
//! [`crate::ocsp::OcspCache`] for the rules a stored response follows).

use std::time::SystemTime;

use crate::{error::StoreError, ocsp::Presigned};

/// Pre-signed OCSP responses, one per certificate.
pub trait OcspStore: Send + Sync {
    /// Stores `responses` in one transaction, each replacing the one stored for
    /// its serial only if it is at least as new and, when that one is revoked,
    /// revoked too (a revocation is never undone); how many were written.
    fn put_ocsp_responses(&self, responses: &[Presigned]) -> Result<usize, StoreError>;
    /// The response stored for `serial`, if any.
    fn ocsp_response(&self, serial: &str) -> Result<Option<Presigned>, StoreError>;
    /// "Revoked" responses signed at or after `since`, oldest first, at most
    /// `limit` (how a node learns of revocations answered by another).
    fn revoked_ocsp_responses_since(
        &self,
        since: SystemTime,
        limit: usize,
    ) -> Result<Vec<Presigned>, StoreError>;
    /// The certificates unexpired at `now` whose notBefore is at or after
    /// `from` and that have no stored response, by notBefore (oldest first,
    /// with it), at most `limit`: found through an index on notBefore, so a
    /// look from the previous one costs what was issued since, not the size
    /// of the store.
    fn certificates_missing_ocsp(
        &self,
        from: SystemTime,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<(String, SystemTime)>, StoreError>;
    /// The latest notBefore of any stored certificate (`None`: none stored).
    fn newest_not_before(&self) -> Result<Option<SystemTime>, StoreError>;
    /// Serials of the certificates unexpired at `now` whose stored response's
    /// nextUpdate comes before `renew_before`, at most `limit` (through an
    /// index on nextUpdate).
    fn ocsp_responses_due(
        &self,
        now: SystemTime,
        renew_before: SystemTime,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
    /// Deletes the responses whose nextUpdate came before `before` (their
    /// certificates expired: the others are renewed); how many.
    fn prune_ocsp_responses(&self, before: SystemTime) -> Result<usize, StoreError>;
}
