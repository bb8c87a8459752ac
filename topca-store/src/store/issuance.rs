//! Record before sign: reservations of serials, certificates stored under them,
//! and audit entries appended inside the transaction of the change they tell of.

use diesel::prelude::*;
use topca_core::{
    StoreError,
    audit::{Actor, AuditEntry, AuditKey, AuditRecord},
    profile::ProfileKind,
    ra::{AccountId, RequestId},
    store::{CertificateRecord, IssuanceStore, Reservation, check_reserved, tbs_sha256},
};

use super::{DieselStore, Pools, TxError, backend, is_unique_violation, pool_error};
use crate::{
    rows::{AuditRow, CertificateRow, damaged, id, nanos, time},
    schema::{audit_entries, certificates, issuances},
};

/// The advisory lock PostgreSQL writers hold while they chain an audit entry
/// ("topcaaud"), until their transaction ends: the entry is appended after the
/// newest committed one even when the transaction also changes other rows.
const AUDIT_LOCK: i64 = 0x746F_7063_6161_7564;

/// A reservation as stored.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = issuances)]
pub(super) struct ReservationRow {
    serial: String,
    tbs_sha256: Vec<u8>,
    profile: String,
    requester_kind: i32,
    requester_name: String,
    account_id: Option<i64>,
    request_id: Option<i64>,
    reserved_at: i64,
    issued: bool,
}

impl ReservationRow {
    pub(super) fn of(r: &Reservation) -> Result<Self, StoreError> {
        let (kind, name) = r.requester.to_parts();
        Ok(Self {
            serial: r.serial.trim().to_ascii_uppercase(),
            tbs_sha256: r.tbs_sha256.to_vec(),
            profile: r.profile.label().to_owned(),
            requester_kind: kind.into(),
            requester_name: name.to_owned(),
            account_id: r.account.map(|a| id(a.0)).transpose()?,
            request_id: r.request.map(|q| id(q.0)).transpose()?,
            reserved_at: nanos(r.reserved_at)?,
            issued: false,
        })
    }

    pub(super) fn into_reservation(self) -> Result<Reservation, StoreError> {
        let unsigned = |n: i64| u64::try_from(n).map_err(|_| damaged("reservation"));
        Ok(Reservation {
            tbs_sha256: self
                .tbs_sha256
                .try_into()
                .map_err(|_| damaged("TBS hash"))?,
            profile: ProfileKind::from_label(&self.profile).ok_or_else(|| damaged("profile"))?,
            requester: u8::try_from(self.requester_kind)
                .ok()
                .and_then(|k| Actor::from_parts(k, self.requester_name))
                .ok_or_else(|| damaged("requester"))?,
            account: self.account_id.map(unsigned).transpose()?.map(AccountId),
            request: self.request_id.map(unsigned).transpose()?.map(RequestId),
            reserved_at: time(self.reserved_at)?,
            issued: self.issued,
            serial: self.serial,
        })
    }
}

/// A certificate ready to be stored in a transaction: its row and the hash of
/// the TBSCertificate it carries.
pub(super) struct Signed {
    row: CertificateRow,
    tbs_sha256: [u8; 32],
}

impl Signed {
    pub(super) fn of(record: CertificateRecord) -> Result<Self, StoreError> {
        let tbs_sha256 = tbs_sha256(&record.der)?;
        Ok(Self {
            row: CertificateRow::of(record)?,
            tbs_sha256,
        })
    }
}

/// Stores a signed certificate under its open reservation and closes it;
/// chains an audit entry; inside the caller's transaction.
macro_rules! in_transaction {
    ($conn:ty, $lock_audit:path) => {
        impl InTransaction for $conn {
            fn store_signed(&mut self, signed: &Signed) -> Result<(), TxError> {
                let c = self;
                let serial = &signed.row.serial;
                if certificates::table
                    .find(serial)
                    .count()
                    .get_result::<i64>(c)?
                    > 0
                {
                    return Err(StoreError::DuplicateSerial(serial.clone()).into());
                }
                let reservation: Option<ReservationRow> = issuances::table
                    .find(serial)
                    .select(ReservationRow::as_select())
                    .get_result(c)
                    .optional()?;
                let reservation = reservation
                    .map(ReservationRow::into_reservation)
                    .transpose()?;
                check_reserved(serial, &signed.tbs_sha256, reservation.as_ref())?;
                diesel::update(issuances::table.find(serial))
                    .set(issuances::issued.eq(true))
                    .execute(c)?;
                diesel::insert_into(certificates::table)
                    .values(&signed.row)
                    .execute(c)
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            TxError::Store(StoreError::DuplicateSerial(serial.clone()))
                        } else {
                            TxError::Db(e)
                        }
                    })?;
                Ok(())
            }

            fn append_audit(
                &mut self,
                record: AuditRecord,
                key: Option<&AuditKey>,
            ) -> Result<AuditEntry, TxError> {
                let c = self;
                $lock_audit(c)?;
                // The newest entry by its sequence number, without a `LIMIT`
                // (SQLite prepares a statement with a bound `LIMIT` anew at
                // every run).
                let newest_entries = diesel::alias!(audit_entries as newest_entries);
                let newest = newest_entries
                    .select(diesel::dsl::max(
                        newest_entries.field(audit_entries::sequence),
                    ))
                    .single_value();
                let last: Option<AuditRow> = audit_entries::table
                    .filter(audit_entries::sequence.nullable().eq(newest))
                    .select(AuditRow::as_select())
                    .get_result(c)
                    .optional()?;
                let last = last.map(AuditRow::into_entry).transpose()?;
                let entry = AuditEntry::append(last.as_ref(), record, key);
                diesel::insert_into(audit_entries::table)
                    .values(&AuditRow::of(&entry)?)
                    .execute(c)
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            TxError::Store(StoreError::Conflict)
                        } else {
                            TxError::Db(e)
                        }
                    })?;
                Ok(entry)
            }
        }
    };
}

/// What a write transaction does on either backend.
pub(super) trait InTransaction {
    /// Stores `signed` under its open reservation, which it closes:
    /// [`StoreError::DuplicateSerial`] if stored already, [`StoreError::NotReserved`]
    /// or [`StoreError::TbsMismatch`] if it was not recorded as it was signed.
    fn store_signed(&mut self, signed: &Signed) -> Result<(), TxError>;
    /// Chains `record` after the newest entry; last in its transaction, since on
    /// PostgreSQL it holds the audit lock until the transaction ends.
    fn append_audit(
        &mut self,
        record: AuditRecord,
        key: Option<&AuditKey>,
    ) -> Result<AuditEntry, TxError>;
}

in_transaction!(SqliteConnection, sqlite_holds_the_write_lock);
in_transaction!(PgConnection, lock_audit_until_commit);

/// SQLite's `BEGIN IMMEDIATE` transactions hold the database's write lock
/// already: no other appender runs until this transaction ends.
fn sqlite_holds_the_write_lock(_: &mut SqliteConnection) -> Result<(), TxError> {
    Ok(())
}

/// Waits for, and holds until this transaction ends, the audit lock, so
/// appenders of other PostgreSQL transactions (of any node) chain after this
/// one's entry, which they then see committed.
fn lock_audit_until_commit(c: &mut PgConnection) -> Result<(), TxError> {
    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({AUDIT_LOCK})")).execute(c)?;
    Ok(())
}

impl IssuanceStore for DieselStore {
    fn reserve_issuance(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let row = ReservationRow::of(reservation)?;
        write!(self, |c| {
            if certificates::table
                .find(&row.serial)
                .count()
                .get_result::<i64>(c)?
                > 0
            {
                return Err(StoreError::Conflict.into());
            }
            diesel::insert_into(issuances::table)
                .values(&row)
                .execute(c)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        TxError::Store(StoreError::Conflict)
                    } else {
                        TxError::Db(e)
                    }
                })?;
            Ok(())
        })
    }

    fn reservation(&self, serial: &str) -> Result<Option<Reservation>, StoreError> {
        let serial = serial.trim().to_ascii_uppercase();
        let row: Option<ReservationRow> = read!(self, |c| issuances::table
            .find(&serial)
            .select(ReservationRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(ReservationRow::into_reservation).transpose()
    }

    fn unfinished_issuances(&self, limit: usize) -> Result<Vec<Reservation>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<ReservationRow> = read!(self, |c| issuances::table
            .filter(issuances::issued.eq(false))
            .order((issuances::reserved_at, issuances::serial))
            .limit(limit)
            .select(ReservationRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter()
            .map(ReservationRow::into_reservation)
            .collect()
    }

    fn store_certificate(
        &self,
        certificate: CertificateRecord,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let signed = Signed::of(certificate)?;
        write!(self, |c| {
            c.store_signed(&signed)?;
            c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            Ok(())
        })?;
        super::audit::committed(std::slice::from_ref(&audit));
        Ok(())
    }
}
