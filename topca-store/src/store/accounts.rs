//! Accounts and their server-certificate policies.

use diesel::prelude::*;
use topca_core::{
    StoreError,
    ra::{Account, AccountId, AccountSettings, ServerPolicy},
    store::AccountStore,
};

use super::{DieselStore, Pools, TxError, backend, pool_error};
use crate::{
    rows::{AccountRow, AccountValues, ServerPolicyRow, id},
    schema::{account_policies, accounts},
};

impl AccountStore for DieselStore {
    fn create_account(&self, settings: AccountSettings) -> Result<Account, StoreError> {
        let values = AccountValues::of(&settings)?;
        let new_id: i64 = write!(self, |c| Ok(diesel::insert_into(accounts::table)
            .values(&values)
            .returning(accounts::id)
            .get_result(c)?))?;
        Ok(Account {
            id: AccountId(u64::try_from(new_id).map_err(|_| StoreError::NotFound)?),
            settings,
        })
    }

    fn account(&self, account: AccountId) -> Result<Option<Account>, StoreError> {
        let Ok(key) = id(account.0) else {
            return Ok(None);
        };
        let row = read!(self, |c| accounts::table
            .find(key)
            .select(AccountRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(AccountRow::into_account).transpose()
    }

    fn update_account(&self, account: &Account) -> Result<Account, StoreError> {
        let key = id(account.id.0)?;
        let values = AccountValues::of(&account.settings)?;
        let changed = write!(self, |c| Ok(diesel::update(accounts::table.find(key))
            .set(&values)
            .execute(c)?))?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(account.clone())
    }

    fn search_accounts(&self, keyword: &str, limit: usize) -> Result<Vec<Account>, StoreError> {
        let keyword = keyword.trim().to_lowercase();
        if keyword.is_empty() {
            return Ok(Vec::new());
        }
        let escaped: String = keyword
            .chars()
            .flat_map(|ch| match ch {
                '%' | '_' | '\\' => vec!['\\', ch],
                _ => vec![ch],
            })
            .collect();
        let pattern = format!("%{escaped}%");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<AccountRow> = read!(self, |c| accounts::table
            .filter(accounts::search_text.like(&pattern).escape('\\'))
            .order(accounts::id)
            .limit(limit)
            .select(AccountRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(AccountRow::into_account).collect()
    }

    fn server_policy(&self, account: AccountId) -> Result<Option<ServerPolicy>, StoreError> {
        let Ok(key) = id(account.0) else {
            return Ok(None);
        };
        let row = read!(self, |c| account_policies::table
            .find(key)
            .select(ServerPolicyRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(ServerPolicyRow::into_policy).transpose()
    }

    fn put_server_policy(
        &self,
        account: AccountId,
        policy: &ServerPolicy,
    ) -> Result<(), StoreError> {
        let row = ServerPolicyRow::of(account, policy)?;
        write!(self, |c| {
            let exists: i64 = accounts::table
                .filter(accounts::id.eq(row.account_id))
                .count()
                .get_result(c)?;
            if exists == 0 {
                return Err(TxError::Store(StoreError::NotFound));
            }
            let changed = diesel::update(account_policies::table.find(row.account_id))
                .set(&row)
                .execute(c)?;
            if changed == 0 {
                diesel::insert_into(account_policies::table)
                    .values(&row)
                    .execute(c)?;
            }
            Ok(())
        })
    }
}
