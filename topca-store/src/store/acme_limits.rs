//! New-order limits shared by every node: one counter row per limited key and
//! fixed window, raised in the write transaction that reads it. On PostgreSQL
//! the `UPDATE` takes the row's lock, so two nodes raising one counter at once
//! are serialised and the second reads the first's count; on SQLite the write
//! transaction is immediate and serialises all writers.

use diesel::prelude::*;
use topca_core::{StoreError, store::AcmeOrderLimit};

use super::{DieselStore, Pools, TxError, pool_error};
use crate::schema::acme_order_counts;

/// Why a transaction was rolled back on purpose: limit `0` was reached.
const REACHED: &str = "ACME order limit reached";

/// See [`topca_core::store::AcmeStore::count_acme_order`].
pub(super) fn count_order(
    store: &DieselStore,
    limits: &[AcmeOrderLimit],
    window: i64,
) -> Result<Option<usize>, StoreError> {
    let mut reached = None;
    let outcome = write!(store, |c| {
        diesel::delete(
            acme_order_counts::table.filter(acme_order_counts::window_number.lt(window)),
        )
        .execute(c)?;
        for (index, limit) in limits.iter().enumerate() {
            diesel::insert_into(acme_order_counts::table)
                .values((
                    acme_order_counts::limit_key.eq(&limit.key),
                    acme_order_counts::window_number.eq(window),
                    acme_order_counts::hits.eq(0),
                ))
                .on_conflict_do_nothing()
                .execute(c)?;
            let row = acme_order_counts::table
                .filter(acme_order_counts::limit_key.eq(&limit.key))
                .filter(acme_order_counts::window_number.eq(window));
            diesel::update(row)
                .set(acme_order_counts::hits.eq(acme_order_counts::hits + 1))
                .execute(c)?;
            let hits: i32 = row.select(acme_order_counts::hits).first(c)?;
            if i64::from(hits) > i64::from(limit.limit) {
                // Undo every raise of this order: a refused order counts for nothing.
                reached = Some(index);
                return Err(TxError::Store(StoreError::Backend(REACHED.to_owned())));
            }
        }
        Ok(())
    });
    match (outcome, reached) {
        (Ok(()), _) => Ok(None),
        (Err(_), Some(index)) => Ok(Some(index)),
        (Err(e), None) => Err(e),
    }
}
