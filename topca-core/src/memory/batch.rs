//! Chunks of reservations and certificates, in memory: checked in full under
//! the lock before anything is written, so each call is all or nothing.

use std::collections::BTreeSet;

use crate::{
    audit::AuditRecord,
    error::StoreError,
    store::{BatchIssuanceStore, CertificateRecord, Reservation, check_reserved, tbs_sha256},
};

use super::MemoryStore;

impl BatchIssuanceStore for MemoryStore {
    fn reserve_issuances(&self, reservations: &[Reservation]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let mut seen = BTreeSet::new();
        for reservation in reservations {
            let serial = reservation.serial.to_ascii_uppercase();
            if inner.reservations.contains_key(&serial)
                || inner.certificates.contains_key(&serial)
                || !seen.insert(serial)
            {
                return Err(StoreError::Conflict);
            }
        }
        for reservation in reservations {
            let mut open = reservation.clone();
            open.serial = reservation.serial.to_ascii_uppercase();
            open.issued = false;
            inner.reservations.insert(open.serial.clone(), open);
        }
        Ok(())
    }

    fn store_certificates(
        &self,
        certificates: Vec<(CertificateRecord, AuditRecord)>,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let mut seen = BTreeSet::new();
        for (certificate, _) in &certificates {
            let serial = &certificate.serial;
            if inner.certificates.contains_key(serial) || !seen.insert(serial.clone()) {
                return Err(StoreError::DuplicateSerial(serial.clone()));
            }
            check_reserved(
                serial,
                &tbs_sha256(&certificate.der)?,
                inner.reservations.get(serial),
            )?;
        }
        for (certificate, audit) in certificates {
            inner.store_issued(certificate);
            inner.append_audit(audit, self.audit_key.as_ref());
        }
        Ok(())
    }
}
