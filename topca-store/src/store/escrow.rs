//! Escrowed encryption keys and their recoveries.

use diesel::prelude::*;
use topca_core::{
    StoreError,
    audit::AuditRecord,
    kmc::{NewRecovery, Recovery, RecoveryId, RecoveryState},
    store::{EscrowRecord, EscrowStore, Page, RecoveryQuery},
};

use super::{
    DieselStore, Pools, TxError, backend, is_unique_violation, issuance::InTransaction, pool_error,
};
use crate::{
    rows::{EscrowRow, RecoveryRow, RecoveryValues},
    schema::{escrowed_keys, recoveries},
};

impl EscrowStore for DieselStore {
    fn escrowed_key(&self, encryption_serial: &str) -> Result<Option<EscrowRecord>, StoreError> {
        let serial = encryption_serial.trim().to_ascii_uppercase();
        let row = read!(self, |c| escrowed_keys::table
            .find(&serial)
            .select(EscrowRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(EscrowRow::into_record).transpose()
    }

    fn escrowed_keys_by_email(&self, email: &str) -> Result<Vec<EscrowRecord>, StoreError> {
        let email = email.trim().to_lowercase();
        let rows: Vec<EscrowRow> = read!(self, |c| escrowed_keys::table
            .filter(escrowed_keys::email_lower.eq(&email))
            .order(escrowed_keys::escrowed_at.desc())
            .select(EscrowRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(EscrowRow::into_record).collect()
    }

    fn create_recovery(
        &self,
        new: NewRecovery,
        audit: AuditRecord,
    ) -> Result<Recovery, StoreError> {
        let recovery = new.into_recovery();
        let values = RecoveryValues::of(&recovery, 1)?;
        write!(self, |c| {
            diesel::insert_into(recoveries::table)
                .values(&values)
                .execute(c)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        TxError::Store(StoreError::Conflict)
                    } else {
                        e.into()
                    }
                })?;
            c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            Ok(())
        })?;
        super::audit::committed(std::slice::from_ref(&audit));
        Ok(recovery)
    }

    fn recovery(&self, recovery: RecoveryId) -> Result<Option<Recovery>, StoreError> {
        let key = recovery.to_hex();
        let row = read!(self, |c| recoveries::table
            .filter(recoveries::public_id.eq(&key))
            .select(RecoveryRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(RecoveryRow::into_recovery).transpose()
    }

    fn recoveries_in_state(&self, state: RecoveryState) -> Result<Vec<Recovery>, StoreError> {
        let state = i32::from(state.code());
        let rows: Vec<RecoveryRow> = read!(self, |c| recoveries::table
            .filter(recoveries::state.eq(state))
            .order(recoveries::id)
            .select(RecoveryRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(RecoveryRow::into_recovery).collect()
    }

    fn update_recovery(
        &self,
        recovery: &Recovery,
        audit: Vec<AuditRecord>,
    ) -> Result<Recovery, StoreError> {
        let key = recovery.id.to_hex();
        let version = i64::try_from(recovery.version).map_err(|_| StoreError::Conflict)?;
        let values = RecoveryValues::of(recovery, recovery.version + 1)?;
        write!(self, |c| {
            let updated = diesel::update(
                recoveries::table
                    .filter(recoveries::public_id.eq(&key))
                    .filter(recoveries::version.eq(version)),
            )
            .set(&values)
            .execute(c)?;
            if updated == 0 {
                let exists = recoveries::table
                    .filter(recoveries::public_id.eq(&key))
                    .count()
                    .get_result::<i64>(c)?
                    > 0;
                return Err(if exists {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                }
                .into());
            }
            for record in &audit {
                c.append_audit(record.clone(), self.audit_key.as_ref())?;
            }
            Ok(())
        })?;
        super::audit::committed(&audit);
        let mut stored = recovery.clone();
        stored.version += 1;
        Ok(stored)
    }

    fn count_recovery_attempt(&self, recovery: RecoveryId) -> Result<Option<Recovery>, StoreError> {
        let key = recovery.to_hex();
        let row = write!(self, |c| {
            // One statement: concurrent attempts each add one, none is lost.
            let counted = diesel::update(
                recoveries::table
                    .filter(recoveries::public_id.eq(&key))
                    .filter(recoveries::failed_attempts.lt(i32::from(u8::MAX))),
            )
            .set((
                recoveries::failed_attempts.eq(recoveries::failed_attempts + 1),
                recoveries::version.eq(recoveries::version + 1),
            ))
            .returning(RecoveryRow::as_returning())
            .get_result(c)
            .optional()?;
            match counted {
                Some(row) => Ok(Some(row)),
                None => Ok(recoveries::table
                    .filter(recoveries::public_id.eq(&key))
                    .select(RecoveryRow::as_select())
                    .first(c)
                    .optional()?),
            }
        })?;
        row.map(RecoveryRow::into_recovery).transpose()
    }

    fn escrowed_keys_page(
        &self,
        text: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Page<EscrowRecord>, StoreError> {
        self.query_escrowed_keys(text, offset, limit)
    }

    fn recoveries_page(
        &self,
        query: &RecoveryQuery,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Recovery>, StoreError> {
        self.query_recoveries(query, offset, limit)
    }
}
