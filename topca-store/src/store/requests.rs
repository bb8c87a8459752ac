//! Certificate requests: submission, state changes and holder attempts.

use std::time::{Duration, SystemTime};

use diesel::{prelude::*, result::Error as DieselError};
use topca_core::{
    StoreError,
    lifecycle::RequestState,
    ra::{AccountId, Request, RequestId, RequestRef},
    store::{NewRequest, RequestChange, RequestStore},
};

use super::certificates::revoke_in;
use super::issuance::{InTransaction, Signed};
use super::{DieselStore, Pools, TxError, backend, is_unique_violation, pool_error};
use crate::{
    rows::{EscrowRow, RequestRow, RequestValues, id, nanos},
    schema::{escrowed_keys, holder_attempts, requests},
};

impl RequestStore for DieselStore {
    fn submit_request(&self, new: NewRequest) -> Result<Request, StoreError> {
        let mut request = new.into_request(RequestId(0));
        let new_id: i64 = {
            let values = RequestValues::of(&request, 1)?;
            write!(self, |c| diesel::insert_into(requests::table)
                .values(&values)
                .returning(requests::id)
                .get_result(c)
                .map_err(|e| if is_unique_violation(&e) {
                    TxError::Store(StoreError::Conflict)
                } else {
                    TxError::Db(e)
                }))?
        };
        request.id = RequestId(u64::try_from(new_id).map_err(|_| StoreError::NotFound)?);
        Ok(request)
    }

    fn request(&self, request: RequestId) -> Result<Option<Request>, StoreError> {
        let Ok(key) = id(request.0) else {
            return Ok(None);
        };
        let row = read!(self, |c| requests::table
            .find(key)
            .select(RequestRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(RequestRow::into_request).transpose()
    }

    fn request_by_reference(&self, reference: &RequestRef) -> Result<Option<Request>, StoreError> {
        let row = read!(self, |c| requests::table
            .filter(requests::public_ref.eq(&reference.0))
            .select(RequestRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(RequestRow::into_request).transpose()
    }

    fn requests_in_state(
        &self,
        account: AccountId,
        state: RequestState,
    ) -> Result<Vec<Request>, StoreError> {
        let key = id(account.0)?;
        let state = i32::from(state.code());
        let rows: Vec<RequestRow> = read!(self, |c| requests::table
            .filter(requests::account_id.eq(key))
            .filter(requests::state.eq(state))
            .order(requests::id)
            .select(RequestRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(RequestRow::into_request).collect()
    }

    fn commit_request(&self, change: RequestChange) -> Result<Request, StoreError> {
        let RequestChange {
            request,
            revoke,
            issued,
            escrow,
            audit,
        } = change;
        let key = id(request.id.0)?;
        let version = i64::try_from(request.version).map_err(|_| StoreError::Conflict)?;
        let values = RequestValues::of(&request, request.version + 1)?;
        let revocation = revoke
            .map(|r| Ok::<_, StoreError>((r.serial.to_ascii_uppercase(), nanos(r.at)?, r.reason)))
            .transpose()?;
        let signed = issued
            .into_iter()
            .map(Signed::of)
            .collect::<Result<Vec<_>, _>>()?;
        let escrow = escrow.map(EscrowRow::of).transpose()?;
        write!(self, |c| {
            let updated = diesel::update(
                requests::table
                    .filter(requests::id.eq(key))
                    .filter(requests::version.eq(version)),
            )
            .set(&values)
            .execute(c)?;
            if updated == 0 {
                let exists = requests::table.find(key).count().get_result::<i64>(c)? > 0;
                return Err(if exists {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                }
                .into());
            }
            if let Some((serial, at, reason)) = &revocation {
                revoke_in(c, serial, *at, *reason)?;
            }
            for certificate in &signed {
                c.store_signed(certificate)?;
            }
            if let Some(row) = &escrow {
                diesel::insert_into(escrowed_keys::table)
                    .values(row)
                    .execute(c)
                    .map_err(|e| duplicate(e, &row.encryption_serial))?;
            }
            for record in &audit {
                c.append_audit(record.clone(), self.audit_key.as_ref())?;
            }
            Ok(())
        })?;
        super::audit::committed(&audit);
        let mut stored = request;
        stored.version += 1;
        Ok(stored)
    }

    fn count_holder_attempt(
        &self,
        request: RequestId,
        source: &str,
        now: SystemTime,
        window: Duration,
    ) -> Result<u32, StoreError> {
        let key = id(request.0).map_err(|_| StoreError::NotFound)?;
        let ends = nanos(now + window)?;
        let now = nanos(now)?;
        let this = holder_attempts::table
            .filter(holder_attempts::request_id.eq(key))
            .filter(holder_attempts::source.eq(source));
        let attempts: i32 = write!(self, |c| {
            if requests::table.find(key).count().get_result::<i64>(c)? == 0 {
                return Err(StoreError::NotFound.into());
            }
            // A window that has ended starts again; the row is created once (a
            // concurrent creator wins, the other finds it), then incremented in
            // place, which the database serialises per row.
            diesel::delete(this.filter(holder_attempts::window_ends.le(now))).execute(c)?;
            diesel::insert_into(holder_attempts::table)
                .values((
                    holder_attempts::request_id.eq(key),
                    holder_attempts::source.eq(source),
                    holder_attempts::attempts.eq(0),
                    holder_attempts::window_ends.eq(ends),
                ))
                .on_conflict_do_nothing()
                .execute(c)?;
            Ok(diesel::update(this)
                .set(holder_attempts::attempts.eq(holder_attempts::attempts + 1))
                .returning(holder_attempts::attempts)
                .get_result(c)?)
        })?;
        u32::try_from(attempts).map_err(|_| StoreError::Backend("negative attempt count".into()))
    }

    fn clear_holder_attempts(
        &self,
        request: RequestId,
        source: Option<&str>,
    ) -> Result<(), StoreError> {
        let key = id(request.0)?;
        write!(self, |c| {
            let of_request = holder_attempts::table.filter(holder_attempts::request_id.eq(key));
            match source {
                Some(source) => {
                    diesel::delete(of_request.filter(holder_attempts::source.eq(source)))
                        .execute(c)?
                }
                None => diesel::delete(of_request).execute(c)?,
            };
            Ok(())
        })
    }
}

/// A unique violation on `serial` as [`StoreError::DuplicateSerial`].
fn duplicate(e: DieselError, serial: &str) -> TxError {
    if is_unique_violation(&e) {
        TxError::Store(StoreError::DuplicateSerial(serial.to_owned()))
    } else {
        TxError::Db(e)
    }
}
