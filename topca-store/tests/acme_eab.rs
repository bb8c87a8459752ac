//! ACME external account binding keys on SQLite and PostgreSQL: stored with
//! their audit entry, found by identifier and profile, and used by one
//! account only (the account and the key's use in one transaction).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::time::{Duration, SystemTime};

use common::databases;
use topca_core::{
    StoreError,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    store::{AcmeAccount, AcmeEabKey, AcmeEabStore, AcmeStatus, AcmeStore},
};
use topca_store::DieselStore;

fn account(id: &str, thumbprint: &str) -> AcmeAccount {
    AcmeAccount {
        id: id.into(),
        profile: "web".into(),
        thumbprint: thumbprint.into(),
        jwk: "{}".into(),
        contact: Vec::new(),
        status: AcmeStatus::Valid,
        created: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    }
}

fn audit(target: &str) -> AuditRecord {
    AuditRecord {
        at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        actor: Actor::Admin("ra".into()),
        action: AuditAction::ClientAdded,
        target: target.into(),
        outcome: Outcome::Success,
        detail: String::new(),
    }
}

#[test]
fn an_eab_key_binds_one_account_on_both_backends() {
    for (label, url, _cleanup) in databases("acme_eab") {
        let store = DieselStore::open(&url).unwrap();
        let key = AcmeEabKey {
            id: "kid1".into(),
            profile: "web".into(),
            sealed_key: vec![1, 2, 3],
            created: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            account: None,
            revoked: None,
        };
        assert!(!store.acme_profile_has_eab_keys("web").unwrap(), "{label}");
        store.create_acme_eab_key(&key, audit("kid1")).unwrap();
        assert_eq!(
            store.create_acme_eab_key(&key, audit("kid1")),
            Err(StoreError::Conflict),
            "{label}"
        );
        assert!(store.acme_profile_has_eab_keys("web").unwrap(), "{label}");
        assert!(!store.acme_profile_has_eab_keys("").unwrap(), "{label}");
        assert_eq!(store.acme_eab_key("kid1").unwrap(), Some(key.clone()));
        assert_eq!(store.acme_eab_key("nokey").unwrap(), None, "{label}");

        assert!(
            !store
                .create_acme_account_bound(&account("a0", "t0"), "nokey", audit("a0"))
                .unwrap(),
            "{label}: an unknown key binds nothing"
        );
        assert!(store.acme_account("a0").unwrap().is_none(), "{label}");
        // A taken account key: nothing stored, the EAB key not spent.
        store
            .create_acme_account(&account("a1", "t1"), audit("a1"))
            .unwrap();
        assert_eq!(
            store.create_acme_account_bound(&account("a2", "t1"), "kid1", audit("a2")),
            Err(StoreError::Conflict),
            "{label}"
        );
        assert_eq!(store.acme_eab_key("kid1").unwrap().unwrap().account, None);

        assert!(
            store
                .create_acme_account_bound(&account("a3", "t3"), "kid1", audit("a3"))
                .unwrap(),
            "{label}"
        );
        assert_eq!(
            store.acme_eab_key("kid1").unwrap().unwrap().account,
            Some("a3".into()),
            "{label}"
        );
        assert!(
            !store
                .create_acme_account_bound(&account("a4", "t4"), "kid1", audit("a4"))
                .unwrap(),
            "{label}: a used key binds no second account"
        );
        assert!(store.acme_account("a4").unwrap().is_none(), "{label}");

        // A second key, revoked unused: it binds nothing.
        let spare = AcmeEabKey {
            id: "kid2".into(),
            created: key.created + Duration::from_secs(1),
            ..key.clone()
        };
        store.create_acme_eab_key(&spare, audit("kid2")).unwrap();
        let (keys, total) = store.acme_eab_keys(0, 10).unwrap();
        assert_eq!(total, 2, "{label}");
        assert_eq!(keys[0].id, "kid2", "{label}: newest first");
        let at = key.created + Duration::from_secs(60);
        let revoked = store
            .revoke_acme_eab_key("kid2", at, audit("kid2"))
            .unwrap();
        assert_eq!(revoked.revoked, Some(at), "{label}");
        assert_eq!(
            store.revoke_acme_eab_key("kid2", at, audit("kid2")),
            Err(StoreError::Conflict),
            "{label}: revoked once"
        );
        assert_eq!(
            store.revoke_acme_eab_key("nokey", at, audit("nokey")),
            Err(StoreError::NotFound),
            "{label}"
        );
        assert!(
            !store
                .create_acme_account_bound(&account("a5", "t5"), "kid2", audit("a5"))
                .unwrap(),
            "{label}: a revoked key binds nothing"
        );
        assert!(store.acme_account("a5").unwrap().is_none(), "{label}");

        // The used key, revoked: its account is deactivated.
        store
            .revoke_acme_eab_key("kid1", at, audit("kid1"))
            .unwrap();
        assert_eq!(
            store.acme_account("a3").unwrap().unwrap().status,
            AcmeStatus::Deactivated,
            "{label}"
        );
    }
}
