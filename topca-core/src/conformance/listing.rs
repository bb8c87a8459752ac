//! Conformance of the pages of long lists: the audit log filtered by action,
//! actor, time and text, escrowed keys and recoveries searched by text; each
//! newest first, counted in all, and `%` or `_` in a search taken as text.

use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    kmc::RecoveryState,
    store::{AuditQuery, RaStore, RecoveryQuery},
};

use super::{Checked, at, ensure, note, store_ok};

/// The first entry's time; each next one is a day later.
const START: u64 = 1_900_000_000;
const DAY: u64 = 86_400;

pub(super) fn audit_pages_filter_and_count(store: &dyn RaStore) -> Checked {
    let check = "audit pages filter by action, actor, time and text, newest first";
    for i in 0..5u64 {
        store_ok(
            check,
            store.append_audit(AuditRecord {
                at: at(START + i * DAY),
                actor: Actor::Admin("翻页-Tester".into()),
                action: if i % 2 == 0 {
                    AuditAction::CertificateRevoked
                } else {
                    AuditAction::CrlIssued
                },
                target: format!("page {i}"),
                outcome: Outcome::Success,
                detail: if i == 2 { "100%_done" } else { "done" }.into(),
            }),
        )?;
    }
    let every = AuditQuery {
        actions: vec![AuditAction::CertificateRevoked, AuditAction::CrlIssued],
        actor: "翻页-tESTER".into(),
        ..AuditQuery::default()
    };
    let targets = |query: &AuditQuery, offset, limit| -> Result<(u64, Vec<String>), _> {
        let page = store_ok(check, store.audit_page(query, offset, limit))?;
        Ok((
            page.total,
            page.rows.into_iter().map(|e| e.record.target).collect(),
        ))
    };
    let (total, first) = targets(&every, 0, 2)?;
    ensure(check, total == 5 && first == ["page 4", "page 3"], || {
        format!("{total}: {first:?}")
    })?;
    let (_, second) = targets(&every, 2, 2)?;
    ensure(check, second == ["page 2", "page 1"], || {
        format!("{second:?}")
    })?;
    let literal = AuditQuery {
        text: "%_".into(),
        ..every.clone()
    };
    let (total, found) = targets(&literal, 0, 10)?;
    ensure(check, total == 1 && found == ["page 2"], || {
        format!("\"%_\" found {total}: {found:?}")
    })?;
    let crls = AuditQuery {
        actions: vec![AuditAction::CrlIssued],
        ..every.clone()
    };
    let (total, found) = targets(&crls, 0, 10)?;
    ensure(check, total == 2 && found == ["page 3", "page 1"], || {
        format!("CRL entries {total}: {found:?}")
    })?;
    let days = AuditQuery {
        from: Some(at(START + 2 * DAY)),
        until: Some(at(START + 4 * DAY)),
        ..every.clone()
    };
    let (total, found) = targets(&days, 0, 10)?;
    ensure(check, total == 2 && found == ["page 3", "page 2"], || {
        format!("days 2 and 3 gave {total}: {found:?}")
    })?;
    let nothing = AuditQuery {
        actions: Vec::new(),
        ..every
    };
    let (total, _) = targets(&nothing, 0, 10)?;
    ensure(check, total == 0, || format!("no action gave {total}"))
}

pub(super) fn escrow_and_recovery_pages(store: &dyn RaStore) -> Checked {
    let check = "escrowed keys and recoveries are searched and paged, newest first";
    let keys = store_ok(check, store.escrowed_keys_page("DUAL@example", 0, 10))?;
    ensure(
        check,
        keys.total >= 1 && keys.rows.iter().any(|k| k.encryption_serial == "5102"),
        || format!("escrowed keys of dual@example.com: {keys:?}"),
    )?;
    let none = store_ok(check, store.escrowed_keys_page("%", 0, 10))?;
    ensure(check, none.total == 0 && none.rows.is_empty(), || {
        format!("\"%\" found {} keys", none.total)
    })?;
    let mut made = Vec::new();
    for _ in 0..3 {
        let mut new = super::escrow::new_recovery(check, "5102")?;
        new.requested_by = "翻页-KMC".into();
        made.push(new.id);
        store_ok(
            check,
            store.create_recovery(new, note(AuditAction::RecoveryRequested, "paged")),
        )?;
    }
    let mine = RecoveryQuery {
        state: Some(RecoveryState::Requested),
        text: "翻页-kmc".into(),
    };
    let first = store_ok(check, store.recoveries_page(&mine, 0, 2))?;
    let ids: Vec<_> = first.rows.iter().map(|r| r.id).collect();
    ensure(check, first.total == 3 && ids == [made[2], made[1]], || {
        format!("{} recoveries, first page {ids:?}", first.total)
    })?;
    let last = store_ok(check, store.recoveries_page(&mine, 2, 2))?;
    ensure(
        check,
        last.rows.len() == 1 && last.rows[0].id == made[0],
        || format!("last page {:?}", last.rows),
    )?;
    let approved = RecoveryQuery {
        state: Some(RecoveryState::Approved),
        ..mine
    };
    let none = store_ok(check, store.recoveries_page(&approved, 0, 10))?;
    ensure(check, none.total == 0, || {
        format!("{} approved recoveries", none.total)
    })
}
