//! The console's pages of long lists, one query each: the audit log filtered
//! by action, actor, time and text; escrowed keys and key recoveries searched
//! by text. Text matches ignore case (`lower(column) LIKE pattern`, the same on
//! SQLite and PostgreSQL) and treat `%`, `_` and `\` in the search as text.

use diesel::prelude::*;
use topca_core::{
    StoreError,
    audit::AuditEntry,
    kmc::Recovery,
    store::{AuditQuery, EscrowRecord, Page, RecoveryQuery},
};

use super::{DieselStore, Pools, backend, pool_error};
use crate::{
    rows::{AuditRow, EscrowRow, RecoveryRow, nanos},
    schema::{audit_entries, escrowed_keys, recoveries},
};

diesel::define_sql_function! {
    /// SQL `lower(text)`.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The `LIKE` pattern (escape `\`) of rows containing `text`, lower-cased.
pub(super) fn contains_pattern(text: &str) -> String {
    let escaped: String = text
        .trim()
        .to_lowercase()
        .chars()
        .flat_map(|ch| match ch {
            '%' | '_' | '\\' => vec!['\\', ch],
            _ => vec![ch],
        })
        .collect();
    format!("%{escaped}%")
}

/// `offset` and `limit` as SQL takes them.
fn window(offset: u64, limit: u64) -> (i64, i64) {
    (
        i64::try_from(offset).unwrap_or(i64::MAX),
        i64::try_from(limit).unwrap_or(i64::MAX),
    )
}

/// The page of `rows` read (converted by `into`) out of `total` matching.
fn paged<R, T>(
    total: i64,
    rows: Vec<R>,
    into: impl Fn(R) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    Ok(Page {
        total: u64::try_from(total).unwrap_or(0),
        rows: rows.into_iter().map(into).collect::<Result<_, _>>()?,
    })
}

/// The total and one page of a boxed query made by `$filtered` (called twice:
/// once to count, once for the rows, newest first by `$order`).
macro_rules! page_of {
    ($c:ident, $filtered:expr, $order:expr, $row:ty, $offset:expr, $limit:expr) => {{
        let total: i64 = $filtered().count().get_result($c).map_err(backend)?;
        let rows: Vec<$row> = $filtered()
            .order($order)
            .offset($offset)
            .limit($limit)
            .select(<$row>::as_select())
            .load($c)
            .map_err(backend)?;
        (total, rows)
    }};
}

impl DieselStore {
    /// See [`topca_core::store::AuditStore::audit_page`].
    pub(super) fn query_audit(
        &self,
        query: &AuditQuery,
        offset: u64,
        limit: u64,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let actions: Vec<i32> = query.actions.iter().map(|a| i32::from(a.code())).collect();
        let actor = contains_pattern(&query.actor);
        let text = contains_pattern(&query.text);
        let from = query.from.map(nanos).transpose()?;
        let until = query.until.map(nanos).transpose()?;
        let (offset, limit) = window(offset, limit);
        let (total, rows) = read!(self, |c| {
            let filtered = || {
                let mut q = audit_entries::table
                    .filter(audit_entries::action.eq_any(actions.clone()))
                    .filter(
                        lower(audit_entries::actor_name)
                            .like(actor.clone())
                            .escape('\\'),
                    )
                    .filter(
                        lower(audit_entries::target)
                            .like(text.clone())
                            .escape('\\')
                            .or(lower(audit_entries::detail).like(text.clone()).escape('\\')),
                    )
                    .into_boxed();
                if let Some(from) = from {
                    q = q.filter(audit_entries::at.ge(from));
                }
                if let Some(until) = until {
                    q = q.filter(audit_entries::at.lt(until));
                }
                q
            };
            page_of!(
                c,
                filtered,
                audit_entries::sequence.desc(),
                AuditRow,
                offset,
                limit
            )
        });
        paged(total, rows, AuditRow::into_entry)
    }

    /// See [`topca_core::store::EscrowStore::escrowed_keys_page`].
    pub(super) fn query_escrowed_keys(
        &self,
        text: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Page<EscrowRecord>, StoreError> {
        let text = contains_pattern(text);
        let (offset, limit) = window(offset, limit);
        let (total, rows) = read!(self, |c| {
            let filtered = || {
                escrowed_keys::table
                    .filter(
                        escrowed_keys::email_lower
                            .like(text.clone())
                            .escape('\\')
                            .or(lower(escrowed_keys::encryption_serial)
                                .like(text.clone())
                                .escape('\\'))
                            .or(lower(escrowed_keys::signing_serial)
                                .like(text.clone())
                                .escape('\\')),
                    )
                    .into_boxed()
            };
            page_of!(
                c,
                filtered,
                escrowed_keys::escrowed_at.desc(),
                EscrowRow,
                offset,
                limit
            )
        });
        paged(total, rows, EscrowRow::into_record)
    }

    /// See [`topca_core::store::EscrowStore::recoveries_page`].
    pub(super) fn query_recoveries(
        &self,
        query: &RecoveryQuery,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Recovery>, StoreError> {
        let text = contains_pattern(&query.text);
        let state = query.state.map(|s| i32::from(s.code()));
        let (offset, limit) = window(offset, limit);
        let (total, rows) = read!(self, |c| {
            let filtered = || {
                let mut q = recoveries::table
                    .filter(
                        lower(recoveries::encryption_serial)
                            .like(text.clone())
                            .escape('\\')
                            .or(lower(recoveries::email).like(text.clone()).escape('\\'))
                            .or(lower(recoveries::holder_name)
                                .like(text.clone())
                                .escape('\\'))
                            .or(lower(recoveries::requested_by)
                                .like(text.clone())
                                .escape('\\')),
                    )
                    .into_boxed();
                if let Some(state) = state {
                    q = q.filter(recoveries::state.eq(state));
                }
                q
            };
            page_of!(
                c,
                filtered,
                recoveries::id.desc(),
                RecoveryRow,
                offset,
                limit
            )
        });
        paged(total, rows, RecoveryRow::into_recovery)
    }
}
