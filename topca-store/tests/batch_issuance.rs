//! Record before sign a chunk at a time, on SQLite and on a real PostgreSQL
//! server: a chunk's reservations are written together or not at all, its
//! certificates are stored with their audit entries together or not at all,
//! and concurrent chunks keep serials unique and the keyed audit chain valid.
//! PostgreSQL as in `backends.rs` (`TOPCA_TEST_POSTGRES_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::time::SystemTime;

use common::{databases, new_request, record};
use topca_core::{
    ProfileKind, StoreError,
    audit::{Actor, AuditAction, AuditKey, AuditRecord, Outcome, verify_chain},
    kmc::MasterKey,
    store::{
        AuditStore, BatchIssuanceStore, CertificateRecord, CertificateStore, IssuanceStore,
        Reservation, tbs_sha256,
    },
};
use topca_store::DieselStore;

fn key() -> AuditKey {
    AuditKey::derive(&MasterKey::from_bytes([0x3C; 32]))
}

/// `n` certificates of one account, as a machine client's batch makes them.
fn chunk(store: &DieselStore, n: usize) -> Vec<CertificateRecord> {
    let request = new_request(store, "fleet@example.cn");
    (0..n)
        .map(|_| CertificateRecord {
            request: None,
            ..record(&request)
        })
        .collect()
}

fn reservations(certificates: &[CertificateRecord]) -> Vec<Reservation> {
    certificates
        .iter()
        .map(|c| Reservation {
            serial: c.serial.clone(),
            tbs_sha256: tbs_sha256(&c.der).unwrap(),
            profile: ProfileKind::TlsServer,
            requester: Actor::Client("fleet".into()),
            account: c.account,
            request: None,
            reserved_at: SystemTime::now(),
            issued: false,
        })
        .collect()
}

fn with_audit(certificates: &[CertificateRecord]) -> Vec<(CertificateRecord, AuditRecord)> {
    certificates
        .iter()
        .map(|c| {
            (
                c.clone(),
                AuditRecord {
                    at: SystemTime::now(),
                    actor: Actor::Client("fleet".into()),
                    action: AuditAction::CertificateIssued,
                    target: c.serial.clone(),
                    outcome: Outcome::Success,
                    detail: "tls-server".into(),
                },
            )
        })
        .collect()
}

#[test]
fn a_chunk_is_reserved_and_stored_whole_or_not_at_all() {
    for (label, url, _cleanup) in databases("batch") {
        let store = DieselStore::open(&url).unwrap().with_audit_key(key());
        // 250 certificates: more than one INSERT statement's worth of rows.
        let good = chunk(&store, 250);
        let fresh = chunk(&store, 3);
        let audit_before = store.audit_entries().unwrap().len();
        store.reserve_issuances(&reservations(&good)).unwrap();
        assert_eq!(
            store.unfinished_issuances(1000).unwrap().len(),
            250,
            "{label}"
        );

        // A chunk with one serial reserved already reserves none of the others.
        let mut clash = reservations(&fresh);
        clash.extend(reservations(&good[..1]));
        assert_eq!(
            store.reserve_issuances(&clash),
            Err(StoreError::Conflict),
            "{label}"
        );
        // So does a chunk naming one serial twice.
        let mut twice = reservations(&fresh);
        twice.push(twice[0].clone());
        assert_eq!(
            store.reserve_issuances(&twice),
            Err(StoreError::Conflict),
            "{label}"
        );
        assert!(
            store.reservation(&fresh[0].serial).unwrap().is_none(),
            "{label}"
        );

        // A chunk with one certificate not reserved stores none of them.
        let mut refused = with_audit(&good[..10]);
        refused.extend(with_audit(&fresh[..1]));
        assert_eq!(
            store.store_certificates(refused),
            Err(StoreError::NotReserved(fresh[0].serial.clone())),
            "{label}"
        );
        // And one whose certificate is not the TBS recorded.
        let mut forged = with_audit(&good[..10]);
        forged[9].0.der = common::certificate_der(&[0x41; 16]);
        assert!(
            matches!(
                store.store_certificates(forged),
                Err(StoreError::TbsMismatch(_))
            ),
            "{label}"
        );
        assert!(
            store.certificate(&good[0].serial).unwrap().is_none(),
            "{label}"
        );
        assert_eq!(
            store.audit_entries().unwrap().len(),
            audit_before,
            "{label}"
        );

        store.store_certificates(with_audit(&good)).unwrap();
        assert!(
            store.unfinished_issuances(1000).unwrap().is_empty(),
            "{label}"
        );
        for certificate in &good {
            let stored = store.certificate(&certificate.serial).unwrap().unwrap();
            assert_eq!(stored.der, certificate.der, "{label}");
            assert!(
                store
                    .reservation(&certificate.serial)
                    .unwrap()
                    .unwrap()
                    .issued
            );
        }
        let entries = store.audit_entries().unwrap();
        assert_eq!(entries.len(), audit_before + 250, "{label}");
        assert_eq!(entries.last().unwrap().record.target, good[249].serial);
        verify_chain(&entries, Some(&key()), None).unwrap_or_else(|e| panic!("{label}: {e}"));

        // Stored once: a second time is refused, and nothing more is written.
        match store.store_certificates(with_audit(&good[..2])) {
            Err(StoreError::DuplicateSerial(serial)) => {
                assert!(
                    serial == good[0].serial || serial == good[1].serial,
                    "{label}"
                );
            }
            other => panic!("{label}: {other:?}"),
        }
        assert_eq!(
            store.reserve_issuances(&reservations(&good[..1])),
            Err(StoreError::Conflict)
        );
        assert_eq!(
            store.audit_entries().unwrap().len(),
            entries.len(),
            "{label}"
        );
        // Empty chunks are no-ops.
        store.reserve_issuances(&[]).unwrap();
        store.store_certificates(Vec::new()).unwrap();
    }
}

#[test]
fn concurrent_chunks_keep_the_keyed_audit_chain_valid() {
    const WORKERS: usize = 4;
    const CHUNKS: usize = 3;
    const EACH: usize = 40;
    for (label, url, _cleanup) in databases("batches") {
        let store = DieselStore::open(&url).unwrap().with_audit_key(key());
        let before = store.audit_entries().unwrap().len();
        std::thread::scope(|s| {
            for _ in 0..WORKERS {
                let store = &store;
                s.spawn(move || {
                    for _ in 0..CHUNKS {
                        let certificates = chunk(store, EACH);
                        store
                            .reserve_issuances(&reservations(&certificates))
                            .unwrap();
                        store.store_certificates(with_audit(&certificates)).unwrap();
                    }
                });
            }
        });
        let entries = store.audit_entries().unwrap();
        let issued = entries
            .iter()
            .filter(|e| e.record.action == AuditAction::CertificateIssued)
            .count();
        assert_eq!(issued, WORKERS * CHUNKS * EACH, "{label}");
        assert!(entries.len() >= before + issued, "{label}");
        verify_chain(&entries, Some(&key()), None).unwrap_or_else(|e| panic!("{label}: {e}"));
    }
}

#[test]
fn ocsp_responses_are_stored_with_their_certificates_or_not_at_all() {
    use topca_core::{ocsp::Presigned, store::OcspStore};
    let response = |c: &CertificateRecord| Presigned {
        serial: c.serial.clone(),
        der: vec![0x30; 700],
        this_update: SystemTime::now(),
        next_update: SystemTime::now() + std::time::Duration::from_secs(3600),
        revoked: false,
    };
    for (label, url, _cleanup) in databases("batch_ocsp") {
        let store = DieselStore::open(&url).unwrap();
        let good = chunk(&store, 3);
        store.reserve_issuances(&reservations(&good)).unwrap();
        let responses: Vec<Presigned> = good.iter().map(response).collect();
        store
            .store_certificates_with_ocsp(with_audit(&good), &responses)
            .unwrap();
        for (certificate, response) in good.iter().zip(&responses) {
            assert_eq!(
                store.ocsp_response(&certificate.serial).unwrap().as_ref(),
                Some(response),
                "{label}"
            );
        }

        // A chunk refused (one certificate not reserved) leaves no response.
        let refused = chunk(&store, 2);
        store
            .reserve_issuances(&reservations(&refused[..1]))
            .unwrap();
        let responses: Vec<Presigned> = refused.iter().map(response).collect();
        assert!(
            store
                .store_certificates_with_ocsp(with_audit(&refused), &responses)
                .is_err(),
            "{label}"
        );
        for certificate in &refused {
            assert_eq!(
                store.ocsp_response(&certificate.serial).unwrap(),
                None,
                "{label}"
            );
        }
    }
}
