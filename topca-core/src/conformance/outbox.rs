//! Conformance of the mail outbox.

use crate::store::RaStore;

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
