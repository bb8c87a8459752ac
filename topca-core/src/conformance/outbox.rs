//! Conformance of the mail outbox.

use crate::{error::StoreError, store::RaStore};

use super::{Checked, ConformanceFailure, at, store_ok};

/// Queued mails come due in order, a failure postpones one and counts it, a
/// sent one is gone.
pub(super) fn outbox_delivers_retries_and_forgets(store: &dyn RaStore) -> Checked {
    let check = "outbox";
    let first = store_ok(
        check,
        store.queue_mail("a@example.cn", b"sealed-a", at(100)),
    )?;
    let second = store_ok(
        check,
        store.queue_mail("b@example.cn", b"sealed-b", at(200)),
    )?;
    let fail = |detail: String| ConformanceFailure { check, detail };
    let due = store_ok(check, store.due_mails(at(150), 10))?;
    if due.len() != 1 || due[0].id != first || due[0].sealed != b"sealed-a" || due[0].attempts != 0
    {
        return Err(fail(format!("due at 150: {due:?}")));
    }
    store_ok(check, store.mail_failed(first, at(300)))?;
    let due = store_ok(check, store.due_mails(at(250), 10))?;
    if due.len() != 1 || due[0].id != second || due[0].recipient != "b@example.cn" {
        return Err(fail(format!("due at 250 after a failure: {due:?}")));
    }
    store_ok(check, store.mail_sent(second))?;
    let due = store_ok(check, store.due_mails(at(400), 10))?;
    if due.len() != 1
        || due[0].id != first
        || due[0].attempts != 1
        || due[0].next_attempt != at(300)
    {
        return Err(fail(format!("due at 400: {due:?}")));
    }
    store_ok(check, store.mail_sent(first))?;
    let left = store_ok(check, store.due_mails(at(u32::MAX.into()), 10))?;
    if !left.is_empty() {
        return Err(fail(format!("sent mails stay: {left:?}")));
    }
    Ok(())
}

/// Senders claiming due mails at once each get different mails, and together all
/// of them; a claimed mail comes due again when the claim ends (its sender
/// stopped), its attempts unchanged.
pub(super) fn concurrent_claimers_take_each_mail_once(store: &dyn RaStore) -> Checked {
    let check = "outbox claims";
    let fail = |detail: String| ConformanceFailure { check, detail };
    let mut queued = Vec::new();
    for i in 0..24 {
        let to = format!("claim{i}@example.cn");
        queued.push(store_ok(
            check,
            store.queue_mail(&to, b"sealed", at(1_000)),
        )?);
    }
    let rounds: Vec<Result<Vec<u64>, StoreError>> = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let claimed = store.claim_due_mails(at(1_000), at(5_000), 3)?;
                        if claimed.is_empty() {
                            return Ok(mine);
                        }
                        mine.extend(claimed.iter().map(|m| m.id));
                    }
                })
            })
            .collect();
        senders
            .into_iter()
            .map(|s| {
                s.join()
                    .unwrap_or_else(|_| Err(StoreError::Backend("a sender panicked".into())))
            })
            .collect()
    });
    let mut claimed = Vec::new();
    for round in rounds {
        claimed.extend(store_ok(check, round)?);
    }
    claimed.sort_unstable();
    if claimed != queued {
        return Err(fail(format!(
            "queued {queued:?}, claimed {claimed:?} (each once expected)"
        )));
    }
    let early = store_ok(check, store.claim_due_mails(at(4_999), at(9_000), 100))?;
    if !early.is_empty() {
        return Err(fail(format!(
            "claimed twice before the claim ended: {early:?}"
        )));
    }
    let again = store_ok(check, store.claim_due_mails(at(5_000), at(9_000), 100))?;
    if again.len() != queued.len() || again.iter().any(|m| m.attempts != 0) {
        return Err(fail(format!("after the claim ended: {again:?}")));
    }
    for id in queued {
        store_ok(check, store.mail_sent(id))?;
    }
    Ok(())
}
