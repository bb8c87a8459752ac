//! Conformance of public request references and holder-secret attempt counters.

use std::time::Duration;

use crate::{error::StoreError, ra::AccountId, ra::RequestRef, store::RaStore};

use super::{Checked, at, ensure, new_request, store_ok};

/// A reference finds its request, an unknown one finds nothing, and two requests
/// cannot share one.
pub(super) fn references_find_requests(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "requests are found by their public reference, which is unique";
    let first = store_ok(
        check,
        store.submit_request(new_request(account, "ref@example.com")?),
    )?;
    let found = store_ok(check, store.request_by_reference(&first.reference))?;
    ensure(check, found.as_ref() == Some(&first), || {
        format!("looked up {:?}, found {found:?}", first.reference)
    })?;
    let unknown = RequestRef("0".repeat(32));
    let none = store_ok(check, store.request_by_reference(&unknown))?;
    ensure(check, none.is_none(), || format!("unknown found {none:?}"))?;
    let mut twin = new_request(account, "twin@example.com")?;
    twin.reference = first.reference.clone();
    let refused = store.submit_request(twin);
    ensure(check, matches!(refused, Err(StoreError::Conflict)), || {
        format!("a duplicate reference gave {refused:?}")
    })
}

/// Concurrent attempts all count, each source counts alone, a window ends, and
/// counters clear per source or all at once.
pub(super) fn holder_attempts_count_atomically_per_source(
    store: &dyn RaStore,
    account: AccountId,
) -> Checked {
    let check = "holder-secret attempts count atomically per request and source";
    let request = store_ok(
        check,
        store.submit_request(new_request(account, "guess@example.com")?),
    )?;
    let window = Duration::from_secs(900);
    let now = at(1_800_000_000);
    let mut counts = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|_| {
                s.spawn(move || store.count_holder_attempt(request.id, "192.0.2.1", now, window))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(StoreError::Conflict)))
            .collect::<Result<Vec<u32>, StoreError>>()
    });
    if let Ok(counts) = &mut counts {
        counts.sort_unstable();
    }
    let expected: Vec<u32> = (1..=50).collect();
    ensure(check, counts.as_ref() == Ok(&expected), || {
        format!("50 concurrent attempts counted {counts:?}")
    })?;
    let other = store_ok(
        check,
        store.count_holder_attempt(request.id, "198.51.100.2", now, window),
    )?;
    ensure(check, other == 1, || {
        format!("a second source starts at {other}")
    })?;
    let later = store_ok(
        check,
        store.count_holder_attempt(request.id, "192.0.2.1", now + window, window),
    )?;
    ensure(check, later == 1, || {
        format!("after the window the count is {later}")
    })?;
    store_ok(
        check,
        store.clear_holder_attempts(request.id, Some("192.0.2.1")),
    )?;
    let cleared = store_ok(
        check,
        store.count_holder_attempt(request.id, "192.0.2.1", now + window, window),
    )?;
    let kept = store_ok(
        check,
        store.count_holder_attempt(request.id, "198.51.100.2", now, window),
    )?;
    ensure(check, (cleared, kept) == (1, 2), || {
        format!("clearing one source left ({cleared}, {kept})")
    })?;
    store_ok(check, store.clear_holder_attempts(request.id, None))?;
    let all = store_ok(
        check,
        store.count_holder_attempt(request.id, "198.51.100.2", now, window),
    )?;
    ensure(check, all == 1, || format!("after clearing all: {all}"))?;
    let unknown = store.count_holder_attempt(
        crate::ra::RequestId(u64::from(u32::MAX)),
        "192.0.2.1",
        now,
        window,
    );
    ensure(check, unknown == Err(StoreError::NotFound), || {
        format!("an unknown request gave {unknown:?}")
    })
}
