//! CMP credentials (added with their audit entry in one transaction) and
//! transactions (the primary key makes a transactionID usable once, on
//! every node).

use std::time::SystemTime;

use diesel::prelude::*;
use topca_core::{
    StoreError,
    audit::AuditRecord,
    cmp::{
        CmpCredential,
        credential::{CmpTransaction, TransactionState},
    },
    ra::{AccountId, RequestId},
    store::CmpStore,
};

use super::{
    DieselStore, Pools, TxError, backend, conflict_if_unique, issuance::InTransaction, pool_error,
};
use crate::{
    rows::{damaged, id, nanos, time, unsigned},
    schema::{cmp_credentials, cmp_transactions},
};

/// A credential as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = cmp_credentials)]
struct CredentialRow {
    reference: String,
    account_id: i64,
    sealed_secret: Vec<u8>,
    created: i64,
    revoked: Option<i64>,
    last_used: Option<i64>,
}

impl CredentialRow {
    fn into_credential(self) -> Result<CmpCredential, StoreError> {
        Ok(CmpCredential {
            reference: self.reference,
            account: AccountId(unsigned(self.account_id, "CMP credential account")?),
            sealed_secret: self.sealed_secret,
            created: time(self.created)?,
            revoked: self.revoked.map(time).transpose()?,
            last_used: self.last_used.map(time).transpose()?,
        })
    }
}

/// A transaction as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = cmp_transactions)]
struct TransactionRow {
    transaction_id: Vec<u8>,
    sender: String,
    nonce: Vec<u8>,
    serial: Option<String>,
    request_id: Option<i64>,
    state: String,
    started: i64,
}

impl TransactionRow {
    fn into_transaction(self) -> Result<CmpTransaction, StoreError> {
        Ok(CmpTransaction {
            id: self.transaction_id,
            sender: self.sender,
            nonce: self.nonce,
            serial: self.serial,
            request: self
                .request_id
                .map(|n| unsigned(n, "CMP transaction request").map(RequestId))
                .transpose()?,
            state: TransactionState::from_label(&self.state)
                .ok_or_else(|| damaged("CMP transaction state"))?,
            started: time(self.started)?,
        })
    }
}

impl CmpStore for DieselStore {
    fn create_cmp_credential(
        &self,
        credential: &CmpCredential,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let values = (
            cmp_credentials::reference.eq(&credential.reference),
            cmp_credentials::account_id.eq(id(credential.account.0)?),
            cmp_credentials::sealed_secret.eq(&credential.sealed_secret),
            cmp_credentials::created.eq(nanos(credential.created)?),
        );
        write!(self, |c| {
            diesel::insert_into(cmp_credentials::table)
                .values(values)
                .execute(c)
                .map_err(conflict_if_unique)?;
            c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            Ok(())
        })?;
        super::audit::committed(std::slice::from_ref(&audit));
        Ok(())
    }

    fn cmp_credential(&self, reference: &str) -> Result<Option<CmpCredential>, StoreError> {
        let row: Option<CredentialRow> = read!(self, |c| cmp_credentials::table
            .find(reference)
            .select(CredentialRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(CredentialRow::into_credential).transpose()
    }

    fn cmp_credentials(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<CmpCredential>, u64), StoreError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (rows, count): (Vec<CredentialRow>, i64) = read!(self, |c| {
            let rows = cmp_credentials::table
                .order((cmp_credentials::created.desc(), cmp_credentials::reference))
                .offset(offset)
                .limit(limit)
                .select(CredentialRow::as_select())
                .load(c)
                .map_err(backend)?;
            let count = cmp_credentials::table
                .count()
                .get_result(c)
                .map_err(backend)?;
            (rows, count)
        });
        let credentials = rows
            .into_iter()
            .map(CredentialRow::into_credential)
            .collect::<Result<_, _>>()?;
        Ok((credentials, unsigned(count, "CMP credential count")?))
    }

    fn revoke_cmp_credential(
        &self,
        reference: &str,
        at: SystemTime,
        audit: AuditRecord,
    ) -> Result<CmpCredential, StoreError> {
        let at = nanos(at)?;
        let row: CredentialRow = write!(self, |c| {
            let revoked: Option<Option<i64>> = cmp_credentials::table
                .find(reference)
                .select(cmp_credentials::revoked)
                .get_result(c)
                .optional()?;
            match revoked {
                None => return Err(StoreError::NotFound.into()),
                Some(Some(_)) => return Err(StoreError::Conflict.into()),
                Some(None) => {}
            }
            // Only a live row changes: of two revocations at once, one wins.
            let row: Option<CredentialRow> = diesel::update(
                cmp_credentials::table
                    .filter(cmp_credentials::reference.eq(reference))
                    .filter(cmp_credentials::revoked.is_null()),
            )
            .set(cmp_credentials::revoked.eq(Some(at)))
            .returning(CredentialRow::as_returning())
            .get_result(c)
            .optional()?;
            let Some(row) = row else {
                return Err(StoreError::Conflict.into());
            };
            c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            Ok(row)
        })?;
        super::audit::committed(std::slice::from_ref(&audit));
        row.into_credential()
    }

    fn cmp_credential_used(&self, reference: &str, at: SystemTime) -> Result<(), StoreError> {
        let at = nanos(at)?;
        write!(self, |c| {
            diesel::update(cmp_credentials::table.find(reference))
                .set(cmp_credentials::last_used.eq(Some(at)))
                .execute(c)?;
            Ok(())
        })
    }

    fn prune_cmp_transactions(&self, before: SystemTime) -> Result<u64, StoreError> {
        let before = nanos(before)?;
        let deleted = write!(self, |c| {
            Ok(diesel::delete(
                cmp_transactions::table
                    .filter(cmp_transactions::started.lt(before))
                    .filter(cmp_transactions::state.ne(TransactionState::Pending.label())),
            )
            .execute(c)?)
        })?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }

    fn start_cmp_transaction(&self, transaction: &CmpTransaction) -> Result<(), StoreError> {
        let request = transaction.request.map(|r| id(r.0)).transpose()?;
        let values = (
            cmp_transactions::transaction_id.eq(&transaction.id),
            cmp_transactions::request_id.eq(request),
            cmp_transactions::sender.eq(&transaction.sender),
            cmp_transactions::nonce.eq(&transaction.nonce),
            cmp_transactions::serial.eq(&transaction.serial),
            cmp_transactions::state.eq(transaction.state.label()),
            cmp_transactions::started.eq(nanos(transaction.started)?),
        );
        write!(self, |c| {
            diesel::insert_into(cmp_transactions::table)
                .values(values)
                .execute(c)
                .map_err(conflict_if_unique)?;
            Ok(())
        })
    }

    fn cmp_transaction(&self, number: &[u8]) -> Result<Option<CmpTransaction>, StoreError> {
        let row: Option<TransactionRow> = read!(self, |c| cmp_transactions::table
            .find(number)
            .select(TransactionRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(TransactionRow::into_transaction).transpose()
    }

    fn update_cmp_transaction(&self, transaction: &CmpTransaction) -> Result<(), StoreError> {
        let request = transaction.request.map(|r| id(r.0)).transpose()?;
        let changed = write!(self, |c| {
            Ok(
                diesel::update(cmp_transactions::table.find(&transaction.id))
                    .set((
                        cmp_transactions::request_id.eq(request),
                        cmp_transactions::nonce.eq(&transaction.nonce),
                        cmp_transactions::serial.eq(&transaction.serial),
                        cmp_transactions::state.eq(transaction.state.label()),
                    ))
                    .execute(c)?,
            )
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
