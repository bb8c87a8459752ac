//! The storage conformance suite: what every [`RaStore`] implementation must do.
//! The in-memory store runs it in TopCA's tests; `topca-store` runs it on SQLite and
//! PostgreSQL; an integrator's own store can run it too.
//!
//! [`run`] takes a fresh, empty store and reports the first check that failed.

use std::{fmt, time::SystemTime};

mod accounts;
mod admins;
mod attempts;
mod audit;
mod certificates;
mod escrow;
mod issuance;
mod listing;
mod outbox;

use crate::{
    algorithm::KeyAlgorithm,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    error::StoreError,
    lifecycle::{CertificateType, CertificateUsage, RequestKind, RequestState, VerificationMode},
    profile::ProfileKind,
    ra::{AccountId, AccountSettings, Holder, Language, Request, RequestRef},
    random::OsRandom,
    secret::PasswordHash,
    store::{
        CertificateRecord, CertificateStatus, EscrowRecord, NewRequest, Opening, RaStore,
        RequestChange, Reservation, tbs_sha256,
    },
};
use accounts::{
    accounts, concurrent_updates_lose_nothing, requests_update_by_compare_and_set,
    server_policies_are_kept_per_account,
};
use admins::{
    admins_are_unique_and_updated_by_compare_and_set, concurrent_login_attempts_each_count,
    sessions_are_kept_by_token_hash, settings_replace_by_compare_and_set,
};
use audit::audit_entries_chain;
use certificates::{
    crls_keep_their_history, expiry_window, issuance_is_atomic, replacement_revokes_atomically,
    revocation_happens_once,
};
use escrow::{
    concurrent_recovery_attempts_all_count, dual_issuance_escrows_atomically,
    recoveries_update_by_compare_and_set,
};
use outbox::{concurrent_claimers_take_each_mail_once, outbox_delivers_retries_and_forgets};

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
    issuance::reservations_are_taken_once(store)?;
    issuance::concurrent_reservations_of_one_serial_elect_one(store)?;
    issuance::only_reserved_certificates_are_stored(store, account)?;
    issuance::unattached_certificates_are_stored_with_their_audit_entry(store)?;
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
    settings_replace_by_compare_and_set(store)?;
    outbox_delivers_retries_and_forgets(store)?;
    concurrent_claimers_take_each_mail_once(store)?;
    listing::audit_pages_filter_and_count(store)?;
    listing::escrow_and_recovery_pages(store)?;
    audit_entries_chain(store)
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
    let audit = records
        .iter()
        .map(|r| note(AuditAction::CertificateIssued, &r.serial))
        .collect();
    RequestChange {
        request: issued,
        revoke: None,
        issued: records,
        escrow,
        audit,
    }
}

/// An audit record of `action` on `target`, as changes carry them.
fn note(action: AuditAction, target: &str) -> AuditRecord {
    AuditRecord {
        at: at(1_800_000_000),
        actor: Actor::System,
        action,
        target: target.to_owned(),
        outcome: Outcome::Success,
        detail: "conformance".to_owned(),
    }
}

/// An open reservation of `serial` for the TBSCertificate inside `der`.
fn reservation(serial: &str, der: &[u8]) -> Result<Reservation, ConformanceFailure> {
    Ok(Reservation {
        serial: serial.to_owned(),
        tbs_sha256: tbs_sha256(der).map_err(|e| ConformanceFailure {
            check: "TBS hash of a test certificate",
            detail: e.to_string(),
        })?,
        profile: ProfileKind::UserSigning,
        requester: Actor::User("张三@example.com".into()),
        account: None,
        request: None,
        reserved_at: at(1_800_000_000),
        issued: false,
    })
}

/// Reserves the serials of `records` before they are stored, as issuance does.
fn reserve(check: &'static str, store: &dyn RaStore, records: &[&CertificateRecord]) -> Checked {
    for record in records {
        store_ok(
            check,
            store.reserve_issuance(&reservation(&record.serial, &record.der)?),
        )?;
    }
    Ok(())
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
