//! ACME external account binding keys: made with their audit entry in one
//! transaction, and used once: the account is stored in the same transaction
//! that marks its key used, so two accounts never share one key.

use diesel::prelude::*;
use topca_core::{
    StoreError,
    audit::AuditRecord,
    store::{AcmeAccount, AcmeEabKey, AcmeEabStore},
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
}

impl AcmeEabStore for DieselStore {
    fn create_acme_eab_key(&self, key: &AcmeEabKey, audit: AuditRecord) -> Result<(), StoreError> {
        let values = (
            acme_eab_keys::key_id.eq(&key.id),
            acme_eab_keys::profile.eq(&key.profile),
            acme_eab_keys::sealed_key.eq(&key.sealed_key),
            acme_eab_keys::created.eq(nanos(key.created)?),
            acme_eab_keys::account_id.eq(&key.account),
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
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(|row| {
            Ok(AcmeEabKey {
                id: row.key_id,
                profile: row.profile,
                sealed_key: row.sealed_key,
                created: time(row.created)?,
                account: row.account_id,
            })
        })
        .transpose()
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
                    .filter(acme_eab_keys::account_id.is_null()),
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
