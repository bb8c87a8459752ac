//! The storage conformance suite: what every [`RaStore`] implementation must do.
//! The in-memory store runs it in TopCA's tests; `topca-store` runs it on SQLite and
//! PostgreSQL; an integrator's own store can run it too.
//!
//! [`run`] takes a fresh, empty store and reports the first check that failed.

use std::{fmt, time::SystemTime};

use crate::{
    algorithm::KeyAlgorithm,
    audit::{Actor, AuditAction, AuditRecord, Outcome, verify_chain},
    error::StoreError,
    lifecycle::{CertificateType, RequestKind, RequestState, RevocationReason, VerificationMode},
    ra::{AccountId, AccountSettings, Holder, Language},
    random::OsRandom,
    secret::PasswordHash,
    store::{CertificateRecord, CertificateStatus, NewRequest, Opening, RaStore},
};

/// A check the store failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConformanceFailure {
    /// Which guarantee.
    pub check: &'static str,
    /// What was seen instead.
    pub detail: String,
}

impl fmt::Display for ConformanceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "store conformance check \"{}\" failed: {}",
            self.check, self.detail
        )
    }
}

impl std::error::Error for ConformanceFailure {}

type Checked = Result<(), ConformanceFailure>;

fn ensure(check: &'static str, ok: bool, detail: impl FnOnce() -> String) -> Checked {
    if ok {
        Ok(())
    } else {
        Err(ConformanceFailure {
            check,
            detail: detail(),
        })
    }
}

fn store_ok<T>(
    check: &'static str,
    result: Result<T, StoreError>,
) -> Result<T, ConformanceFailure> {
    result.map_err(|e| ConformanceFailure {
        check,
        detail: format!("store error: {e:?}"),
    })
}

/// Runs every check against a fresh, empty `store`.
pub fn run(store: &dyn RaStore) -> Checked {
    accounts(store)?;
    let account = store_ok(
        "account for requests",
        store.create_account(settings("测试单位", "测试部")),
    )?
    .id;
    requests_update_by_compare_and_set(store, account)?;
    concurrent_updates_lose_nothing(store, account)?;
    issuance_is_atomic(store, account)?;
    revocation_happens_once(store, account)?;
    audit_entries_chain(store)
}

fn settings(organization: &str, unit: &str) -> AccountSettings {
    AccountSettings {
        organization: organization.to_owned(),
        unit: unit.to_owned(),
        certificate_type: CertificateType::Dual,
        verification: VerificationMode::Manual,
        algorithm: KeyAlgorithm::Sm2,
        validity_days: 365,
        service_url: "http://127.0.0.1:8080/TopCA/userEnroll".to_owned(),
        language: Language::Chinese,
    }
}

fn new_request(account: AccountId, email: &str) -> Result<NewRequest, ConformanceFailure> {
    let password = PasswordHash::create("conformance-password", &OsRandom).map_err(|e| {
        ConformanceFailure {
            check: "password hash",
            detail: e.to_string(),
        }
    })?;
    Ok(NewRequest {
        account,
        kind: RequestKind::Application,
        holder: Holder {
            name: "张三".to_owned(),
            email: email.to_owned(),
            phone: None,
            state: Some("北京".to_owned()),
            locality: None,
        },
        password: Some(password),
        submitted_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
        csr: Some(vec![0x30, 0x00]),
        previous_serial: Some("0A0B".to_owned()),
        opening: Opening::Submitted,
    })
}

fn accounts(store: &dyn RaStore) -> Checked {
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
    ensure(check, none.is_empty(), || format!("found {none:?}"))
}

fn requests_update_by_compare_and_set(store: &dyn RaStore, account: AccountId) -> Checked {
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

fn concurrent_updates_lose_nothing(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "of concurrent updates from one version exactly one wins";
    let request = store_ok(
        check,
        store.submit_request(new_request(account, "race@example.com")?),
    )?;
    let wins = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let mut mine = request.clone();
                mine.failed_attempts = i;
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

fn record(
    serial: &str,
    account: AccountId,
    request: crate::ra::RequestId,
    email: &str,
) -> CertificateRecord {
    let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    CertificateRecord {
        serial: serial.to_owned(),
        account: Some(account),
        request: Some(request),
        holder_name: "张三".to_owned(),
        email: email.to_owned(),
        not_before: t,
        not_after: t + std::time::Duration::from_secs(365 * 86_400),
        status: CertificateStatus::Valid,
        revocation: None,
        der: vec![0x30, 0x03, 0x02, 0x01, 0x01],
    }
}

fn issuance_is_atomic(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "issuance stores the certificate and closes the request atomically";
    let request = store_ok(
        check,
        store.submit_request(new_request(account, "Issue@Example.com")?),
    )?;
    let mut issued = request.clone();
    issued.state = RequestState::Issued;
    issued.issued_serial = Some("0A1B2C".into());
    let done = store_ok(
        check,
        store.complete_issuance(
            &issued,
            record("0A1B2C", account, request.id, "Issue@Example.com"),
        ),
    )?;
    ensure(
        check,
        done.state == RequestState::Issued && done.version == request.version + 1,
        || format!("{done:?}"),
    )?;
    let by_serial = store_ok(check, store.certificate("0a1b2c"))?;
    ensure(
        check,
        by_serial.is_some_and(|c| c.der == [0x30, 0x03, 0x02, 0x01, 0x01]),
        || "not found by serial".into(),
    )?;
    let by_email = store_ok(check, store.certificates_by_email("issue@example.com"))?;
    ensure(check, by_email.len() == 1, || {
        format!("found {} by e-mail", by_email.len())
    })?;
    let by_name = store_ok(check, store.certificates_by_holder_name("张三"))?;
    ensure(check, !by_name.is_empty(), || "not found by name".into())?;

    // A stale request copy: nothing is written, not even the certificate.
    let stale = store.complete_issuance(
        &issued,
        record("0D0E0F", account, request.id, "Issue@Example.com"),
    );
    ensure(check, stale == Err(StoreError::Conflict), || {
        format!("stale issuance gave {stale:?}")
    })?;
    ensure(
        check,
        store_ok(check, store.certificate("0D0E0F"))?.is_none(),
        || "half-written certificate".into(),
    )?;

    // A duplicate serial: refused, and the request is left as it was.
    let other = store_ok(
        check,
        store.submit_request(new_request(account, "dup@example.com")?),
    )?;
    let mut other_issued = other.clone();
    other_issued.state = RequestState::Issued;
    let duplicate = store.complete_issuance(
        &other_issued,
        record("0A1B2C", account, other.id, "dup@example.com"),
    );
    ensure(
        check,
        duplicate == Err(StoreError::DuplicateSerial("0A1B2C".into())),
        || format!("{duplicate:?}"),
    )?;
    let unchanged = store_ok(check, store.request(other.id))?;
    ensure(check, unchanged.as_ref() == Some(&other), || {
        format!("request changed: {unchanged:?}")
    })
}

fn revocation_happens_once(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "a certificate is revoked once";
    let request = store_ok(
        check,
        store.submit_request(new_request(account, "revoke@example.com")?),
    )?;
    let mut issued = request.clone();
    issued.state = RequestState::Issued;
    store_ok(
        check,
        store.complete_issuance(
            &issued,
            record("7F01", account, request.id, "revoke@example.com"),
        ),
    )?;
    let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_100_000);
    let revoked = store_ok(
        check,
        store.revoke_certificate("7f01", at, RevocationReason::KeyCompromise),
    )?;
    ensure(
        check,
        revoked.status == CertificateStatus::Revoked
            && revoked.revocation == Some((at, RevocationReason::KeyCompromise)),
        || format!("{revoked:?}"),
    )?;
    let again = store.revoke_certificate("7F01", at, RevocationReason::Superseded);
    ensure(check, again == Err(StoreError::Conflict), || {
        format!("second revocation gave {again:?}")
    })?;
    let unknown = store.revoke_certificate("FFFF", at, RevocationReason::Superseded);
    ensure(check, unknown == Err(StoreError::NotFound), || {
        format!("unknown serial gave {unknown:?}")
    })?;
    let stored = store_ok(check, store.certificate("7F01"))?;
    ensure(
        check,
        stored
            .is_some_and(|c| c.revocation.map(|(_, r)| r) == Some(RevocationReason::KeyCompromise)),
        || "reason overwritten".into(),
    )
}

fn audit_entries_chain(store: &dyn RaStore) -> Checked {
    let check = "audit entries are chained in order";
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
    ensure(check, entries.len() == 3, || {
        format!("{} entries", entries.len())
    })?;
    verify_chain(&entries, entries.last().map(|e| e.hash)).map_err(|e| ConformanceFailure {
        check,
        detail: e.to_string(),
    })
}
