//! Conformance of the audit log's hash chain.

use std::time::SystemTime;

use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome, verify_chain},
    store::RaStore,
};

use super::{Checked, ConformanceFailure, ensure, store_ok};

pub(super) fn audit_entries_chain(store: &dyn RaStore) -> Checked {
    let check = "audit entries are chained in order";
    let before = store_ok(check, store.audit_entries())?.len();
    for i in 0..3u64 {
        store_ok(
            check,
            store.append_audit(AuditRecord {
                at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000 + i),
                actor: Actor::Admin("管理员".into()),
                action: AuditAction::AccountUpdated,
                target: format!("account {i}"),
                outcome: Outcome::Success,
                detail: "天诚安信".into(),
            }),
        )?;
    }
    let entries = store_ok(check, store.audit_entries())?;
    ensure(check, entries.len() == before + 3, || {
        format!("{} entries after {before}", entries.len())
    })?;
    verify_chain(&entries, None, None)
        .map(|_| ())
        .map_err(|e| ConformanceFailure {
            check,
            detail: e.to_string(),
        })
}
