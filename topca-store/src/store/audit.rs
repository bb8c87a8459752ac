//! The audit log: appending entries in sequence and reading them back.

use diesel::prelude::*;
use topca_core::{
    StoreError,
    audit::{AuditEntry, AuditRecord},
    store::{AuditQuery, AuditStore, Page},
};

use super::{DieselStore, Pools, TxError, backend, issuance::InTransaction, pool_error};
use crate::{rows::AuditRow, schema::audit_entries};

/// Attempts at appending an audit entry when another node appends at the same time.
const AUDIT_ATTEMPTS: usize = 50;

impl AuditStore for DieselStore {
    fn append_audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError> {
        // Appenders are serialised (see `InTransaction::append_audit`); a node of
        // an older version may still append at the same moment: the sequence is
        // the primary key, so one of the two fails and retries after the other.
        for _ in 0..AUDIT_ATTEMPTS {
            let attempt = write!(self, |c| c
                .append_audit(record.clone(), self.audit_key.as_ref()));
            match attempt {
                Err(StoreError::Conflict) => continue,
                Ok(entry) => {
                    committed(std::slice::from_ref(&entry.record));
                    return Ok(entry);
                }
                other => return other,
            }
        }
        Err(StoreError::Conflict)
    }

    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = read!(self, |c| audit_entries::table
            .order(audit_entries::sequence)
            .select(AuditRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    fn audit_page(
        &self,
        query: &AuditQuery,
        offset: u64,
        limit: u64,
    ) -> Result<Page<AuditEntry>, StoreError> {
        self.query_audit(query, offset, limit)
    }
}

/// Logs audit records once their transaction committed (target `topca::audit`):
/// action, actor, target and outcome, never the free-text detail, which a
/// caller may have filled with more than an operator's log should keep.
pub(super) fn committed(records: &[AuditRecord]) {
    for record in records {
        let (kind, name) = record.actor.to_parts();
        let actor = match kind {
            1 => format!("user:{name}"),
            2 => format!("admin:{name}"),
            4 => format!("client:{name}"),
            _ => "system".to_owned(),
        };
        tracing::info!(
            target: "topca::audit",
            action = ?record.action,
            actor = %actor,
            audit_target = %record.target,
            outcome = ?record.outcome,
            "audit entry appended"
        );
    }
}
