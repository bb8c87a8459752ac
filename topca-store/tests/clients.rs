//! Machine clients on SQLite and PostgreSQL: stored with their audit entry,
//! found by token hash, name and number, paged, revoked once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::time::SystemTime;

use common::{databases, settings};
use topca_core::{
    StoreError,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    client::{ClientId, NewClient},
    profile::ProfileKind,
    store::{AccountStore, AuditStore, ClientStore},
};
use topca_store::DieselStore;

fn audit(action: AuditAction) -> AuditRecord {
    AuditRecord {
        at: SystemTime::now(),
        actor: Actor::Admin("ra".into()),
        action,
        target: "client".into(),
        outcome: Outcome::Success,
        detail: String::new(),
    }
}

#[test]
fn clients_are_stored_found_and_revoked_once_on_both_backends() {
    for (label, url, _cleanup) in databases("clients") {
        let store = DieselStore::open(&url).unwrap();
        let account = store.create_account(settings()).unwrap().id;
        let new = |name: &str, hash: u8| NewClient {
            name: name.into(),
            account,
            profiles: vec![ProfileKind::TlsServer, ProfileKind::TlsClient],
            allowed_names: vec!["example.com".into(), "example.org".into()],
            validity_days: 90,
            token_hash: [hash; 32],
            created: SystemTime::now(),
        };
        let a = store
            .create_client(new("a", 1), audit(AuditAction::ClientAdded))
            .unwrap();
        assert_eq!(
            a.profiles,
            [ProfileKind::TlsServer, ProfileKind::TlsClient],
            "{label}"
        );
        assert_eq!(a.allowed_names, ["example.com", "example.org"], "{label}");
        assert_eq!(
            store.create_client(new("a", 2), audit(AuditAction::ClientAdded)),
            Err(StoreError::Conflict),
            "{label}: names are unique"
        );
        assert_eq!(
            store.create_client(new("b", 1), audit(AuditAction::ClientAdded)),
            Err(StoreError::Conflict),
            "{label}: token hashes are unique"
        );
        store
            .create_client(new("b", 2), audit(AuditAction::ClientAdded))
            .unwrap();
        assert_eq!(store.client_by_token(&[1; 32]).unwrap().as_ref(), Some(&a));
        assert_eq!(store.client_by_token(&[9; 32]).unwrap(), None);
        assert_eq!(store.client_by_name("a").unwrap().as_ref(), Some(&a));
        assert_eq!(store.client(a.id).unwrap().as_ref(), Some(&a));
        assert_eq!(store.client(ClientId(u64::MAX)).unwrap(), None);
        assert_eq!(store.count_clients().unwrap(), 2);
        assert_eq!(store.clients(1, 10).unwrap()[0].name, "b");
        let revoked = store
            .revoke_client(a.id, SystemTime::now(), audit(AuditAction::ClientRevoked))
            .unwrap();
        assert!(revoked.revoked.is_some(), "{label}");
        assert_eq!(
            store.revoke_client(a.id, SystemTime::now(), audit(AuditAction::ClientRevoked)),
            Err(StoreError::Conflict)
        );
        assert_eq!(
            store.revoke_client(
                ClientId(999),
                SystemTime::now(),
                audit(AuditAction::ClientRevoked)
            ),
            Err(StoreError::NotFound)
        );
        let actions: Vec<AuditAction> = store
            .audit_entries()
            .unwrap()
            .iter()
            .map(|e| e.record.action)
            .filter(|a| matches!(a, AuditAction::ClientAdded | AuditAction::ClientRevoked))
            .collect();
        assert_eq!(
            actions,
            [
                AuditAction::ClientAdded,
                AuditAction::ClientAdded,
                AuditAction::ClientRevoked
            ],
            "{label}: refused changes leave no entry"
        );
    }
}
