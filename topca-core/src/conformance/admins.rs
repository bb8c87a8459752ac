//! Conformance of administrators, their login attempts and sessions.

use crate::{
    error::StoreError,
    lifecycle::RequestState,
    ra::{AdminRole, admin::AdminRecord},
    random::OsRandom,
    secret::PasswordHash,
    store::{AdminSession, RaStore},
};

use super::{Checked, ConformanceFailure, at, ensure, store_ok};

pub(super) fn admins_are_unique_and_updated_by_compare_and_set(store: &dyn RaStore) -> Checked {
    let check = "administrators are unique by name and updated by compare-and-set";
    let password = PasswordHash::create("conformance-admin-pw", &OsRandom).map_err(|e| {
        ConformanceFailure {
            check,
            detail: e.to_string(),
        }
    })?;
    let admin = AdminRecord {
        name: "管理员甲".into(),
        password,
        roles: vec![AdminRole::RaAdmin, AdminRole::KmcAdmin],
        failed_logins: 0,
        locked_until: None,
        certificate: None,
        quarantine_from: None,
        version: 1,
    };
    store_ok(check, store.create_admin(admin.clone()))?;
    let again = store.create_admin(admin.clone());
    ensure(check, again == Err(StoreError::Conflict), || {
        format!("a second admin with the same name gave {again:?}")
    })?;
    let back = store_ok(check, store.admin("管理员甲"))?;
    ensure(check, back.as_ref() == Some(&admin), || {
        format!("read back {back:?}")
    })?;
    let mut locked = admin.clone();
    locked.failed_logins = 5;
    locked.locked_until = Some(at(1_800_500_000));
    locked.certificate = Some("ab".repeat(32));
    locked.quarantine_from = Some(at(1_800_400_000));
    let updated = store_ok(check, store.update_admin(&locked))?;
    ensure(check, updated.version == 2, || format!("{updated:?}"))?;
    let stale = store.update_admin(&admin);
    ensure(check, stale == Err(StoreError::Conflict), || {
        format!("stale update gave {stale:?}")
    })?;
    let back = store_ok(check, store.admin("管理员甲"))?;
    ensure(check, back.as_ref() == Some(&updated), || {
        format!("read back {back:?}")
    })?;
    ensure(
        check,
        store_ok(check, store.admin("nobody"))?.is_none(),
        || "unknown admin found".into(),
    )?;
    let mut second = admin.clone();
    second.name = "admin-b".into();
    store_ok(check, store.create_admin(second))?;
    let listed: Vec<String> = store_ok(check, store.admins())?
        .into_iter()
        .map(|a| a.name)
        .collect();
    ensure(
        check,
        listed.contains(&"admin-b".to_owned()) && listed.contains(&"管理员甲".to_owned()),
        || format!("listed {listed:?}"),
    )?;
    ensure(check, listed.windows(2).all(|w| w[0] <= w[1]), || {
        format!("not ordered by name: {listed:?}")
    })?;
    ensure(
        check,
        store_ok(check, store.setting("crl_refresh_minutes"))?.is_none(),
        || "an unset setting was found".into(),
    )?;
    store_ok(check, store.put_setting("crl_refresh_minutes", "60"))?;
    store_ok(check, store.put_setting("crl_refresh_minutes", "15"))?;
    let setting = store_ok(check, store.setting("crl_refresh_minutes"))?;
    ensure(check, setting.as_deref() == Some("15"), || {
        format!("setting read back as {setting:?}")
    })?;
    let first = store_ok(check, store.claim_setting("ca.claimed", "first"))?;
    let second = store_ok(check, store.claim_setting("ca.claimed", "second"))?;
    let kept = store_ok(check, store.setting("ca.claimed"))?;
    ensure(
        check,
        first == "first" && second == "first" && kept.as_deref() == Some("first"),
        || format!("claims returned {first:?} then {second:?}, kept {kept:?}"),
    )?;
    let taken = store_ok(check, store.claim_setting("crl_refresh_minutes", "99"))?;
    ensure(check, taken == "15", || {
        format!("a claim over a set value returned {taken:?}")
    })?;
    let submitted = store_ok(
        check,
        store.requests_anywhere(RequestState::Submitted, 1000),
    )?;
    ensure(
        check,
        !submitted.is_empty() && submitted.iter().all(|r| r.state == RequestState::Submitted),
        || format!("{} submitted requests listed", submitted.len()),
    )
}

pub(super) fn concurrent_login_attempts_each_count(store: &dyn RaStore) -> Checked {
    let check = "concurrent log-in attempts each count, up to the lockout";
    let password = PasswordHash::create("conformance-admin-pw", &OsRandom).map_err(|e| {
        ConformanceFailure {
            check,
            detail: e.to_string(),
        }
    })?;
    store_ok(
        check,
        store.create_admin(AdminRecord {
            name: "guessed".into(),
            password,
            roles: vec![AdminRole::RaAdmin],
            failed_logins: 0,
            locked_until: None,
            certificate: None,
            quarantine_from: None,
            version: 1,
        }),
    )?;
    let now = at(1_800_000_000);
    let until = at(1_800_000_900);
    let unknown = store_ok(check, store.count_login_attempt("nobody", now, 5, until))?;
    ensure(check, unknown.is_none(), || {
        format!("unknown name gave {unknown:?}")
    })?;
    let outcomes: Vec<Result<Option<_>, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| s.spawn(|| store.count_login_attempt("guessed", now, 5, until)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(StoreError::Backend("panicked".into())))
            })
            .collect()
    });
    let mut counted = 0;
    for outcome in outcomes {
        let attempt = store_ok(check, outcome)?;
        ensure(check, attempt.is_some(), || {
            "an attempt lost the admin".into()
        })?;
        counted += usize::from(attempt.is_some_and(|a| a.counted));
    }
    ensure(check, counted == 5, || {
        format!("{counted} of 12 concurrent attempts counted, not 5")
    })?;
    let admin = store_ok(check, store.admin("guessed"))?;
    ensure(
        check,
        admin
            .as_ref()
            .is_some_and(|a| a.failed_logins == 5 && a.locked_until == Some(until)),
        || format!("after 12 attempts: {admin:?}"),
    )?;
    // After the lockout, the count starts again.
    let later = store_ok(
        check,
        store.count_login_attempt("guessed", until, 5, at(1_800_002_000)),
    )?;
    ensure(
        check,
        later.as_ref().is_some_and(|a| {
            a.counted && a.admin.failed_logins == 1 && a.admin.locked_until.is_none()
        }),
        || format!("after the lockout: {later:?}"),
    )
}

pub(super) fn sessions_are_kept_by_token_hash(store: &dyn RaStore) -> Checked {
    let check = "sessions are kept by token hash and end per administrator or all";
    let session = |byte: u8, admin: &str| AdminSession {
        token_hash: [byte; 32],
        admin: admin.into(),
        opened: at(1_800_000_000),
        last_used: at(1_800_000_000 + u64::from(byte)),
    };
    for (byte, admin) in [(1, "甲"), (2, "甲"), (3, "乙"), (4, "乙")] {
        store_ok(check, store.create_session(session(byte, admin)))?;
    }
    let again = store.create_session(session(1, "乙"));
    ensure(check, again == Err(StoreError::Conflict), || {
        format!("a second session with the same hash gave {again:?}")
    })?;
    let back = store_ok(check, store.session(&[3; 32]))?;
    ensure(check, back == Some(session(3, "乙")), || {
        format!("read back {back:?}")
    })?;
    store_ok(check, store.touch_session(&[3; 32], at(1_800_000_100)))?;
    let touched = store_ok(check, store.session(&[3; 32]))?;
    ensure(
        check,
        touched.is_some_and(|s| s.last_used == at(1_800_000_100)),
        || "last use not recorded".into(),
    )?;
    let ended = store_ok(check, store.end_sessions(Some("甲")))?;
    ensure(check, ended == 2, || {
        format!("{ended} sessions of 甲 ended")
    })?;
    ensure(
        check,
        store_ok(check, store.session(&[1; 32]))?.is_none(),
        || "an ended session is still there".into(),
    )?;
    store_ok(check, store.end_session(&[3; 32]))?;
    store_ok(check, store.end_session(&[3; 32]))?;
    ensure(
        check,
        store_ok(check, store.session(&[3; 32]))?.is_none(),
        || "a logged-out session is still there".into(),
    )?;
    store_ok(check, store.create_session(session(5, "丙")))?;
    let pruned = store_ok(
        check,
        store.prune_sessions(at(1_800_000_005), at(1_700_000_000)),
    )?;
    ensure(check, pruned == 1, || {
        format!("{pruned} idle sessions pruned")
    })?;
    let all = store_ok(check, store.end_sessions(None))?;
    ensure(check, all == 1, || format!("{all} sessions left to end"))?;
    // Deleting an administrator takes their sessions with them.
    store_ok(check, store.create_session(session(6, "guessed")))?;
    store_ok(check, store.delete_admin("guessed"))?;
    ensure(
        check,
        store_ok(check, store.admin("guessed"))?.is_none()
            && store_ok(check, store.session(&[6; 32]))?.is_none(),
        || "a deleted administrator or their session is still there".into(),
    )?;
    let again = store.delete_admin("guessed");
    ensure(check, again == Err(StoreError::NotFound), || {
        format!("deleting a missing administrator gave {again:?}")
    })?;
    ensure(
        check,
        store_ok(check, store.session(&[5; 32]))?.is_none(),
        || "a session survived ending all".into(),
    )
}

/// Settings replaced by compare and set: only the holder of the expected value
/// wins, an unset setting is never replaced.
pub(super) fn settings_replace_by_compare_and_set(store: &dyn RaStore) -> Checked {
    let name = "conformance_lease";
    let replaced = store_ok("replace unset", store.replace_setting(name, "", "a"))?;
    ensure("unset setting is not replaced", !replaced, || {
        "replace_setting set a setting that was not set".into()
    })?;
    store_ok("claim lease", store.claim_setting(name, "a 1"))?;
    let stale = store_ok("replace stale", store.replace_setting(name, "b 0", "b 2"))?;
    ensure("stale expectation loses", !stale, || {
        "replace_setting replaced a value that did not match".into()
    })?;
    let won = store_ok("replace held", store.replace_setting(name, "a 1", "b 2"))?;
    let held = store_ok("read lease", store.setting(name))?;
    ensure(
        "matching expectation wins",
        won && held.as_deref() == Some("b 2"),
        || format!("replaced {won}, holds {held:?}"),
    )?;
    let results: Vec<Result<bool, StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let value = format!("n{i} 3");
                scope.spawn(move || store.replace_setting(name, "b 2", &value))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(StoreError::Backend("thread".into())))
            })
            .collect()
    });
    let mut winners = 0;
    for result in results {
        if store_ok("concurrent replace", result)? {
            winners += 1;
        }
    }
    ensure("one of concurrent replacements wins", winners == 1, || {
        format!("{winners} concurrent replacements won")
    })
}
