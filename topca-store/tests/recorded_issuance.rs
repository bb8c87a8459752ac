//! Record before sign on SQLite and on a real PostgreSQL server: audit entries
//! written inside concurrent issuances and revocations keep the keyed chain
//! valid, and a write that fails after the signature (a certificate or an audit
//! entry that cannot be inserted) leaves the open reservation and nothing else.
//! PostgreSQL as in `backends.rs` (`TOPCA_TEST_POSTGRES_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::time::SystemTime;

use common::{databases, issue_one, new_request, record, reserve};
use diesel::{Connection, PgConnection, connection::SimpleConnection};
use topca_core::{
    StoreError,
    audit::{Actor, AuditAction, AuditKey, AuditRecord, Outcome, verify_chain},
    kmc::MasterKey,
    lifecycle::RevocationReason,
    store::{
        AuditStore, CertificateStatus, CertificateStore, IssuanceStore, RequestChange,
        RequestStore, Revocation,
    },
};
use topca_store::DieselStore;

/// An audit record, as the RA writes them with a change.
fn note(action: AuditAction, target: &str) -> AuditRecord {
    AuditRecord {
        at: SystemTime::now(),
        actor: Actor::System,
        action,
        target: target.to_owned(),
        outcome: Outcome::Success,
        detail: String::new(),
    }
}

#[test]
fn audit_entries_written_inside_concurrent_changes_keep_the_keyed_chain_valid() {
    const WORKERS: usize = 4;
    const EACH: usize = 30;
    let key = || AuditKey::derive(&MasterKey::from_bytes([0x5A; 32]));
    for (label, url, _cleanup) in databases("audited") {
        let store = DieselStore::open(&url).unwrap().with_audit_key(key());
        std::thread::scope(|s| {
            for w in 0..WORKERS {
                let store = &store;
                s.spawn(move || {
                    for i in 0..EACH {
                        let request = new_request(store, &format!("w{w}-{i}@example.cn"));
                        let certificate = record(&request);
                        reserve(store, &certificate);
                        let serial = certificate.serial.clone();
                        let mut issued = request.clone();
                        issued.state = topca_core::lifecycle::RequestState::Issued;
                        store
                            .commit_request(RequestChange {
                                issued: vec![certificate],
                                audit: vec![note(AuditAction::CertificateIssued, &serial)],
                                ..RequestChange::update(issued)
                            })
                            .unwrap();
                        if i % 2 == 0 {
                            store
                                .revoke_certificate(
                                    &Revocation {
                                        serial: serial.clone(),
                                        at: SystemTime::now(),
                                        reason: RevocationReason::KeyCompromise,
                                    },
                                    note(AuditAction::CertificateRevoked, &serial),
                                )
                                .unwrap();
                        } else {
                            store
                                .append_audit(note(AuditAction::AccountUpdated, &serial))
                                .unwrap();
                        }
                    }
                });
            }
        });
        let entries = store.audit_entries().unwrap();
        assert_eq!(entries.len(), 2 * WORKERS * EACH, "{label}");
        verify_chain(&entries, Some(&key()), None).unwrap_or_else(|e| panic!("{label}: {e}"));
        // A change refused halfway writes no audit entry.
        let request = new_request(&store, "refused@example.cn");
        let unreserved = record(&request);
        let refused = store.commit_request(RequestChange {
            issued: vec![unreserved.clone()],
            audit: vec![note(AuditAction::CertificateIssued, &unreserved.serial)],
            ..RequestChange::update(request)
        });
        assert_eq!(
            refused,
            Err(StoreError::NotReserved(unreserved.serial)),
            "{label}"
        );
        assert_eq!(
            store.audit_entries().unwrap().len(),
            entries.len(),
            "{label}"
        );
    }
}

/// Makes every insert into `table` fail, as a full disk or a lost connection
/// would, until [`heal`] is called.
fn break_inserts(url: &str, table: &str) {
    match url.strip_prefix("sqlite://") {
        Some(path) => diesel::SqliteConnection::establish(path)
            .unwrap()
            .batch_execute(&format!(
                "CREATE TRIGGER broken_{table} BEFORE INSERT ON {table} \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
            ))
            .unwrap(),
        None => PgConnection::establish(url)
            .unwrap()
            .batch_execute(&format!(
                "CREATE OR REPLACE FUNCTION injected_failure() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER broken_{table} BEFORE INSERT ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION injected_failure();"
            ))
            .unwrap(),
    }
}

/// Undoes [`break_inserts`].
fn heal(url: &str, table: &str) {
    let sql = if url.starts_with("sqlite://") {
        format!("DROP TRIGGER broken_{table};")
    } else {
        format!("DROP TRIGGER broken_{table} ON {table};")
    };
    match url.strip_prefix("sqlite://") {
        Some(path) => diesel::SqliteConnection::establish(path)
            .unwrap()
            .batch_execute(&sql)
            .unwrap(),
        None => PgConnection::establish(url)
            .unwrap()
            .batch_execute(&sql)
            .unwrap(),
    }
}

#[test]
fn a_write_failing_after_the_signature_leaves_only_the_reservation() {
    for (label, url, _cleanup) in databases("crash") {
        let store = DieselStore::open(&url).unwrap();
        issue_one(&store, "before@example.cn");
        let audited = store.audit_entries().unwrap().len();
        let request = new_request(&store, "crash@example.cn");
        let certificate = record(&request);
        reserve(&store, &certificate);
        let serial = certificate.serial.clone();
        let mut issued = request.clone();
        issued.state = topca_core::lifecycle::RequestState::Issued;
        let change = RequestChange {
            issued: vec![certificate],
            audit: vec![note(AuditAction::CertificateIssued, &serial)],
            ..RequestChange::update(issued)
        };

        // The certificate's write fails: nothing of the change is left, and the
        // reservation stays open for the operator and for OCSP.
        break_inserts(&url, "certificates");
        let failed = store.commit_request(change.clone());
        assert!(
            matches!(failed, Err(StoreError::Backend(_))),
            "{label}: {failed:?}"
        );
        assert!(store.certificate(&serial).unwrap().is_none(), "{label}");
        assert_eq!(
            store.request(request.id).unwrap().unwrap(),
            request,
            "{label}"
        );
        assert_eq!(store.audit_entries().unwrap().len(), audited, "{label}");
        let open = store.unfinished_issuances(10).unwrap();
        assert!(
            open.len() == 1 && open[0].serial == serial && !open[0].issued,
            "{label}: {open:?}"
        );
        heal(&url, "certificates");

        // The audit entry's write fails: the certificate is not stored either,
        // and a revocation does not happen without its entry.
        break_inserts(&url, "audit_entries");
        let failed = store.commit_request(change.clone());
        assert!(
            matches!(failed, Err(StoreError::Backend(_))),
            "{label}: {failed:?}"
        );
        assert!(store.certificate(&serial).unwrap().is_none(), "{label}");
        // Issued while audit entries cannot be written (this test's change
        // carries none), then revoked with one.
        let before = issue_one(&store, "unaudited@example.cn");
        let failed = store.revoke_certificate(
            &Revocation {
                serial: before.clone(),
                at: SystemTime::now(),
                reason: RevocationReason::KeyCompromise,
            },
            note(AuditAction::CertificateRevoked, &before),
        );
        assert!(
            matches!(failed, Err(StoreError::Backend(_))),
            "{label}: {failed:?}"
        );
        assert_eq!(
            store.certificate(&before).unwrap().unwrap().status,
            CertificateStatus::Valid,
            "{label}: revoked without its audit entry"
        );
        heal(&url, "audit_entries");

        // Healed, the same change goes through and closes the reservation.
        store.commit_request(change).unwrap();
        assert!(
            store.unfinished_issuances(10).unwrap().is_empty(),
            "{label}"
        );
        assert!(
            store.reservation(&serial).unwrap().unwrap().issued,
            "{label}"
        );
        assert_eq!(store.audit_entries().unwrap().len(), audited + 1, "{label}");
    }
}
