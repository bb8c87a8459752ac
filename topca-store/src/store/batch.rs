//! Record before sign a chunk at a time: the chunk's reservations in one
//! transaction, then its certificates, their reservations closed and their
//! audit entries chained, in one transaction, each with a few statements for
//! the whole chunk rather than a few per certificate.

use std::collections::BTreeMap;

use diesel::prelude::*;
use topca_core::{
    StoreError,
    audit::{AuditEntry, AuditRecord},
    ocsp::Presigned,
    store::{BatchIssuanceStore, CertificateRecord, Reservation, check_reserved, tbs_sha256},
};

use super::{
    DieselStore, Pools, TxError, conflict_if_unique, issuance::InTransaction,
    issuance::ReservationRow, ocsp::OcspRow, pool_error,
};
use crate::{
    rows::{AuditRow, CertificateRow},
    schema::{audit_entries, certificates, issuances, ocsp_responses},
};

/// Rows per INSERT statement (well under SQLite's 32,766 bound parameters).
const ROWS_PER_INSERT: usize = 100;

impl BatchIssuanceStore for DieselStore {
    fn reserve_issuances(&self, reservations: &[Reservation]) -> Result<(), StoreError> {
        if reservations.is_empty() {
            return Ok(());
        }
        let rows = reservations
            .iter()
            .map(ReservationRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        // As the rows store them.
        let serials: Vec<String> = reservations
            .iter()
            .map(|r| r.serial.trim().to_ascii_uppercase())
            .collect();
        write!(self, |c| {
            let stored: i64 = certificates::table
                .filter(certificates::serial.eq_any(&serials))
                .count()
                .get_result(c)?;
            if stored > 0 {
                return Err(StoreError::Conflict.into());
            }
            for part in rows.chunks(ROWS_PER_INSERT) {
                diesel::insert_into(issuances::table)
                    .values(part)
                    .execute(c)
                    .map_err(conflict_if_unique)?;
            }
            Ok(())
        })
    }

    fn store_certificates(
        &self,
        certificates: Vec<(CertificateRecord, AuditRecord)>,
    ) -> Result<(), StoreError> {
        self.store_certificates_with_ocsp(certificates, &[])
    }

    fn store_certificates_with_ocsp(
        &self,
        certificates: Vec<(CertificateRecord, AuditRecord)>,
        ocsp: &[Presigned],
    ) -> Result<(), StoreError> {
        if certificates.is_empty() {
            return Ok(());
        }
        let responses = ocsp
            .iter()
            .map(OcspRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        let mut hashes = BTreeMap::new();
        let mut rows = Vec::with_capacity(certificates.len());
        let mut audits = Vec::with_capacity(certificates.len());
        for (record, audit) in certificates {
            let hash = tbs_sha256(&record.der)?;
            if hashes.insert(record.serial.clone(), hash).is_some() {
                return Err(StoreError::DuplicateSerial(record.serial));
            }
            rows.push(CertificateRow::of(record)?);
            audits.push(audit);
        }
        let serials: Vec<&str> = hashes.keys().map(String::as_str).collect();
        write!(self, |c| {
            let stored: Vec<String> = certificates::table
                .filter(certificates::serial.eq_any(&serials))
                .select(certificates::serial)
                .load(c)?;
            if let Some(serial) = stored.into_iter().next() {
                return Err(StoreError::DuplicateSerial(serial).into());
            }
            let reserved: Vec<ReservationRow> = issuances::table
                .filter(issuances::serial.eq_any(&serials))
                .select(ReservationRow::as_select())
                .load(c)?;
            let mut reserved = reserved
                .into_iter()
                .map(|row| row.into_reservation().map(|r| (r.serial.clone(), r)))
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            for (serial, hash) in &hashes {
                check_reserved(serial, hash, reserved.remove(serial).as_ref())?;
            }
            diesel::update(issuances::table.filter(issuances::serial.eq_any(&serials)))
                .set(issuances::issued.eq(true))
                .execute(c)?;
            for part in rows.chunks(ROWS_PER_INSERT) {
                diesel::insert_into(certificates::table)
                    .values(part)
                    .execute(c)
                    .map_err(conflict_if_unique)?;
            }
            // A response kept already for a serial that was no certificate's
            // (none is stored without its certificate) is left as it is.
            for row in &responses {
                diesel::insert_into(ocsp_responses::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(c)?;
            }
            // The first entry through the connection's own appender (which
            // takes the audit lock where the backend needs one and chains after
            // the newest entry); the others chained after it here and
            // inserted together.
            let mut records = audits.iter();
            let mut chained = Vec::with_capacity(audits.len());
            if let Some(first) = records.next() {
                let mut last = c.append_audit(first.clone(), self.audit_key.as_ref())?;
                for record in records {
                    last = AuditEntry::append(Some(&last), record.clone(), self.audit_key.as_ref());
                    chained.push(AuditRow::of(&last)?);
                }
            }
            for part in chained.chunks(ROWS_PER_INSERT) {
                diesel::insert_into(audit_entries::table)
                    .values(part)
                    .execute(c)
                    .map_err(conflict_if_unique)?;
            }
            Ok(())
        })?;
        super::audit::committed(&audits);
        Ok(())
    }
}
