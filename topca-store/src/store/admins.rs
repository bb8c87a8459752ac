//! Administrators, their login attempts, settings and the request overview.

use std::time::SystemTime;

use diesel::prelude::*;
use topca_core::{
    StoreError,
    lifecycle::RequestState,
    ra::{Request, admin::AdminRecord},
    store::{AdminStore, LoginAttempt},
};

use super::{DieselStore, Pools, TxError, backend, is_unique_violation, pool_error};
use crate::{
    rows::{AdminRow, RequestRow, nanos},
    schema::{admin_sessions, admins, requests, settings},
};

impl AdminStore for DieselStore {
    fn create_admin(&self, admin: AdminRecord) -> Result<(), StoreError> {
        let row = AdminRow::of(&admin, 1)?;
        write!(self, |c| {
            diesel::insert_into(admins::table)
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

    fn admin(&self, name: &str) -> Result<Option<AdminRecord>, StoreError> {
        let row = read!(self, |c| admins::table
            .find(name)
            .select(AdminRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(AdminRow::into_record).transpose()
    }

    fn update_admin(&self, admin: &AdminRecord) -> Result<AdminRecord, StoreError> {
        let version = i64::try_from(admin.version).map_err(|_| StoreError::Conflict)?;
        let row = AdminRow::of(admin, admin.version + 1)?;
        write!(self, |c| {
            let updated = diesel::update(
                admins::table
                    .filter(admins::name.eq(&admin.name))
                    .filter(admins::version.eq(version)),
            )
            .set(&row)
            .execute(c)?;
            if updated == 0 {
                let exists = admins::table
                    .find(&admin.name)
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
            Ok(())
        })?;
        let mut stored = admin.clone();
        stored.version += 1;
        Ok(stored)
    }

    fn admins(&self) -> Result<Vec<AdminRecord>, StoreError> {
        let rows: Vec<AdminRow> = read!(self, |c| admins::table
            .select(AdminRow::as_select())
            .load(c)
            .map_err(backend)?);
        let mut all = rows
            .into_iter()
            .map(AdminRow::into_record)
            .collect::<Result<Vec<_>, _>>()?;
        // Ordered here, not by the database's collation.
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    fn delete_admin(&self, name: &str) -> Result<(), StoreError> {
        write!(self, |c| {
            let deleted = diesel::delete(admins::table.find(name)).execute(c)?;
            if deleted == 0 {
                return Err(StoreError::NotFound.into());
            }
            diesel::delete(admin_sessions::table.filter(admin_sessions::admin.eq(name)))
                .execute(c)?;
            Ok(())
        })
    }

    fn count_login_attempt(
        &self,
        name: &str,
        now: SystemTime,
        max: u8,
        locked_until: SystemTime,
    ) -> Result<Option<LoginAttempt>, StoreError> {
        let now = nanos(now)?;
        let until = nanos(locked_until)?;
        let max = i32::from(max);
        // Each step is one UPDATE, atomic on the row: PostgreSQL re-checks the
        // conditions of a waiting UPDATE against the row a concurrent one left.
        let (row, counted) = write!(self, |c| {
            let mine = admins::table.filter(admins::name.eq(name));
            diesel::update(mine.filter(admins::locked_until.le(now)))
                .set((
                    admins::failed_logins.eq(0),
                    admins::locked_until.eq(None::<i64>),
                    admins::version.eq(admins::version + 1),
                ))
                .execute(c)?;
            let counted = diesel::update(mine.filter(admins::locked_until.is_null()))
                .set((
                    admins::failed_logins.eq(admins::failed_logins + 1),
                    admins::version.eq(admins::version + 1),
                ))
                .execute(c)?
                > 0;
            if counted {
                diesel::update(
                    mine.filter(admins::locked_until.is_null())
                        .filter(admins::failed_logins.ge(max)),
                )
                .set(admins::locked_until.eq(Some(until)))
                .execute(c)?;
            }
            let row = admins::table
                .find(name)
                .select(AdminRow::as_select())
                .first(c)
                .optional()?;
            Ok((row, counted))
        })?;
        row.map(|row| {
            Ok(LoginAttempt {
                admin: row.into_record()?,
                counted,
            })
        })
        .transpose()
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(read!(self, |c| settings::table
            .find(name)
            .select(settings::value)
            .first::<String>(c)
            .optional()
            .map_err(backend)?))
    }

    fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        write!(self, |c| {
            diesel::delete(settings::table.find(name)).execute(c)?;
            diesel::insert_into(settings::table)
                .values((settings::name.eq(name), settings::value.eq(value)))
                .execute(c)?;
            Ok(())
        })
    }

    fn claim_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        write!(self, |c| {
            // Waits for a concurrent claim to commit, then leaves its value.
            diesel::insert_into(settings::table)
                .values((settings::name.eq(name), settings::value.eq(value)))
                .on_conflict_do_nothing()
                .execute(c)?;
            Ok(settings::table
                .find(name)
                .select(settings::value)
                .first::<String>(c)?)
        })
    }

    fn replace_setting(&self, name: &str, expected: &str, value: &str) -> Result<bool, StoreError> {
        write!(self, |c| {
            // One statement: of two nodes replacing the same value, one matches.
            let changed = diesel::update(
                settings::table
                    .filter(settings::name.eq(name))
                    .filter(settings::value.eq(expected)),
            )
            .set(settings::value.eq(value))
            .execute(c)?;
            Ok(changed == 1)
        })
    }

    fn requests_anywhere(
        &self,
        state: RequestState,
        limit: usize,
    ) -> Result<Vec<Request>, StoreError> {
        let state = i32::from(state.code());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<RequestRow> = read!(self, |c| requests::table
            .filter(requests::state.eq(state))
            .order(requests::id)
            .limit(limit)
            .select(RequestRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(RequestRow::into_request).collect()
    }
}
