//! ACME objects: nonces spent by deleting them, accounts found by their key's
//! thumbprint, orders stored with their authorizations and challenges in one
//! transaction, and status changes made only from the status the caller saw.

use std::time::SystemTime;

use diesel::prelude::*;
use topca_core::{
    ProfileKind, StoreError,
    audit::AuditRecord,
    store::{
        AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder, AcmeOrderLimit, AcmeStatus,
        AcmeStore,
    },
};

use super::{
    DieselStore, Pools, TxError, backend, conflict_if_unique, issuance::InTransaction, pool_error,
};
use crate::{
    rows::{damaged, nanos, time},
    schema::{acme_accounts, acme_authorizations, acme_challenges, acme_nonces, acme_orders},
};

#[derive(Queryable, Selectable)]
#[diesel(table_name = acme_accounts)]
struct AccountRow {
    id: String,
    profile: String,
    thumbprint: String,
    jwk: String,
    contact: String,
    status: i16,
    created: i64,
}

impl AccountRow {
    fn into_account(self) -> Result<AcmeAccount, StoreError> {
        Ok(AcmeAccount {
            id: self.id,
            profile: self.profile,
            thumbprint: self.thumbprint,
            jwk: self.jwk,
            contact: lines(&self.contact),
            status: status(self.status)?,
            created: time(self.created)?,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = acme_orders)]
struct OrderRow {
    id: String,
    account_id: String,
    identifiers: String,
    status: i16,
    expires: i64,
    error: Option<String>,
    certificate: Option<String>,
    profile: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = acme_authorizations)]
struct AuthorizationRow {
    id: String,
    order_id: String,
    identifier: String,
    status: i16,
    expires: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = acme_challenges)]
struct ChallengeRow {
    id: String,
    authorization_id: String,
    kind: String,
    token: String,
    status: i16,
    validated: Option<i64>,
    error: Option<String>,
}

impl ChallengeRow {
    fn into_challenge(self) -> Result<AcmeChallenge, StoreError> {
        Ok(AcmeChallenge {
            id: self.id,
            authorization: self.authorization_id,
            kind: self.kind,
            token: self.token,
            status: status(self.status)?,
            validated: self.validated.map(time).transpose()?,
            error: self.error,
        })
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn status(code: i16) -> Result<AcmeStatus, StoreError> {
    AcmeStatus::from_code(code).ok_or_else(|| damaged("ACME status"))
}

/// The order of `row` with the identifiers of its authorizations.
fn order(row: OrderRow, authorizations: Vec<String>) -> Result<AcmeOrder, StoreError> {
    Ok(AcmeOrder {
        id: row.id,
        account: row.account_id,
        identifiers: lines(&row.identifiers),
        status: status(row.status)?,
        expires: time(row.expires)?,
        error: row.error,
        certificate: row.certificate,
        profile: row
            .profile
            .map(|label| {
                ProfileKind::from_label(&label).ok_or_else(|| damaged("ACME order profile"))
            })
            .transpose()?,
        authorizations,
    })
}

macro_rules! order_with_authorizations {
    ($store:expr, $filter:expr) => {{
        let found: Option<(OrderRow, Vec<String>)> = read!($store, |c| {
            let row: Option<OrderRow> = acme_orders::table
                .filter($filter)
                .select(OrderRow::as_select())
                .first(c)
                .optional()
                .map_err(backend)?;
            match row {
                None => None,
                Some(row) => {
                    let ids: Vec<String> = acme_authorizations::table
                        .filter(acme_authorizations::order_id.eq(&row.id))
                        .order(acme_authorizations::position)
                        .select(acme_authorizations::id)
                        .load(c)
                        .map_err(backend)?;
                    Some((row, ids))
                }
            }
        });
        found.map(|(row, ids)| order(row, ids)).transpose()
    }};
}

impl AcmeStore for DieselStore {
    fn put_acme_nonce(&self, nonce: &str, expires: SystemTime) -> Result<(), StoreError> {
        let expires = nanos(expires)?;
        read!(self, |c| diesel::insert_into(acme_nonces::table)
            .values((
                acme_nonces::nonce.eq(nonce),
                acme_nonces::expires.eq(expires)
            ))
            .execute(c)
            .map_err(backend)?);
        Ok(())
    }

    fn take_acme_nonce(&self, nonce: &str, now: SystemTime) -> Result<bool, StoreError> {
        let now = nanos(now)?;
        let spent = read!(self, |c| {
            let spent = diesel::delete(
                acme_nonces::table
                    .filter(acme_nonces::nonce.eq(nonce))
                    .filter(acme_nonces::expires.gt(now)),
            )
            .execute(c)
            .map_err(backend)?;
            diesel::delete(acme_nonces::table.filter(acme_nonces::expires.le(now)))
                .execute(c)
                .map_err(backend)?;
            spent
        });
        Ok(spent == 1)
    }

    fn create_acme_account(
        &self,
        account: &AcmeAccount,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
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
            diesel::insert_into(acme_accounts::table)
                .values(values.clone())
                .execute(c)
                .map_err(conflict_if_unique)?;
            c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            Ok(())
        })?;
        super::audit::committed(std::slice::from_ref(&audit));
        Ok(())
    }

    fn acme_account(&self, id: &str) -> Result<Option<AcmeAccount>, StoreError> {
        let row: Option<AccountRow> = read!(self, |c| acme_accounts::table
            .find(id)
            .select(AccountRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(AccountRow::into_account).transpose()
    }

    fn acme_account_by_thumbprint(
        &self,
        thumbprint: &str,
    ) -> Result<Option<AcmeAccount>, StoreError> {
        let row: Option<AccountRow> = read!(self, |c| acme_accounts::table
            .filter(acme_accounts::thumbprint.eq(thumbprint))
            .select(AccountRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(AccountRow::into_account).transpose()
    }

    fn update_acme_account(
        &self,
        account: &AcmeAccount,
        audit: Option<AuditRecord>,
    ) -> Result<(), StoreError> {
        let changes = (
            acme_accounts::thumbprint.eq(&account.thumbprint),
            acme_accounts::jwk.eq(&account.jwk),
            acme_accounts::contact.eq(account.contact.join("\n")),
            acme_accounts::status.eq(account.status.code()),
        );
        write!(self, |c| {
            let changed = diesel::update(acme_accounts::table.find(&account.id))
                .set(changes.clone())
                .execute(c)
                .map_err(conflict_if_unique)?;
            if changed == 0 {
                return Err(StoreError::NotFound.into());
            }
            if let Some(audit) = &audit {
                c.append_audit(audit.clone(), self.audit_key.as_ref())?;
            }
            Ok(())
        })?;
        if let Some(audit) = &audit {
            super::audit::committed(std::slice::from_ref(audit));
        }
        Ok(())
    }

    fn create_acme_order(
        &self,
        order: &AcmeOrder,
        authorizations: &[AcmeAuthorization],
    ) -> Result<(), StoreError> {
        let order_values = (
            acme_orders::id.eq(&order.id),
            acme_orders::account_id.eq(&order.account),
            acme_orders::identifiers.eq(order.identifiers.join("\n")),
            acme_orders::status.eq(order.status.code()),
            acme_orders::expires.eq(nanos(order.expires)?),
            acme_orders::error.eq(&order.error),
            acme_orders::certificate.eq(&order.certificate),
            acme_orders::profile.eq(order.profile.map(ProfileKind::label)),
        );
        let mut authorization_values = Vec::with_capacity(authorizations.len());
        let mut challenge_values = Vec::new();
        for (position, a) in authorizations.iter().enumerate() {
            authorization_values.push((
                acme_authorizations::id.eq(&a.id),
                acme_authorizations::order_id.eq(&order.id),
                acme_authorizations::position
                    .eq(i32::try_from(position).map_err(|_| damaged("ACME position"))?),
                acme_authorizations::identifier.eq(&a.identifier),
                acme_authorizations::status.eq(a.status.code()),
                acme_authorizations::expires.eq(nanos(a.expires)?),
            ));
            for ch in &a.challenges {
                challenge_values.push((
                    acme_challenges::id.eq(&ch.id),
                    acme_challenges::authorization_id.eq(&a.id),
                    acme_challenges::kind.eq(&ch.kind),
                    acme_challenges::token.eq(&ch.token),
                    acme_challenges::status.eq(ch.status.code()),
                    acme_challenges::validated.eq(ch.validated.map(nanos).transpose()?),
                    acme_challenges::error.eq(&ch.error),
                ));
            }
        }
        write!(self, |c| {
            diesel::insert_into(acme_orders::table)
                .values(order_values.clone())
                .execute(c)
                .map_err(conflict_if_unique)?;
            for values in &authorization_values {
                diesel::insert_into(acme_authorizations::table)
                    .values(*values)
                    .execute(c)
                    .map_err(conflict_if_unique)?;
            }
            for values in &challenge_values {
                diesel::insert_into(acme_challenges::table)
                    .values(*values)
                    .execute(c)
                    .map_err(conflict_if_unique)?;
            }
            Ok(())
        })
    }

    fn acme_order(&self, id: &str) -> Result<Option<AcmeOrder>, StoreError> {
        order_with_authorizations!(self, acme_orders::id.eq(id))
    }

    fn acme_orders_of(&self, account: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let ids: Vec<String> = read!(self, |c| acme_orders::table
            .filter(acme_orders::account_id.eq(account))
            .filter(acme_orders::status.ne(AcmeStatus::Invalid.code()))
            .order(acme_orders::id)
            .limit(limit)
            .select(acme_orders::id)
            .load(c)
            .map_err(backend)?);
        Ok(ids)
    }

    fn acme_order_by_certificate(&self, serial: &str) -> Result<Option<AcmeOrder>, StoreError> {
        order_with_authorizations!(self, acme_orders::certificate.eq(serial))
    }

    fn update_acme_order(
        &self,
        order: &AcmeOrder,
        expected: AcmeStatus,
    ) -> Result<bool, StoreError> {
        let changes = (
            acme_orders::status.eq(order.status.code()),
            acme_orders::error.eq(&order.error),
            acme_orders::certificate.eq(&order.certificate),
        );
        let changed = write!(self, |c| {
            Ok(diesel::update(
                acme_orders::table
                    .filter(acme_orders::id.eq(&order.id))
                    .filter(acme_orders::status.eq(expected.code())),
            )
            .set(changes)
            .execute(c)?)
        })?;
        Ok(changed == 1)
    }

    fn acme_authorization(&self, id: &str) -> Result<Option<AcmeAuthorization>, StoreError> {
        let found: Option<(AuthorizationRow, Vec<ChallengeRow>)> = read!(self, |c| {
            let row: Option<AuthorizationRow> = acme_authorizations::table
                .find(id)
                .select(AuthorizationRow::as_select())
                .get_result(c)
                .optional()
                .map_err(backend)?;
            match row {
                None => None,
                Some(row) => {
                    let challenges: Vec<ChallengeRow> = acme_challenges::table
                        .filter(acme_challenges::authorization_id.eq(&row.id))
                        .order(acme_challenges::kind)
                        .select(ChallengeRow::as_select())
                        .load(c)
                        .map_err(backend)?;
                    Some((row, challenges))
                }
            }
        });
        let Some((row, challenges)) = found else {
            return Ok(None);
        };
        Ok(Some(AcmeAuthorization {
            id: row.id,
            order: row.order_id,
            identifier: row.identifier,
            status: status(row.status)?,
            expires: time(row.expires)?,
            challenges: challenges
                .into_iter()
                .map(ChallengeRow::into_challenge)
                .collect::<Result<_, _>>()?,
        }))
    }

    fn acme_challenge(&self, id: &str) -> Result<Option<AcmeChallenge>, StoreError> {
        let row: Option<ChallengeRow> = read!(self, |c| acme_challenges::table
            .find(id)
            .select(ChallengeRow::as_select())
            .get_result(c)
            .optional()
            .map_err(backend)?);
        row.map(ChallengeRow::into_challenge).transpose()
    }

    fn update_acme_challenge(
        &self,
        challenge: &AcmeChallenge,
        expected: AcmeStatus,
        authorization: AcmeStatus,
    ) -> Result<bool, StoreError> {
        let changes = (
            acme_challenges::status.eq(challenge.status.code()),
            acme_challenges::validated.eq(challenge.validated.map(nanos).transpose()?),
            acme_challenges::error.eq(&challenge.error),
        );
        write!(self, |c| {
            let changed = diesel::update(
                acme_challenges::table
                    .filter(acme_challenges::id.eq(&challenge.id))
                    .filter(acme_challenges::status.eq(expected.code())),
            )
            .set(changes)
            .execute(c)?;
            if changed == 1 {
                diesel::update(acme_authorizations::table.find(&challenge.authorization))
                    .set(acme_authorizations::status.eq(authorization.code()))
                    .execute(c)?;
            }
            Ok(changed == 1)
        })
    }

    fn set_acme_authorization_status(
        &self,
        id: &str,
        status: AcmeStatus,
    ) -> Result<(), StoreError> {
        let changed = write!(self, |c| Ok(diesel::update(
            acme_authorizations::table.find(id)
        )
        .set(acme_authorizations::status.eq(status.code()))
        .execute(c)?))?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    fn count_acme_order(
        &self,
        limits: &[AcmeOrderLimit],
        window: i64,
    ) -> Result<Option<usize>, StoreError> {
        super::acme_limits::count_order(self, limits, window)
    }
}
