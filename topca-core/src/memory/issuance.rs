//! Reservations before signing, in memory.

use crate::{
    audit::AuditRecord,
    error::StoreError,
    store::{CertificateRecord, IssuanceStore, Reservation, check_reserved, tbs_sha256},
};

use super::MemoryStore;

impl IssuanceStore for MemoryStore {
    fn reserve_issuance(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let serial = reservation.serial.to_ascii_uppercase();
        if inner.reservations.contains_key(&serial) || inner.certificates.contains_key(&serial) {
            return Err(StoreError::Conflict);
        }
        let mut open = reservation.clone();
        open.serial = serial.clone();
        open.issued = false;
        inner.reservations.insert(serial, open);
        Ok(())
    }

    fn reservation(&self, serial: &str) -> Result<Option<Reservation>, StoreError> {
        Ok(self
            .lock()?
            .reservations
            .get(&serial.trim().to_ascii_uppercase())
            .cloned())
    }

    fn unfinished_issuances(&self, limit: usize) -> Result<Vec<Reservation>, StoreError> {
        let mut open: Vec<Reservation> = self
            .lock()?
            .reservations
            .values()
            .filter(|r| !r.issued)
            .cloned()
            .collect();
        open.sort_by(|a, b| (a.reserved_at, &a.serial).cmp(&(b.reserved_at, &b.serial)));
        open.truncate(limit);
        Ok(open)
    }

    fn store_certificate(
        &self,
        certificate: CertificateRecord,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if inner.certificates.contains_key(&certificate.serial) {
            return Err(StoreError::DuplicateSerial(certificate.serial));
        }
        check_reserved(
            &certificate.serial,
            &tbs_sha256(&certificate.der)?,
            inner.reservations.get(&certificate.serial),
        )?;
        inner.store_issued(certificate);
        inner.append_audit(audit, self.audit_key.as_ref());
        Ok(())
    }
}
