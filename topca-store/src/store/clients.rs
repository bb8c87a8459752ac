//! Machine clients: added and revoked with their audit entry in one
//! transaction, found by the hash of their token.

use std::time::SystemTime;

use diesel::prelude::*;
use topca_core::{
    StoreError,
    audit::AuditRecord,
    client::{ClientId, MachineClient, NewClient},
    profile::ProfileKind,
    ra::AccountId,
    store::ClientStore,
};

use super::{
    DieselStore, Pools, TxError, backend, conflict_if_unique, issuance::InTransaction, pool_error,
};
use crate::{
    rows::{damaged, id, nanos, time, unsigned},
    schema::machine_clients,
};

/// A client as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = machine_clients)]
struct ClientRow {
    id: i64,
    name: String,
    account_id: i64,
    profiles: String,
    allowed_names: String,
    validity_days: i32,
    token_hash: Vec<u8>,
    created: i64,
    revoked: Option<i64>,
}

impl ClientRow {
    fn into_client(self) -> Result<MachineClient, StoreError> {
        let profiles = lines(&self.profiles)
            .map(|label| ProfileKind::from_label(label).ok_or_else(|| damaged("client profile")))
            .collect::<Result<_, _>>()?;
        Ok(MachineClient {
            id: ClientId(unsigned(self.id, "client")?),
            name: self.name,
            account: AccountId(unsigned(self.account_id, "client account")?),
            profiles,
            allowed_names: lines(&self.allowed_names).map(str::to_owned).collect(),
            validity_days: u32::try_from(self.validity_days)
                .map_err(|_| damaged("client validity"))?,
            token_hash: self
                .token_hash
                .try_into()
                .map_err(|_| damaged("client token hash"))?,
            created: time(self.created)?,
            revoked: self.revoked.map(time).transpose()?,
        })
    }
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.is_empty())
}

impl ClientStore for DieselStore {
    fn create_client(
        &self,
        client: NewClient,
        audit: AuditRecord,
    ) -> Result<MachineClient, StoreError> {
        let profiles: Vec<&str> = client.profiles.iter().map(|p| p.label()).collect();
        let values = (
            machine_clients::name.eq(&client.name),
            machine_clients::account_id.eq(id(client.account.0)?),
            machine_clients::profiles.eq(profiles.join("\n")),
            machine_clients::allowed_names.eq(client.allowed_names.join("\n")),
            machine_clients::validity_days.eq(i32::try_from(client.validity_days)
                .map_err(|_| StoreError::Backend("validity too long".into()))?),
            machine_clients::token_hash.eq(client.token_hash.to_vec()),
            machine_clients::created.eq(nanos(client.created)?),
        );
        let row: ClientRow = write!(self, |c| {
            let row = diesel::insert_into(machine_clients::table)
                .values(values.clone())
                .returning(ClientRow::as_returning())
                .get_result(c)
                .map_err(conflict_if_unique)?;
            c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            Ok(row)
        })?;
        super::audit::committed(std::slice::from_ref(&audit));
        row.into_client()
    }

    fn client(&self, number: ClientId) -> Result<Option<MachineClient>, StoreError> {
        let Ok(number) = i64::try_from(number.0) else {
            return Ok(None);
        };
        let row: Option<ClientRow> = read!(self, |c| machine_clients::table
            .find(number)
            .select(ClientRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(ClientRow::into_client).transpose()
    }

    fn client_by_name(&self, name: &str) -> Result<Option<MachineClient>, StoreError> {
        let row: Option<ClientRow> = read!(self, |c| machine_clients::table
            .filter(machine_clients::name.eq(name))
            .select(ClientRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(ClientRow::into_client).transpose()
    }

    fn client_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<MachineClient>, StoreError> {
        let row: Option<ClientRow> = read!(self, |c| machine_clients::table
            .filter(machine_clients::token_hash.eq(token_hash.to_vec()))
            .select(ClientRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(ClientRow::into_client).transpose()
    }

    fn clients(&self, offset: usize, limit: usize) -> Result<Vec<MachineClient>, StoreError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<ClientRow> = read!(self, |c| machine_clients::table
            .order(machine_clients::id)
            .offset(offset)
            .limit(limit)
            .select(ClientRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(ClientRow::into_client).collect()
    }

    fn count_clients(&self) -> Result<u64, StoreError> {
        let count: i64 = read!(self, |c| machine_clients::table
            .count()
            .get_result(c)
            .map_err(backend)?);
        unsigned(count, "client count")
    }

    fn revoke_client(
        &self,
        number: ClientId,
        at: SystemTime,
        audit: AuditRecord,
    ) -> Result<MachineClient, StoreError> {
        let number = i64::try_from(number.0).map_err(|_| StoreError::NotFound)?;
        let at = nanos(at)?;
        let row: ClientRow = write!(self, |c| {
            let row: Option<ClientRow> = machine_clients::table
                .find(number)
                .select(ClientRow::as_select())
                .get_result(c)
                .optional()?;
            match row {
                None => return Err(StoreError::NotFound.into()),
                Some(row) if row.revoked.is_some() => return Err(StoreError::Conflict.into()),
                Some(_) => {}
            }
            let row = diesel::update(machine_clients::table.find(number))
                .set(machine_clients::revoked.eq(Some(at)))
                .returning(ClientRow::as_returning())
                .get_result(c)?;
            c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            Ok(row)
        })?;
        super::audit::committed(std::slice::from_ref(&audit));
        row.into_client()
    }
}
