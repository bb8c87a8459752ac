//! Pre-signed OCSP responses: one row per certificate, replaced under the rules
//! of [`OcspStore::put_ocsp_responses`].

use std::time::SystemTime;

use diesel::prelude::*;
use topca_core::{StoreError, ocsp::Presigned, store::OcspStore};

use super::{DieselStore, Pools, TxError, backend, pool_error};
use crate::{
    rows::{nanos, time},
    schema::{certificates, ocsp_responses},
};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ocsp_responses)]
pub(super) struct OcspRow {
    serial: String,
    der: Vec<u8>,
    this_update: i64,
    next_update: i64,
    revoked: bool,
}

impl OcspRow {
    pub(super) fn of(p: &Presigned) -> Result<Self, StoreError> {
        Ok(Self {
            serial: p.serial.clone(),
            der: p.der.clone(),
            this_update: nanos(p.this_update)?,
            next_update: nanos(p.next_update)?,
            revoked: p.revoked,
        })
    }

    fn into_presigned(self) -> Result<Presigned, StoreError> {
        Ok(Presigned {
            serial: self.serial,
            der: self.der,
            this_update: time(self.this_update)?,
            next_update: time(self.next_update)?,
            revoked: self.revoked,
        })
    }
}

#[derive(QueryableByName)]
struct SerialRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    serial: String,
}

#[derive(QueryableByName)]
struct MissingRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    serial: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    not_before: i64,
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl OcspStore for DieselStore {
    fn put_ocsp_responses(&self, responses: &[Presigned]) -> Result<usize, StoreError> {
        let rows = responses
            .iter()
            .map(OcspRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        write!(self, |c| {
            let mut written = 0;
            for row in &rows {
                let kept: Option<(i64, bool)> = ocsp_responses::table
                    .find(&row.serial)
                    .select((ocsp_responses::this_update, ocsp_responses::revoked))
                    .get_result(c)
                    .optional()?;
                match kept {
                    None => {
                        diesel::insert_into(ocsp_responses::table)
                            .values(row)
                            .execute(c)?;
                    }
                    Some((at, revoked)) if row.this_update >= at && (row.revoked || !revoked) => {
                        diesel::update(ocsp_responses::table.find(&row.serial))
                            .set(row)
                            .execute(c)?;
                    }
                    Some(_) => continue,
                }
                written += 1;
            }
            Ok(written)
        })
    }

    fn ocsp_response(&self, serial: &str) -> Result<Option<Presigned>, StoreError> {
        let row: Option<OcspRow> = read!(self, |c| {
            ocsp_responses::table
                .find(serial)
                .select(OcspRow::as_select())
                .get_result(c)
                .optional()
                .map_err(backend)?
        });
        row.map(OcspRow::into_presigned).transpose()
    }

    fn revoked_ocsp_responses_since(
        &self,
        since: SystemTime,
        max: usize,
    ) -> Result<Vec<Presigned>, StoreError> {
        let since = nanos(since)?;
        let rows: Vec<OcspRow> = read!(self, |c| {
            ocsp_responses::table
                .filter(ocsp_responses::revoked.eq(true))
                .filter(ocsp_responses::this_update.ge(since))
                .order(ocsp_responses::this_update.asc())
                .limit(limit(max))
                .select(OcspRow::as_select())
                .load(c)
                .map_err(backend)?
        });
        rows.into_iter().map(OcspRow::into_presigned).collect()
    }

    fn certificates_missing_ocsp(
        &self,
        from: SystemTime,
        now: SystemTime,
        max: usize,
    ) -> Result<Vec<(String, SystemTime)>, StoreError> {
        // Numbers only, formatted by this code: no input reaches the text.
        let query = format!(
            "SELECT c.serial AS serial, c.not_before AS not_before FROM certificates c \
             LEFT JOIN ocsp_responses o ON o.serial = c.serial \
             WHERE c.not_before >= {} AND c.not_after > {} AND o.serial IS NULL \
             ORDER BY c.not_before LIMIT {}",
            nanos(from)?,
            nanos(now)?,
            limit(max)
        );
        let rows: Vec<MissingRow> = read!(self, |c| {
            diesel::sql_query(&query).load(c).map_err(backend)?
        });
        rows.into_iter()
            .map(|r| Ok((r.serial, time(r.not_before)?)))
            .collect()
    }

    fn newest_not_before(&self) -> Result<Option<SystemTime>, StoreError> {
        let newest: Option<i64> = read!(self, |c| certificates::table
            .select(diesel::dsl::max(certificates::not_before))
            .get_result(c)
            .map_err(backend)?);
        newest.map(time).transpose()
    }

    fn ocsp_responses_due(
        &self,
        now: SystemTime,
        renew_before: SystemTime,
        max: usize,
    ) -> Result<Vec<String>, StoreError> {
        let query = format!(
            "SELECT o.serial AS serial FROM ocsp_responses o \
             JOIN certificates c ON c.serial = o.serial \
             WHERE o.next_update < {} AND c.not_after > {} LIMIT {}",
            nanos(renew_before)?,
            nanos(now)?,
            limit(max)
        );
        let rows: Vec<SerialRow> = read!(self, |c| {
            diesel::sql_query(&query).load(c).map_err(backend)?
        });
        Ok(rows.into_iter().map(|r| r.serial).collect())
    }

    fn prune_ocsp_responses(&self, before: SystemTime) -> Result<usize, StoreError> {
        let before = nanos(before)?;
        write!(self, |c| {
            Ok(
                diesel::delete(
                    ocsp_responses::table.filter(ocsp_responses::next_update.lt(before)),
                )
                .execute(c)?,
            )
        })
    }
}
