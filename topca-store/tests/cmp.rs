//! CMP storage on SQLite and PostgreSQL: credentials stored with their audit
//! entry (the secret sealed, references unique), transactions usable once by
//! transactionID and updated in place.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{databases, settings};
use topca_core::{
    StoreError,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    cmp::{
        CmpCredential,
        credential::{CmpTransaction, TransactionState},
    },
    store::{AccountStore, AuditStore, CmpStore},
};
use topca_store::DieselStore;

fn audit() -> AuditRecord {
    AuditRecord {
        at: SystemTime::now(),
        actor: Actor::Admin("ra".into()),
        action: AuditAction::ClientAdded,
        target: "CMP credential".into(),
        outcome: Outcome::Success,
        detail: String::new(),
    }
}

#[test]
fn credentials_and_transactions_on_both_backends() {
    for (label, url, _cleanup) in databases("cmp") {
        let store = DieselStore::open(&url).unwrap();
        let account = store.create_account(settings()).unwrap().id;
        let audits = store.audit_entries().unwrap().len();
        let credential = CmpCredential {
            reference: "AB23-CD45".into(),
            account,
            sealed_secret: vec![1, 2, 3, 4],
            created: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            revoked: None,
            last_used: None,
        };
        store.create_cmp_credential(&credential, audit()).unwrap();
        assert_eq!(store.audit_entries().unwrap().len(), audits + 1, "{label}");
        assert_eq!(
            store.create_cmp_credential(&credential, audit()),
            Err(StoreError::Conflict),
            "{label}: references are unique"
        );
        assert_eq!(
            store.cmp_credential("AB23-CD45").unwrap().as_ref(),
            Some(&credential),
            "{label}"
        );
        assert_eq!(store.cmp_credential("nope").unwrap(), None, "{label}");

        let mut transaction = CmpTransaction {
            id: vec![9; 16],
            sender: "cmp-ref-AB23-CD45".into(),
            nonce: vec![1; 16],
            serial: None,
            request: None,
            state: TransactionState::Open,
            started: UNIX_EPOCH + Duration::from_secs(1_800_000_001),
        };
        store.start_cmp_transaction(&transaction).unwrap();
        assert_eq!(
            store.start_cmp_transaction(&transaction),
            Err(StoreError::Conflict),
            "{label}: a transactionID is used once"
        );
        transaction.serial = Some("0A1B".into());
        transaction.state = TransactionState::Pending;
        transaction.request = Some(topca_core::ra::RequestId(42));
        transaction.nonce = vec![2; 16];
        store.update_cmp_transaction(&transaction).unwrap();
        assert_eq!(
            store.cmp_transaction(&[9; 16]).unwrap().as_ref(),
            Some(&transaction),
            "{label}"
        );
        assert_eq!(store.cmp_transaction(&[8; 16]).unwrap(), None, "{label}");
        let unknown = CmpTransaction {
            id: vec![7; 16],
            ..transaction.clone()
        };
        assert_eq!(
            store.update_cmp_transaction(&unknown),
            Err(StoreError::NotFound),
            "{label}"
        );
    }
}

#[test]
fn credentials_are_listed_revoked_once_and_used_on_both_backends() {
    for (label, url, _cleanup) in databases("cmp_revoke") {
        let store = DieselStore::open(&url).unwrap();
        let account = store.create_account(settings()).unwrap().id;
        for n in 0..3u64 {
            let credential = CmpCredential {
                reference: format!("REF-{n}"),
                account,
                sealed_secret: vec![1, 2, 3],
                created: UNIX_EPOCH + Duration::from_secs(1_800_000_000 + n),
                revoked: None,
                last_used: None,
            };
            store.create_cmp_credential(&credential, audit()).unwrap();
        }
        let (first, total) = store.cmp_credentials(0, 2).unwrap();
        assert_eq!(total, 3, "{label}");
        let names: Vec<_> = first.iter().map(|c| c.reference.as_str()).collect();
        assert_eq!(names, ["REF-2", "REF-1"], "{label}: newest first");
        let (rest, _) = store.cmp_credentials(2, 2).unwrap();
        assert_eq!(rest.len(), 1, "{label}");

        let at = UNIX_EPOCH + Duration::from_secs(1_800_000_100);
        let audits = store.audit_entries().unwrap().len();
        let revoked = store.revoke_cmp_credential("REF-1", at, audit()).unwrap();
        assert_eq!(revoked.revoked, Some(at), "{label}");
        assert_eq!(store.audit_entries().unwrap().len(), audits + 1, "{label}");
        assert_eq!(
            store.revoke_cmp_credential("REF-1", at, audit()),
            Err(StoreError::Conflict),
            "{label}: revoked once"
        );
        assert_eq!(
            store.revoke_cmp_credential("NOPE", at, audit()),
            Err(StoreError::NotFound),
            "{label}"
        );
        assert_eq!(store.audit_entries().unwrap().len(), audits + 1, "{label}");
        assert_eq!(
            store.cmp_credential("REF-1").unwrap().unwrap().revoked,
            Some(at),
            "{label}"
        );

        store.cmp_credential_used("REF-0", at).unwrap();
        assert_eq!(
            store.cmp_credential("REF-0").unwrap().unwrap().last_used,
            Some(at),
            "{label}"
        );
    }
}

#[test]
fn old_transactions_are_pruned_on_both_backends() {
    for (label, url, _cleanup) in databases("cmp_prune") {
        let store = DieselStore::open(&url).unwrap();
        for n in 0..4u8 {
            let transaction = CmpTransaction {
                id: vec![n; 16],
                sender: "cmp-ref-X".into(),
                nonce: vec![1; 16],
                serial: None,
                request: None,
                state: if n == 0 {
                    TransactionState::Pending
                } else {
                    TransactionState::Closed
                },
                started: UNIX_EPOCH + Duration::from_secs(1_800_000_000 + u64::from(n) * 100),
            };
            store.start_cmp_transaction(&transaction).unwrap();
        }
        let cut = UNIX_EPOCH + Duration::from_secs(1_800_000_150);
        assert_eq!(store.prune_cmp_transactions(cut).unwrap(), 1, "{label}");
        assert!(
            store.cmp_transaction(&[0; 16]).unwrap().is_some(),
            "{label}: one waiting for approval is kept"
        );
        assert_eq!(store.cmp_transaction(&[1; 16]).unwrap(), None, "{label}");
        assert!(
            store.cmp_transaction(&[2; 16]).unwrap().is_some(),
            "{label}"
        );
        assert_eq!(store.prune_cmp_transactions(cut).unwrap(), 0, "{label}");
    }
}
