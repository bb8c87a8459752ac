//! ACME storage on SQLite and PostgreSQL: nonces spent once and never after
//! they expire, accounts unique by key thumbprint, orders stored whole with
//! their authorizations and challenges, and status changes made only from the
//! status the caller saw.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::time::{Duration, SystemTime};

use common::databases;
use topca_core::{
    ProfileKind, StoreError,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    store::{
        AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder, AcmeOrderLimit, AcmeStatus,
        AcmeStore, AuditStore,
    },
};
use topca_store::DieselStore;

fn account(id: &str, thumbprint: &str) -> AcmeAccount {
    AcmeAccount {
        id: id.into(),
        profile: String::new(),
        thumbprint: thumbprint.into(),
        jwk: format!("{{\"k\":\"{thumbprint}\"}}"),
        contact: vec!["mailto:ops@example.com".into()],
        status: AcmeStatus::Valid,
        created: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    }
}

fn audit(action: AuditAction, account: &str) -> AuditRecord {
    AuditRecord {
        at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        actor: Actor::Client("acme".into()),
        action,
        target: format!("ACME account {account}"),
        outcome: Outcome::Success,
        detail: "ACME profile acme".into(),
    }
}

fn order(id: &str, account: &str, names: &[&str]) -> (AcmeOrder, Vec<AcmeAuthorization>) {
    let expires = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let authorizations: Vec<AcmeAuthorization> = names
        .iter()
        .enumerate()
        .map(|(i, name)| AcmeAuthorization {
            id: format!("{id}-a{i}"),
            order: id.into(),
            identifier: (*name).into(),
            status: AcmeStatus::Pending,
            expires,
            challenges: vec![AcmeChallenge {
                id: format!("{id}-c{i}"),
                authorization: format!("{id}-a{i}"),
                kind: "http-01".into(),
                token: format!("token{i}"),
                status: AcmeStatus::Pending,
                validated: None,
                error: None,
            }],
        })
        .collect();
    let order = AcmeOrder {
        id: id.into(),
        account: account.into(),
        identifiers: names.iter().map(|n| (*n).into()).collect(),
        profile: Some(ProfileKind::ShortLivedTlsServer),
        status: AcmeStatus::Pending,
        expires,
        error: None,
        certificate: None,
        authorizations: authorizations.iter().map(|a| a.id.clone()).collect(),
    };
    (order, authorizations)
}

#[test]
fn acme_objects_are_kept_and_changed_once_on_both_backends() {
    for (label, url, _cleanup) in databases("acme") {
        let store = DieselStore::open(&url).unwrap();
        let now = SystemTime::now();

        store
            .put_acme_nonce("n1", now + Duration::from_secs(60))
            .unwrap();
        store
            .put_acme_nonce("old", now - Duration::from_secs(1))
            .unwrap();
        assert!(store.take_acme_nonce("n1", now).unwrap(), "{label}");
        assert!(
            !store.take_acme_nonce("n1", now).unwrap(),
            "{label}: spent once"
        );
        assert!(
            !store.take_acme_nonce("old", now).unwrap(),
            "{label}: expired"
        );
        assert!(!store.take_acme_nonce("never", now).unwrap(), "{label}");

        let a = account("acct1", "thumb1");
        store
            .create_acme_account(&a, audit(AuditAction::AcmeAccountCreated, "acct1"))
            .unwrap();
        assert_eq!(
            store.create_acme_account(
                &account("acct2", "thumb1"),
                audit(AuditAction::AcmeAccountCreated, "acct2")
            ),
            Err(StoreError::Conflict),
            "{label}: one account per key"
        );
        let logged = store.audit_entries().unwrap();
        assert_eq!(
            logged.len(),
            1,
            "{label}: the refused account is not logged"
        );
        assert_eq!(logged[0].record.action, AuditAction::AcmeAccountCreated);
        assert_eq!(store.acme_account("acct1").unwrap().as_ref(), Some(&a));
        assert_eq!(
            store.acme_account_by_thumbprint("thumb1").unwrap().as_ref(),
            Some(&a)
        );
        store
            .create_acme_account(
                &account("acct2", "thumb2"),
                audit(AuditAction::AcmeAccountCreated, "acct2"),
            )
            .unwrap();
        let rolled = AcmeAccount {
            thumbprint: "thumb2".into(),
            ..a.clone()
        };
        assert_eq!(
            store.update_acme_account(
                &rolled,
                Some(audit(AuditAction::AcmeAccountKeyChanged, "acct1"))
            ),
            Err(StoreError::Conflict),
            "{label}: a key another account holds"
        );
        let deactivated = AcmeAccount {
            thumbprint: "thumb3".into(),
            status: AcmeStatus::Deactivated,
            contact: Vec::new(),
            ..a.clone()
        };
        assert_eq!(store.audit_entries().unwrap().len(), 2, "{label}");
        store
            .update_acme_account(
                &deactivated,
                Some(audit(AuditAction::AcmeAccountDeactivated, "acct1")),
            )
            .unwrap();
        let logged = store.audit_entries().unwrap();
        assert_eq!(logged.len(), 3, "{label}");
        assert_eq!(logged[2].record.action, AuditAction::AcmeAccountDeactivated);
        assert_eq!(store.acme_account("acct1").unwrap(), Some(deactivated));
        assert_eq!(
            store.update_acme_account(&account("nobody", "thumb9"), None),
            Err(StoreError::NotFound)
        );

        let (o, authorizations) = order("o1", "acct1", &["a.example.com", "b.example.com"]);
        store.create_acme_order(&o, &authorizations).unwrap();
        assert_eq!(
            store.acme_order("o1").unwrap().as_ref(),
            Some(&o),
            "{label}"
        );
        assert_eq!(store.acme_orders_of("acct1", 10).unwrap(), ["o1"]);
        assert!(store.acme_orders_of("acct2", 10).unwrap().is_empty());
        assert_eq!(
            store.acme_authorization("o1-a1").unwrap().as_ref(),
            Some(&authorizations[1])
        );
        assert_eq!(
            store.acme_challenge("o1-c0").unwrap().as_ref(),
            Some(&authorizations[0].challenges[0])
        );
        // The same identifiers again: nothing of the second order is kept.
        let (dup, dup_authorizations) = order("o2", "acct1", &["a.example.com"]);
        let clash = AcmeAuthorization {
            id: "o1-a0".into(),
            ..dup_authorizations[0].clone()
        };
        assert!(store.create_acme_order(&dup, &[clash]).is_err());
        assert_eq!(
            store.acme_order("o2").unwrap(),
            None,
            "{label}: all or none"
        );

        let valid = AcmeChallenge {
            status: AcmeStatus::Valid,
            validated: Some(now),
            ..authorizations[0].challenges[0].clone()
        };
        assert!(
            store
                .update_acme_challenge(&valid, AcmeStatus::Pending, AcmeStatus::Valid)
                .unwrap()
        );
        assert!(
            !store
                .update_acme_challenge(&valid, AcmeStatus::Pending, AcmeStatus::Valid)
                .unwrap(),
            "{label}: changed once"
        );
        assert_eq!(
            store.acme_authorization("o1-a0").unwrap().unwrap().status,
            AcmeStatus::Valid
        );
        let ready = AcmeOrder {
            status: AcmeStatus::Ready,
            ..o.clone()
        };
        assert!(
            store
                .update_acme_order(&ready, AcmeStatus::Pending)
                .unwrap()
        );
        assert!(
            !store
                .update_acme_order(&ready, AcmeStatus::Pending)
                .unwrap()
        );
        let issued = AcmeOrder {
            status: AcmeStatus::Valid,
            certificate: Some("0A1B".into()),
            ..o.clone()
        };
        assert!(store.update_acme_order(&issued, AcmeStatus::Ready).unwrap());
        assert_eq!(
            store.acme_order_by_certificate("0A1B").unwrap(),
            Some(issued)
        );
        store
            .set_acme_authorization_status("o1-a1", AcmeStatus::Deactivated)
            .unwrap();
        assert_eq!(
            store.acme_authorization("o1-a1").unwrap().unwrap().status,
            AcmeStatus::Deactivated
        );
        assert_eq!(
            store.set_acme_authorization_status("none", AcmeStatus::Deactivated),
            Err(StoreError::NotFound)
        );
    }
}

#[test]
fn new_order_counts_are_shared_by_every_store_handle_and_a_refused_order_counts_nothing() {
    for (label, url, _cleanup) in databases("acme_limits") {
        // Two handles on one database: two nodes.
        let first = DieselStore::open(&url).unwrap();
        let second = DieselStore::open(&url).unwrap();
        let limits = |account: &str, names: &[&str]| -> Vec<AcmeOrderLimit> {
            let mut all = vec![AcmeOrderLimit {
                key: format!("account:{account}"),
                limit: 3,
            }];
            all.extend(names.iter().map(|n| AcmeOrderLimit {
                key: format!("identifier:{n}"),
                limit: 2,
            }));
            all
        };
        let window = 480_000;
        assert_eq!(
            first
                .count_acme_order(&limits("a", &["x.cn"]), window)
                .unwrap(),
            None
        );
        assert_eq!(
            second
                .count_acme_order(&limits("a", &["x.cn"]), window)
                .unwrap(),
            None
        );
        // x.cn has had its 2 on both nodes together: refused, and the account's
        // count is not raised by the refused order.
        assert_eq!(
            first
                .count_acme_order(&limits("b", &["y.cn", "x.cn"]), window)
                .unwrap(),
            Some(2),
            "{label}"
        );
        assert_eq!(
            second
                .count_acme_order(&limits("a", &["y.cn"]), window)
                .unwrap(),
            None
        );
        assert_eq!(
            first
                .count_acme_order(&limits("a", &["z.cn"]), window)
                .unwrap(),
            Some(0),
            "{label}: the account's 3"
        );
        // y.cn was counted once (by the accepted order only).
        assert_eq!(
            second
                .count_acme_order(&limits("b", &["y.cn"]), window)
                .unwrap(),
            None
        );
        assert_eq!(
            second
                .count_acme_order(&limits("c", &["y.cn"]), window)
                .unwrap(),
            Some(1)
        );
        // The next window starts afresh, and the old counts are dropped.
        assert_eq!(
            first
                .count_acme_order(&limits("a", &["x.cn"]), window + 1)
                .unwrap(),
            None
        );

        // 50 orders at once from 10 threads over both handles: exactly the
        // limit gets through.
        let stores = [std::sync::Arc::new(first), std::sync::Arc::new(second)];
        let accepted = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for t in 0..10 {
                let store = std::sync::Arc::clone(&stores[t % 2]);
                let accepted = &accepted;
                scope.spawn(move || {
                    for _ in 0..5 {
                        let limit = vec![AcmeOrderLimit {
                            key: "identifier:busy.cn".into(),
                            limit: 20,
                        }];
                        loop {
                            match store.count_acme_order(&limit, window + 1) {
                                Ok(None) => {
                                    accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                    break;
                                }
                                Ok(Some(_)) => break,
                                // SQLite's busy writers: try again.
                                Err(StoreError::Backend(_)) => {}
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                });
            }
        });
        assert_eq!(accepted.into_inner(), 20, "{label}");
    }
}
