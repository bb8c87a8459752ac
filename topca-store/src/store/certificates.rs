//! Issued certificates: look-ups, revocation and the revoked list.

use std::time::SystemTime;

use diesel::prelude::*;
use topca_core::{
    StoreError,
    audit::AuditRecord,
    lifecycle::RevocationReason,
    store::{CertificateRecord, CertificateStatus, CertificateStore, Revocation},
};

use super::{DieselStore, Pools, TxError, backend, issuance::InTransaction, pool_error};
use crate::{
    rows::{CertificateRow, nanos, time},
    schema::certificates,
};

/// Revoked certificates read per page by [`CertificateStore::for_each_revoked`].
const REVOKED_PAGE: i64 = 5_000;

/// Marks a valid certificate revoked inside the caller's transaction.
macro_rules! revoke_body {
    ($c:ident, $serial:expr, $at:expr, $reason:expr) => {{
        let changed = diesel::update(
            certificates::table
                .filter(certificates::serial.eq($serial))
                .filter(certificates::status.eq(CertificateStatus::Valid as i32)),
        )
        .set((
            certificates::status.eq(CertificateStatus::Revoked as i32),
            certificates::revoked_at.eq(Some($at)),
            certificates::revocation_reason.eq(Some(i32::from($reason.code()))),
        ))
        .execute($c)?;
        if changed == 0 {
            let exists = certificates::table
                .find($serial)
                .count()
                .get_result::<i64>($c)?
                > 0;
            return Err(if exists {
                StoreError::AlreadyRevoked($serial.to_owned())
            } else {
                StoreError::NotFound
            }
            .into());
        }
        Ok(())
    }};
}

/// Revokes inside a transaction, on either backend.
pub(super) fn revoke_in<C>(
    c: &mut C,
    serial: &str,
    at: i64,
    reason: RevocationReason,
) -> Result<(), TxError>
where
    C: RevokeIn,
{
    c.revoke(serial, at, reason)
}

/// Revocation inside an open transaction, per connection type.
pub(super) trait RevokeIn {
    fn revoke(&mut self, serial: &str, at: i64, reason: RevocationReason) -> Result<(), TxError>;
}

impl RevokeIn for SqliteConnection {
    fn revoke(&mut self, serial: &str, at: i64, reason: RevocationReason) -> Result<(), TxError> {
        let c = self;
        revoke_body!(c, serial, at, reason)
    }
}

impl RevokeIn for PgConnection {
    fn revoke(&mut self, serial: &str, at: i64, reason: RevocationReason) -> Result<(), TxError> {
        let c = self;
        revoke_body!(c, serial, at, reason)
    }
}

impl CertificateStore for DieselStore {
    fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError> {
        let serial = serial.trim().to_ascii_uppercase();
        let row = read!(self, |c| certificates::table
            .find(&serial)
            .select(CertificateRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(CertificateRow::into_record).transpose()
    }

    fn certificates_by_email(&self, email: &str) -> Result<Vec<CertificateRecord>, StoreError> {
        let email = email.trim().to_lowercase();
        let rows: Vec<CertificateRow> = read!(self, |c| certificates::table
            .filter(certificates::email_lower.eq(&email))
            .order(certificates::not_before.desc())
            .select(CertificateRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(CertificateRow::into_record).collect()
    }

    fn certificates_by_holder_name(
        &self,
        name: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let name = name.trim();
        let rows: Vec<CertificateRow> = read!(self, |c| certificates::table
            .filter(certificates::holder_name.eq(name))
            .order(certificates::not_before.desc())
            .select(CertificateRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(CertificateRow::into_record).collect()
    }

    fn certificates_ending_between(
        &self,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let (from, to) = (nanos(from)?, nanos(to)?);
        let rows: Vec<CertificateRow> = read!(self, |c| certificates::table
            .filter(certificates::status.eq(CertificateStatus::Valid as i32))
            .filter(certificates::not_after.ge(from))
            .filter(certificates::not_after.lt(to))
            .order(certificates::not_after.asc())
            .select(CertificateRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(CertificateRow::into_record).collect()
    }

    fn revoke_certificate(
        &self,
        revocation: &Revocation,
        audit: AuditRecord,
    ) -> Result<CertificateRecord, StoreError> {
        let serial = revocation.serial.trim().to_ascii_uppercase();
        let at = nanos(revocation.at)?;
        let row: CertificateRow = write!(self, |c| {
            revoke_in(c, &serial, at, revocation.reason)?;
            let row = certificates::table
                .find(&serial)
                .select(CertificateRow::as_select())
                .get_result(c)?;
            c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            Ok(row)
        })?;
        super::audit::committed(std::slice::from_ref(&audit));
        row.into_record()
    }

    fn for_each_revoked(
        &self,
        since: Option<SystemTime>,
        visit: &mut dyn FnMut(&Revocation) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let since = since.map(nanos).transpose()?.unwrap_or(0);
        let mut after = String::new();
        loop {
            let page: Vec<(String, Option<i64>, Option<i32>)> =
                read!(self, |c| certificates::table
                    .filter(certificates::revoked_at.ge(since))
                    .filter(certificates::serial.gt(&after))
                    .order(certificates::serial)
                    .limit(REVOKED_PAGE)
                    .select((
                        certificates::serial,
                        certificates::revoked_at,
                        certificates::revocation_reason,
                    ))
                    .load(c)
                    .map_err(backend)?);
            let full = i64::try_from(page.len()).unwrap_or(0) == REVOKED_PAGE;
            for (serial, at, reason) in page {
                let (Some(at), Some(reason)) = (at, reason) else {
                    continue;
                };
                let reason = u8::try_from(reason)
                    .ok()
                    .and_then(RevocationReason::from_code)
                    .ok_or_else(|| crate::rows::damaged("revocation reason"))?;
                visit(&Revocation {
                    serial: serial.clone(),
                    at: time(at)?,
                    reason,
                })?;
                after = serial;
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn revoked_since(&self, since: SystemTime) -> Result<bool, StoreError> {
        let since = nanos(since)?;
        read!(self, |c| diesel::select(diesel::dsl::exists(
            certificates::table.filter(certificates::revoked_at.ge(since))
        ))
        .get_result(c)
        .map_err(backend))
    }
}
