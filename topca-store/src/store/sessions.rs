//! Administrator sessions: creation, look-up, expiry and ending.

use std::time::SystemTime;

use diesel::prelude::*;
use topca_core::{
    StoreError,
    store::{AdminSession, SessionStore},
};

use super::{DieselStore, Pools, TxError, backend, is_unique_violation, pool_error};
use crate::{
    rows::{SessionRow, nanos},
    schema::admin_sessions,
};

impl SessionStore for DieselStore {
    fn create_session(&self, session: AdminSession) -> Result<(), StoreError> {
        let row = SessionRow::of(&session)?;
        write!(self, |c| {
            diesel::insert_into(admin_sessions::table)
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

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<AdminSession>, StoreError> {
        let row = read!(self, |c| admin_sessions::table
            .find(token_hash.to_vec())
            .select(SessionRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(SessionRow::into_session).transpose()
    }

    fn touch_session(&self, token_hash: &[u8; 32], at: SystemTime) -> Result<(), StoreError> {
        let at = nanos(at)?;
        write!(self, |c| {
            diesel::update(admin_sessions::table.find(token_hash.to_vec()))
                .set(admin_sessions::last_used.eq(at))
                .execute(c)?;
            Ok(())
        })
    }

    fn end_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        write!(self, |c| {
            diesel::delete(admin_sessions::table.find(token_hash.to_vec())).execute(c)?;
            Ok(())
        })
    }

    fn end_sessions(&self, admin: Option<&str>) -> Result<u64, StoreError> {
        let ended = write!(self, |c| Ok(match admin {
            Some(name) => {
                diesel::delete(admin_sessions::table.filter(admin_sessions::admin.eq(name)))
                    .execute(c)?
            }
            None => diesel::delete(admin_sessions::table).execute(c)?,
        }))?;
        Ok(ended as u64)
    }

    fn prune_sessions(
        &self,
        used_before: SystemTime,
        opened_before: SystemTime,
    ) -> Result<u64, StoreError> {
        let used = nanos(used_before)?;
        let opened = nanos(opened_before)?;
        let ended = write!(self, |c| Ok(diesel::delete(
            admin_sessions::table.filter(
                admin_sessions::last_used
                    .lt(used)
                    .or(admin_sessions::opened.lt(opened))
            )
        )
        .execute(c)?))?;
        Ok(ended as u64)
    }
}
