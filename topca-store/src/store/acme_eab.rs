//! ACME external account binding keys: made with their audit entry in one
//! transaction, and used once: the account is stored in the same transaction
//! that marks its key used, so two accounts never share one key.

use std::time::SystemTime;

use diesel::prelude::*;
use topca_core::{
    StoreError,
    audit::AuditRecord,
    store::{AcmeAccount, AcmeEabKey, AcmeEabStore, AcmeStatus},
};

use super::{
    DieselStore, Pools, TxError, backend, conflict_if_unique, issuance::InTransaction, pool_error,
};
use crate::{
    rows::{nanos, time},
    schema::{acme_accounts, acme_eab_keys},
};

#[derive(Queryable, Selectable)]
#[diesel(table_name = acme_eab_keys)]
struct KeyRow {
    key_id: String,
    profile: String,
    sealed_key: Vec<u8>,
    created: i64,
    account_id: Option<String>,
    revoked: Option<i64>,
}

impl KeyRow {
    fn into_key(self) -> Result<AcmeEabKey, StoreError> {
        Ok(AcmeEabKey {
            id: self.key_id,
            profile: self.profile,
            sealed_key: self.sealed_key,
            created: time(self.created)?,
            account: self.account_id,
            revoked: self.revoked.map(time).transpose()?,
        })
    }
}

impl AcmeEabStore for DieselStore {
    fn create_acme_eab_key(&self, key: &AcmeEabKey, audit: AuditRecord) -> Result<(), StoreError> {
        let values = (
            acme_eab_keys::key_id.eq(&key.id),
            acme_eab_keys::profile.eq(&key.profile),
            acme_eab_keys::sealed_key.eq(&key.sealed_key),
            acme_eab_keys::created.eq(nanos(key.created)?),
            acme_eab_keys::account_id.eq(&key.account),
            acme_eab_keys::revoked.eq(key.revoked.map(nanos).transpose()?),
        );
        write!(self, |c| {
            diesel::insert_into(acme_eab_keys::table)
                .values(values)
                .execute(c)
                .map_err(conflict_if_unique)?;
            c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            Ok(())
        })?;
        super::audit::committed(std::slice::from_ref(&audit));
        Ok(())
    }

    fn acme_eab_key(&self, id: &str) -> Result<Option<AcmeEabKey>, StoreError> {
        let row: Option<KeyRow> = read!(self, |c| acme_eab_keys::table
            .find(id)
            .select(KeyRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(KeyRow::into_key).transpose()
    }

    fn acme_eab_keys(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<AcmeEabKey>, u64), StoreError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (rows, count): (Vec<KeyRow>, i64) = read!(self, |c| {
            let rows = acme_eab_keys::table
                .order((acme_eab_keys::created.desc(), acme_eab_keys::key_id))
                .offset(offset)
                .limit(limit)
                .select(KeyRow::as_select())
                .load(c)
                .map_err(backend)?;
            let count = acme_eab_keys::table
                .count()
                .get_result(c)
                .map_err(backend)?;
            (rows, count)
        });
        let keys = rows
            .into_iter()
            .map(KeyRow::into_key)
            .collect::<Result<_, _>>()?;
        Ok((keys, u64::try_from(count).unwrap_or(0)))
    }

    fn revoke_acme_eab_key(
        &self,
        id: &str,
        at: SystemTime,
        audit: AuditRecord,
    ) -> Result<AcmeEabKey, StoreError> {
        let at = nanos(at)?;
        let row: KeyRow = write!(self, |c| {
            let revoked: Option<Option<i64>> = acme_eab_keys::table
                .find(id)
                .select(acme_eab_keys::revoked)
                .get_result(c)
                .optional()?;
            match revoked {
                None => return Err(StoreError::NotFound.into()),
                Some(Some(_)) => return Err(StoreError::Conflict.into()),
                Some(None) => {}
            }
            // Only a live row changes: of two revocations at once, one wins.
            let row: Option<KeyRow> = diesel::update(
                acme_eab_keys::table
                    .filter(acme_eab_keys::key_id.eq(id))
                    .filter(acme_eab_keys::revoked.is_null()),
            )
            .set(acme_eab_keys::revoked.eq(Some(at)))
            .returning(KeyRow::as_returning())
            .get_result(c)
            .optional()?;
            let Some(row) = row else {
                return Err(StoreError::Conflict.into());
            };
            if let Some(account) = &row.account_id {
                diesel::update(acme_accounts::table.find(account))
                    .set(acme_accounts::status.eq(AcmeStatus::Deactivated.code()))
                    .execute(c)?;
            }
            c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            Ok(row)
        })?;
        super::audit::committed(std::slice::from_ref(&audit));
        row.into_key()
    }

    fn acme_profile_has_eab_keys(&self, profile: &str) -> Result<bool, StoreError> {
        let found: Option<String> = read!(self, |c| acme_eab_keys::table
            .filter(acme_eab_keys::profile.eq(profile))
            .select(acme_eab_keys::key_id)
            .first(c)
            .optional()
            .map_err(backend)?);
        Ok(found.is_some())
    }

    fn create_acme_account_bound(
        &self,
        account: &AcmeAccount,
        key: &str,
        audit: AuditRecord,
    ) -> Result<bool, StoreError> {
        let values = (
            acme_accounts::id.eq(&account.id),
            acme_accounts::profile.eq(&account.profile),
            acme_accounts::thumbprint.eq(&account.thumbprint),
            acme_accounts::jwk.eq(&account.jwk),
            acme_accounts::contact.eq(account.contact.join("\n")),
            acme_accounts::status.eq(account.status.code()),
            acme_accounts::created.eq(nanos(account.created)?),
        );
        write!(self, |c| {
            let claimed = diesel::update(
                acme_eab_keys::table
                    .filter(acme_eab_keys::key_id.eq(key))
                    .filter(acme_eab_keys::account_id.is_null())
                    .filter(acme_eab_keys::revoked.is_null()),
            )
            .set(acme_eab_keys::account_id.eq(&account.id))
            .execute(c)
            .map_err(backend)?;
            if claimed != 1 {
                return Ok(false);
            }
            diesel::insert_into(acme_accounts::table)
                .values(values.clone())
                .execute(c)
                .map_err(conflict_if_unique)?;
            c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            Ok(true)
        })
        .inspect(|&bound| {
            if bound {
                super::audit::committed(std::slice::from_ref(&audit));
            }
        })
    }
}
