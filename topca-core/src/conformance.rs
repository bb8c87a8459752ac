//! The storage conformance suite: what every [`RaStore`] implementation must do.
//! The in-memory store runs it in TopCA's tests; `topca-store` runs it on SQLite and
//! PostgreSQL; an integrator's own store can run it too.
//!
//! [`run`] takes a fresh, empty store and reports the first check that failed.

use std::{fmt, time::SystemTime};

mod attempts;

use crate::{
    algorithm::KeyAlgorithm,
    audit::{Actor, AuditAction, AuditRecord, Outcome, verify_chain},
    error::StoreError,
    kmc::{EscrowedKey, NewRecovery, RecoveryId, RecoveryState},
    lifecycle::{
        CertificateType, CertificateUsage, RequestKind, RequestState, RevocationReason,
        VerificationMode,
    },
    ra::{
        AccountId, AccountSettings, AdminRole, Holder, Language, Request, RequestRef, ServerPolicy,
        admin::AdminRecord,
    },
    random::OsRandom,
    secret::{CodeHash, PasswordHash},
    store::{
        AdminSession, CertificateRecord, CertificateStatus, CrlRecord, EscrowRecord, NewRequest,
        Opening, RaStore, RequestChange, Revocation,
    },
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
    server_policies_are_kept_per_account(store)?;
    let account = store_ok(
        "account for requests",
        store.create_account(settings("测试单位", "测试部")),
    )?
    .id;
    requests_update_by_compare_and_set(store, account)?;
    concurrent_updates_lose_nothing(store, account)?;
    attempts::references_find_requests(store, account)?;
    attempts::holder_attempts_count_atomically_per_source(store, account)?;
    issuance_is_atomic(store, account)?;
    dual_issuance_escrows_atomically(store, account)?;
    revocation_happens_once(store, account)?;
    replacement_revokes_atomically(store, account)?;
    expiry_window(store)?;
    crls_keep_their_history(store)?;
    recoveries_update_by_compare_and_set(store)?;
    concurrent_recovery_attempts_all_count(store)?;
    admins_are_unique_and_updated_by_compare_and_set(store)?;
    concurrent_login_attempts_each_count(store)?;
    sessions_are_kept_by_token_hash(store)?;
    outbox_delivers_retries_and_forgets(store)?;
    audit_entries_chain(store)
}

/// Queued mails come due in order, a failure postpones one and counts it, a
/// sent one is gone.
fn outbox_delivers_retries_and_forgets(store: &dyn RaStore) -> Checked {
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

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds)
}

/// `request` as issued with `records` (and `escrow`), in one change.
fn issue(
    request: &Request,
    records: Vec<CertificateRecord>,
    escrow: Option<EscrowRecord>,
) -> RequestChange {
    let mut issued = request.clone();
    issued.state = RequestState::Issued;
    issued.issued_serial = records.first().map(|r| r.serial.clone());
    RequestChange {
        request: issued,
        revoke: None,
        issued: records,
        escrow,
    }
}

fn server_policies_are_kept_per_account(store: &dyn RaStore) -> Checked {
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
    let reference = RequestRef::generate(&OsRandom).map_err(|e| ConformanceFailure {
        check: "request reference",
        detail: e.to_string(),
    })?;
    Ok(NewRequest {
        reference,
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

fn record(
    serial: &str,
    account: AccountId,
    request: crate::ra::RequestId,
    email: &str,
) -> CertificateRecord {
    let t = at(1_800_000_000);
    CertificateRecord {
        serial: serial.to_owned(),
        account: Some(account),
        request: Some(request),
        holder_name: "张三".to_owned(),
        email: email.to_owned(),
        subject: "CN=张三,OU=测试部,O=测试单位,C=CN".to_owned(),
        issuer: "CN=TopCA Issuing CA,O=TopCA".to_owned(),
        usage: CertificateUsage::Signing,
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
    let mut certificate = record("0A1B2C", account, request.id, "Issue@Example.com");
    certificate.usage = CertificateUsage::Server;
    let done = store_ok(
        check,
        store.commit_request(issue(&request, vec![certificate.clone()], None)),
    )?;
    ensure(
        check,
        done.state == RequestState::Issued && done.version == request.version + 1,
        || format!("{done:?}"),
    )?;
    let by_serial = store_ok(check, store.certificate("0a1b2c"))?;
    ensure(check, by_serial.as_ref() == Some(&certificate), || {
        format!("read back by serial as {by_serial:?}")
    })?;
    let by_email = store_ok(check, store.certificates_by_email("issue@example.com"))?;
    ensure(check, by_email.len() == 1, || {
        format!("found {} by e-mail", by_email.len())
    })?;
    let by_name = store_ok(check, store.certificates_by_holder_name("张三"))?;
    ensure(check, !by_name.is_empty(), || "not found by name".into())?;

    // A stale request copy: nothing is written, not even the certificate.
    let stale = store.commit_request(issue(
        &request,
        vec![record("0D0E0F", account, request.id, "Issue@Example.com")],
        None,
    ));
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
    let duplicate = store.commit_request(issue(
        &other,
        vec![record("0A1B2C", account, other.id, "dup@example.com")],
        None,
    ));
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

fn escrow(encryption_serial: &str, signing_serial: &str, email: &str) -> EscrowRecord {
    EscrowRecord {
        encryption_serial: encryption_serial.to_owned(),
        signing_serial: signing_serial.to_owned(),
        email: email.to_owned(),
        key: EscrowedKey {
            master_key_id: [7; 8],
            nonce: [9; 12],
            ciphertext: vec![0xA5; 150],
        },
        escrowed_at: at(1_800_000_000),
    }
}

fn dual_issuance_escrows_atomically(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "a dual issuance stores both certificates and the escrowed key atomically";
    let email = "dual@example.com";
    let request = store_ok(check, store.submit_request(new_request(account, email)?))?;
    let signing = record("5101", account, request.id, email);
    let mut encryption = record("5102", account, request.id, email);
    encryption.usage = CertificateUsage::Encryption;

    // The second certificate's serial is taken: neither certificate, nor the key.
    let taken = record("0A1B2C", account, request.id, email);
    let refused = store.commit_request(issue(
        &request,
        vec![signing.clone(), taken],
        Some(escrow("0A1B2C", "5101", email)),
    ));
    ensure(
        check,
        refused == Err(StoreError::DuplicateSerial("0A1B2C".into())),
        || format!("{refused:?}"),
    )?;
    ensure(
        check,
        store_ok(check, store.certificate("5101"))?.is_none()
            && store_ok(check, store.escrowed_keys_by_email(email))?.is_empty(),
        || "half-written dual issuance".into(),
    )?;

    let sealed = escrow("5102", "5101", email);
    store_ok(
        check,
        store.commit_request(issue(
            &request,
            vec![signing, encryption.clone()],
            Some(sealed.clone()),
        )),
    )?;
    let stored = store_ok(check, store.certificate("5102"))?;
    ensure(check, stored.as_ref() == Some(&encryption), || {
        format!("encryption certificate read back as {stored:?}")
    })?;
    let key = store_ok(check, store.escrowed_key("5102"))?;
    ensure(check, key.as_ref() == Some(&sealed), || {
        format!("escrowed key read back as {key:?}")
    })?;
    let by_email = store_ok(check, store.escrowed_keys_by_email("DUAL@example.com"))?;
    ensure(check, by_email == [sealed], || {
        format!("escrowed keys by e-mail: {by_email:?}")
    })
}

fn revocation_happens_once(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "a certificate is revoked once";
    let request = store_ok(
        check,
        store.submit_request(new_request(account, "revoke@example.com")?),
    )?;
    store_ok(
        check,
        store.commit_request(issue(
            &request,
            vec![record("7F01", account, request.id, "revoke@example.com")],
            None,
        )),
    )?;
    let revocation = |serial: &str, reason| Revocation {
        serial: serial.to_owned(),
        at: at(1_800_100_000),
        reason,
    };
    let revoked = store_ok(
        check,
        store.revoke_certificate(&revocation("7f01", RevocationReason::KeyCompromise)),
    )?;
    ensure(
        check,
        revoked.status == CertificateStatus::Revoked
            && revoked.revocation == Some((at(1_800_100_000), RevocationReason::KeyCompromise)),
        || format!("{revoked:?}"),
    )?;
    let again = store.revoke_certificate(&revocation("7F01", RevocationReason::Superseded));
    ensure(
        check,
        again == Err(StoreError::AlreadyRevoked("7F01".into())),
        || format!("second revocation gave {again:?}"),
    )?;
    let unknown = store.revoke_certificate(&revocation("FFFF", RevocationReason::Superseded));
    ensure(check, unknown == Err(StoreError::NotFound), || {
        format!("unknown serial gave {unknown:?}")
    })?;
    let stored = store_ok(check, store.certificate("7F01"))?;
    ensure(
        check,
        stored
            .is_some_and(|c| c.revocation.map(|(_, r)| r) == Some(RevocationReason::KeyCompromise)),
        || "reason overwritten".into(),
    )?;
    let mut seen = Vec::new();
    store_ok(
        check,
        store.for_each_revoked(None, &mut |r| {
            seen.push(r.clone());
            Ok(())
        }),
    )?;
    ensure(
        check,
        seen == [revocation("7F01", RevocationReason::KeyCompromise)],
        || format!("revoked certificates listed as {seen:?}"),
    )?;
    let mut later = 0;
    store_ok(
        check,
        store.for_each_revoked(Some(at(1_800_100_001)), &mut |_| {
            later += 1;
            Ok(())
        }),
    )?;
    ensure(check, later == 0, || {
        format!("{later} revoked after the revocation time")
    })
}

fn replacement_revokes_atomically(store: &dyn RaStore, account: AccountId) -> Checked {
    let check = "a request change that revokes does both or neither";
    let email = "replace@example.com";
    let original = store_ok(check, store.submit_request(new_request(account, email)?))?;
    store_ok(
        check,
        store.commit_request(issue(
            &original,
            vec![record("6A01", account, original.id, email)],
            None,
        )),
    )?;
    let replacement = store_ok(check, store.submit_request(new_request(account, email)?))?;
    let revoke = Revocation {
        serial: "6A01".into(),
        at: at(1_800_200_000),
        reason: RevocationReason::Superseded,
    };
    // A stale request: the original stays valid.
    let mut stale = issue(
        &replacement,
        vec![record("6A02", account, replacement.id, email)],
        None,
    );
    stale.request.version += 7;
    stale.revoke = Some(revoke.clone());
    let refused = store.commit_request(stale);
    ensure(check, refused == Err(StoreError::Conflict), || {
        format!("{refused:?}")
    })?;
    let original_now = store_ok(check, store.certificate("6A01"))?;
    ensure(
        check,
        original_now.is_some_and(|c| c.status == CertificateStatus::Valid),
        || "revoked although the change was refused".into(),
    )?;
    let mut change = issue(
        &replacement,
        vec![record("6A02", account, replacement.id, email)],
        None,
    );
    change.revoke = Some(revoke.clone());
    store_ok(check, store.commit_request(change))?;
    let original_now = store_ok(check, store.certificate("6A01"))?;
    ensure(
        check,
        original_now.is_some_and(|c| c.status == CertificateStatus::Revoked),
        || "original not revoked".into(),
    )?;
    // Revoking it again within a change refuses the whole change.
    let third = store_ok(check, store.submit_request(new_request(account, email)?))?;
    let mut again = issue(&third, vec![record("6A03", account, third.id, email)], None);
    again.revoke = Some(revoke);
    let refused = store.commit_request(again);
    ensure(
        check,
        refused == Err(StoreError::AlreadyRevoked("6A01".into()))
            && store_ok(check, store.certificate("6A03"))?.is_none(),
        || format!("second revoking change gave {refused:?}"),
    )
}

fn expiry_window(store: &dyn RaStore) -> Checked {
    let check = "certificates ending in a window are found, soonest first, valid only";
    let all = store_ok(
        check,
        store.certificates_ending_between(at(0), at(u32::MAX.into())),
    )?;
    ensure(
        check,
        all.iter().all(|c| c.status == CertificateStatus::Valid) && !all.is_empty(),
        || format!("{} found, some revoked", all.len()),
    )?;
    ensure(
        check,
        all.windows(2).all(|w| w[0].not_after <= w[1].not_after),
        || "not soonest first".into(),
    )?;
    let end = at(1_800_000_000 + 365 * 86_400);
    let none = store_ok(check, store.certificates_ending_between(at(0), end))?;
    ensure(check, none.is_empty(), || {
        format!("{} end before {end:?}, exclusive bound ignored", none.len())
    })
}

fn crls_keep_their_history(store: &dyn RaStore) -> Checked {
    let check = "CRLs are kept with increasing numbers, full and delta apart";
    let crl = |number, delta_base| CrlRecord {
        number,
        delta_base,
        this_update: at(1_800_000_000 + number),
        next_update: at(1_800_086_400 + number),
        der: vec![0x30, 0x01, u8::try_from(number).unwrap_or(0)],
    };
    ensure(
        check,
        store_ok(check, store.latest_crl(false))?.is_none(),
        || "a CRL in an empty store".into(),
    )?;
    store_ok(check, store.put_crl(crl(1, None)))?;
    store_ok(check, store.put_crl(crl(2, Some(1))))?;
    store_ok(check, store.put_crl(crl(3, None)))?;
    let stale = store.put_crl(crl(3, None));
    ensure(check, stale == Err(StoreError::Conflict), || {
        format!("a repeated CRL number gave {stale:?}")
    })?;
    let full = store_ok(check, store.latest_crl(false))?;
    let delta = store_ok(check, store.latest_crl(true))?;
    ensure(
        check,
        full == Some(crl(3, None)) && delta == Some(crl(2, Some(1))),
        || format!("latest full {full:?}, delta {delta:?}"),
    )
}

fn new_recovery(check: &'static str, serial: &str) -> Result<NewRecovery, ConformanceFailure> {
    Ok(NewRecovery {
        id: RecoveryId::generate(&OsRandom).map_err(|e| ConformanceFailure {
            check,
            detail: e.to_string(),
        })?,
        encryption_serial: serial.into(),
        email: "dual@example.com".into(),
        holder_name: "张三".into(),
        requested_by: "kmc-甲".into(),
        requested_at: at(1_800_300_000),
        reason: "换了新电脑".into(),
    })
}

fn recoveries_update_by_compare_and_set(store: &dyn RaStore) -> Checked {
    let check = "key recoveries are stored and updated by compare-and-set";
    let new = new_recovery(check, "5102")?;
    let created = store_ok(check, store.create_recovery(new.clone()))?;
    ensure(
        check,
        created.state == RecoveryState::Requested && created.version == 1 && created.id == new.id,
        || format!("{created:?}"),
    )?;
    let taken = store.create_recovery(new);
    ensure(check, taken == Err(StoreError::Conflict), || {
        format!("a second recovery with the same identifier gave {taken:?}")
    })?;
    let unknown = store_ok(check, store.recovery(new_recovery(check, "5102")?.id))?;
    ensure(check, unknown.is_none(), || format!("found {unknown:?}"))?;
    let mut approved = created.clone();
    approved.state = RecoveryState::Approved;
    approved.decided_by = Some("kmc-乙".into());
    approved.code = Some(CodeHash::of("WXYZ-2345-6789"));
    approved.code_expires = Some(at(1_800_400_000));
    let updated = store_ok(check, store.update_recovery(&approved))?;
    let back = store_ok(check, store.recovery(created.id))?;
    ensure(
        check,
        updated.version == 2 && back.as_ref() == Some(&updated),
        || format!("read back as {back:?}"),
    )?;
    let mut stale = created.clone();
    stale.state = RecoveryState::Rejected;
    let refused = store.update_recovery(&stale);
    ensure(check, refused == Err(StoreError::Conflict), || {
        format!("stale update gave {refused:?}")
    })?;
    let listed = store_ok(check, store.recoveries_in_state(RecoveryState::Approved))?;
    ensure(check, listed == [updated], || format!("listed {listed:?}"))
}

fn concurrent_recovery_attempts_all_count(store: &dyn RaStore) -> Checked {
    let check = "concurrent authorization-code attempts on a recovery each count";
    let created = store_ok(check, store.create_recovery(new_recovery(check, "5103")?))?;
    let counted = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|_| s.spawn(|| store.count_recovery_attempt(created.id)))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .filter_map(|r| r.ok().flatten())
            .map(|r| r.failed_attempts)
            .collect::<Vec<_>>()
    });
    let mut seen = counted.clone();
    seen.sort_unstable();
    ensure(check, seen == (1..=50).collect::<Vec<u8>>(), || {
        format!("the 50 attempts were counted as {counted:?}")
    })?;
    let stored = store_ok(check, store.recovery(created.id))?;
    ensure(
        check,
        stored
            .as_ref()
            .is_some_and(|r| r.failed_attempts == 50 && r.version == 51),
        || format!("stored {stored:?}"),
    )?;
    let unknown = store_ok(
        check,
        store.count_recovery_attempt(new_recovery(check, "5103")?.id),
    )?;
    ensure(check, unknown.is_none(), || format!("counted {unknown:?}"))
}

fn admins_are_unique_and_updated_by_compare_and_set(store: &dyn RaStore) -> Checked {
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

fn concurrent_login_attempts_each_count(store: &dyn RaStore) -> Checked {
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

fn sessions_are_kept_by_token_hash(store: &dyn RaStore) -> Checked {
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
