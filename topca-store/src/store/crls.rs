//! Published CRLs: storing them and reading the latest.

use diesel::prelude::*;
use topca_core::{
    StoreError,
    crl::CrlInfo,
    store::{CrlRecord, CrlStore},
};

use super::{DieselStore, Pools, TxError, backend, is_unique_violation, pool_error};
use crate::{
    rows::{CrlRow, time, unsigned},
    schema::crls,
};

impl CrlStore for DieselStore {
    fn put_crl(&self, crl: CrlRecord) -> Result<(), StoreError> {
        let row = CrlRow::of(crl)?;
        write!(self, |c| {
            let newest: Option<i64> = crls::table
                .select(diesel::dsl::max(crls::number))
                .first(c)?;
            if newest.is_some_and(|n| n >= row.number) {
                return Err(StoreError::Conflict.into());
            }
            diesel::insert_into(crls::table)
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

    fn latest_crl(&self, delta: bool) -> Result<Option<CrlRecord>, StoreError> {
        let row: Option<CrlRow> = read!(self, |c| {
            let query = crls::table
                .order(crls::number.desc())
                .select(CrlRow::as_select());
            if delta {
                query.filter(crls::delta_base.is_not_null()).first(c)
            } else {
                query.filter(crls::delta_base.is_null()).first(c)
            }
            .optional()
            .map_err(backend)?
        });
        row.map(CrlRow::into_record).transpose()
    }

    fn latest_crl_info(&self, delta: bool) -> Result<Option<CrlInfo>, StoreError> {
        let row: Option<(i64, Option<i64>, i64, i64)> = read!(self, |c| {
            let query = crls::table.order(crls::number.desc()).select((
                crls::number,
                crls::delta_base,
                crls::this_update,
                crls::next_update,
            ));
            if delta {
                query.filter(crls::delta_base.is_not_null()).first(c)
            } else {
                query.filter(crls::delta_base.is_null()).first(c)
            }
            .optional()
            .map_err(backend)?
        });
        row.map(|(number, delta_base, this_update, next_update)| {
            Ok(CrlInfo {
                number: unsigned(number, "CRL number")?,
                delta_base: delta_base.map(|b| unsigned(b, "CRL")).transpose()?,
                this_update: time(this_update)?,
                next_update: time(next_update)?,
            })
        })
        .transpose()
    }
}
