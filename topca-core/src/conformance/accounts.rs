//! Conformance of accounts, their server policies and request updates.

use std::time::SystemTime;

use crate::{
    error::StoreError,
    lifecycle::{RequestState, VerificationMode},
    ra::{AccountId, ServerPolicy},
    store::{Opening, RaStore},
};

use super::{Checked, ensure, new_request, settings, store_ok};

pub(super) fn server_policies_are_kept_per_account(store: &dyn RaStore) -> Checked {
    let check =
        "server policies are stored per account, replaced whole, refused for unknown accounts";
    let first = store_ok(check, store.create_account(settings("策略单位", "一部")))?.id;
    let second = store_ok(check, store.create_account(settings("策略单位", "二部")))?.id;
    let none = store_ok(check, store.server_policy(first))?;
    ensure(check, none.is_none(), || {
        format!("a new account has {none:?}")
    })?;
    let policy = ServerPolicy {
        allowed_domains: vec!["example.com".into(), "例子.cn".into()],
        allow_wildcards: true,
        allow_ip_addresses: false,
        max_names: 7,
    };
    store_ok(check, store.put_server_policy(first, &policy))?;
    let back = store_ok(check, store.server_policy(first))?;
    ensure(check, back.as_ref() == Some(&policy), || {
        format!("read back {back:?}")
    })?;
    let other = store_ok(check, store.server_policy(second))?;
    ensure(check, other.is_none(), || {
        format!("another account got {other:?}")
    })?;
    let replaced = ServerPolicy {
        allowed_domains: vec!["example.org".into()],
        allow_wildcards: false,
        allow_ip_addresses: true,
        max_names: 100,
    };
    store_ok(check, store.put_server_policy(first, &replaced))?;
    let back = store_ok(check, store.server_policy(first))?;
    ensure(check, back.as_ref() == Some(&replaced), || {
        format!("after replacing, read back {back:?}")
    })?;
    let unknown = store.put_server_policy(AccountId(u64::MAX / 2), &policy);
    ensure(check, unknown == Err(StoreError::NotFound), || {
        format!("an unknown account gave {unknown:?}")
    })
}

pub(super) fn accounts(store: &dyn RaStore) -> Checked {
    let check = "accounts are stored, found by id and by O/OU keyword";
    let chinese = store_ok(check, store.create_account(settings("天诚安信", "技术部")))?;
    let latin = store_ok(
        check,
        store.create_account(settings("Example Corp", "Sales")),
    )?;
    ensure(check, chinese.id != latin.id, || {
        "two accounts got the same id".into()
    })?;
    let back = store_ok(check, store.account(chinese.id))?;
    ensure(check, back.as_ref() == Some(&chinese), || {
        format!("read back {back:?}")
    })?;
    ensure(
        check,
        store_ok(check, store.account(AccountId(u64::MAX)))?.is_none(),
        || "unknown id found".into(),
    )?;
    for (keyword, expected) in [
        ("安信", chinese.id),
        ("技术", chinese.id),
        ("SALES", latin.id),
        ("example", latin.id),
    ] {
        let found: Vec<AccountId> = store_ok(check, store.search_accounts(keyword, 10))?
            .iter()
            .map(|a| a.id)
            .collect();
        ensure(check, found == [expected], || {
            format!("keyword {keyword:?} found {found:?}")
        })?;
    }
    let none = store_ok(check, store.search_accounts("不存在的单位", 10))?;
    ensure(check, none.is_empty(), || format!("found {none:?}"))?;

    let mut edited = latin.clone();
    edited.settings.unit = "销售部".into();
    edited.settings.verification = VerificationMode::Passcode;
    store_ok(check, store.update_account(&edited))?;
    let back = store_ok(check, store.account(latin.id))?;
    ensure(check, back.as_ref() == Some(&edited), || {
        format!("edited account read back as {back:?}")
    })?;
    let found = store_ok(check, store.search_accounts("销售", 10))?;
    ensure(check, found.len() == 1, || {
        format!("edited OU found {found:?}")
    })
}

pub(super) fn requests_update_by_compare_and_set(
    store: &dyn RaStore,
    account: AccountId,
) -> Checked {
    let check = "request updates are compare-and-set on the version";
    let submitted = store_ok(
        check,
        store.submit_request(new_request(account, "cas@example.com")?),
    )?;
    ensure(
        check,
        submitted.state == RequestState::Submitted && submitted.version == 1,
        || format!("{submitted:?}"),
    )?;
    ensure(
        check,
        submitted.csr.as_deref() == Some(&[0x30, 0x00][..]),
        || "the CSR was not kept".into(),
    )?;
    ensure(
        check,
        submitted.previous_serial.as_deref() == Some("0A0B"),
        || "the previous serial was not kept".into(),
    )?;
    let mut replacement = new_request(account, "confirm@example.com")?;
    let token = crate::secret::CodeHash::of("ABCD-EFGH-JKMN");
    let expires = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_086_400);
    replacement.opening = Opening::AwaitingConfirmation(token, expires);
    let pending = store_ok(check, store.submit_request(replacement))?;
    ensure(
        check,
        pending.state == RequestState::AwaitingConfirmation
            && pending.pin == Some(token)
            && pending.pin_expires == Some(expires),
        || format!("a replacement awaiting confirmation was stored as {pending:?}"),
    )?;
    let mut passcode = new_request(account, "passcode@example.com")?;
    passcode.password = None;
    passcode.opening = Opening::Preapproved(token, expires);
    let preapproved = store_ok(check, store.submit_request(passcode))?;
    ensure(
        check,
        preapproved.state == RequestState::Approved
            && preapproved.pin == Some(token)
            && preapproved.password.is_none(),
        || format!("a pre-registered request was stored as {preapproved:?}"),
    )?;
    let mut approved = submitted.clone();
    approved.state = RequestState::Approved;
    let updated = store_ok(check, store.update_request(&approved))?;
    ensure(check, updated.version == 2, || {
        format!("version after update {}", updated.version)
    })?;
    // An update from the stale copy is refused and changes nothing.
    let mut stale = submitted.clone();
    stale.state = RequestState::Rejected;
    let refused = store.update_request(&stale);
    ensure(check, refused == Err(StoreError::Conflict), || {
        format!("stale update gave {refused:?}")
    })?;
    let now = store_ok(check, store.request(submitted.id))?;
    ensure(check, now.as_ref() == Some(&updated), || {
        format!("after refused update: {now:?}")
    })?;
    let approved_list = store_ok(
        check,
        store.requests_in_state(account, RequestState::Approved),
    )?;
    ensure(
        check,
        approved_list.iter().any(|r| r.id == submitted.id),
        || "not listed as approved".into(),
    )
}

pub(super) fn concurrent_updates_lose_nothing(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "of concurrent updates from one version exactly one wins";
    let request = store_ok(
        check,
        store.submit_request(new_request(account, "race@example.com")?),
    )?;
    let wins = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let mut mine = request.clone();
                mine.reject_reason = Some(format!("writer {i}"));
                s.spawn(move || store.update_request(&mine).is_ok())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .filter(|won| *won)
            .count()
    });
    ensure(check, wins == 1, || format!("{wins} updates won"))?;
    let stored = store_ok(check, store.request(request.id))?;
    ensure(check, stored.is_some_and(|r| r.version == 2), || {
        "version is not 2".into()
    })
}
