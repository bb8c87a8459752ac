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
/// Up to this many rows (the groups of single calls), each is looked up and
/// inserted by its own statement, prepared once per connection and kept: a
/// statement over a list of rows has another text for each length, and SQLite
/// prepares it anew at every call (inside the write lock). Longer lists (the
/// chunks of batches) take a few statements for the lot.
const FEW: usize = 16;

/// Inserts the rows `$rows` into `$table` in the transaction `$c`: one kept
/// statement a row for [`FEW`] or fewer, else [`ROWS_PER_INSERT`] rows a
/// statement; a duplicate key is [`StoreError::Conflict`].
macro_rules! insert_all {
    ($c:expr, $table:expr, $rows:expr) => {
        if $rows.len() <= FEW {
            for row in $rows.iter() {
                diesel::insert_into($table)
                    .values(row)
                    .execute($c)
                    .map_err(conflict_if_unique)?;
            }
        } else {
            for part in $rows.chunks(ROWS_PER_INSERT) {
                diesel::insert_into($table)
                    .values(part)
                    .execute($c)
                    .map_err(conflict_if_unique)?;
            }
        }
    };
}

/// The rows of `$table` whose `$serial` is one of `$serials`, selected as
/// `$select`, in the transaction `$c`: one kept statement a serial for
/// [`FEW`] or fewer, else one statement for the list.
macro_rules! load_by_serials {
    ($c:expr, $table:expr, $serial:expr, $select:expr, $serials:expr) => {
        if $serials.len() <= FEW {
            let mut found = Vec::new();
            for serial in $serials.iter() {
                found.extend(
                    $table
                        .filter($serial.eq(serial))
                        .select($select)
                        .get_result($c)
                        .optional()?,
                );
            }
            found
        } else {
            $table
                .filter($serial.eq_any($serials))
                .select($select)
                .load($c)?
        }
    };
}

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
            let stored: Vec<String> = load_by_serials!(
                c,
                certificates::table,
                certificates::serial,
                certificates::serial,
                &serials
            );
            if !stored.is_empty() {
                return Err(StoreError::Conflict.into());
            }
            insert_all!(c, issuances::table, rows);
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
            let stored: Vec<String> = load_by_serials!(
                c,
                certificates::table,
                certificates::serial,
                certificates::serial,
                &serials
            );
            if let Some(serial) = stored.into_iter().next() {
                return Err(StoreError::DuplicateSerial(serial).into());
            }
            let reserved: Vec<ReservationRow> = load_by_serials!(
                c,
                issuances::table,
                issuances::serial,
                ReservationRow::as_select(),
                &serials
            );
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
            insert_all!(c, certificates::table, rows);
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
            insert_all!(c, audit_entries::table, chained);
            Ok(())
        })?;
        super::audit::committed(&audits);
        Ok(())
    }
}
