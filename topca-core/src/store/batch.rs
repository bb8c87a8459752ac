//! Record before sign for batches: a chunk of reservations in one transaction,
//! then the chunk's signed certificates with their audit entries in one
//! transaction ([`BatchIssuanceStore`]).

use crate::{audit::AuditRecord, error::StoreError, ocsp::Presigned};

use super::{CertificateRecord, IssuanceStore, Reservation};

/// Reservations and certificates a chunk at a time, with the guarantees of
/// [`IssuanceStore`] for each, and each call all or nothing: if any
/// reservation or certificate of the call is refused, none of the call's is
/// written.
pub trait BatchIssuanceStore: IssuanceStore {
    /// Reserves every serial of `reservations` for its TBSCertificate, in one
    /// transaction ([`StoreError::Conflict`] if any serial is reserved or stored
    /// already, or appears twice).
    fn reserve_issuances(&self, reservations: &[Reservation]) -> Result<(), StoreError>;
    /// Stores each certificate under its open reservation, closes the
    /// reservations and appends each audit entry, in one transaction.
    fn store_certificates(
        &self,
        certificates: Vec<(CertificateRecord, AuditRecord)>,
    ) -> Result<(), StoreError>;
    /// As [`Self::store_certificates`], and stores in the same transaction
    /// `ocsp`, the pre-signed OCSP responses of (some of) these certificates.
    /// A store that keeps no OCSP responses (no [`super::OcspStore`]) stores
    /// the certificates only, which is this default.
    fn store_certificates_with_ocsp(
        &self,
        certificates: Vec<(CertificateRecord, AuditRecord)>,
        ocsp: &[Presigned],
    ) -> Result<(), StoreError> {
        let _ = ocsp;
        self.store_certificates(certificates)
    }
}
