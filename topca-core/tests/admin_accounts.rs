//! Administrators managed by a super administrator (create, roles, unlock, bound
//! log-in certificate) and certificate log-in: only a valid, unrevoked
//! certificate of this CA that is bound to an administrator opens a session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use common::cas;
use topca_core::{
    Error, KeyAlgorithm, OsRandom, RaError, SystemClock,
    audit::{Actor, AuditAction, Outcome},
    lifecycle::{CertificateType, RevocationReason, VerificationMode},
    mail::RecordingMailer,
    memory::MemoryStore,
    ra::{
        AccountSettings, AdminRole, Administrator, Holder, Language, RaPolicy,
        RegistrationAuthority,
        admin::{
            AdminChange, MAX_LOGIN_FAILURES, add_admin, change_admin, create_admin, list_admins,
            login, login_with_certificate,
        },
        session,
    },
    store::AuditStore,
};

fn as_admin(name: &str, roles: Vec<AdminRole>) -> Administrator {
    Administrator {
        name: name.into(),
        roles,
    }
}

fn refused(result: Result<Administrator, Error>) -> String {
    match result {
        Err(Error::Ra(RaError::CertificateLoginRefused(why))) => why.to_owned(),
        other => panic!("expected a refused certificate log-in, got {other:?}"),
    }
}

#[test]
fn super_administrators_manage_administrators() {
    let (_, _, ca) = cas()
        .iter()
        .find(|(a, ..)| *a == KeyAlgorithm::EcdsaP256)
        .unwrap();
    let store = MemoryStore::new();
    create_admin(
        &store,
        "root",
        "root-password-1",
        vec![AdminRole::SuperAdmin],
        &OsRandom,
        &SystemClock,
    )
    .unwrap();
    let root = as_admin("root", vec![AdminRole::SuperAdmin]);
    let ops = root.super_ops().unwrap();
    assert!(
        as_admin("ra", vec![AdminRole::RaAdmin])
            .super_ops()
            .is_err()
    );

    add_admin(
        &store,
        &ops,
        "王管理员",
        "wang-password-1",
        vec![AdminRole::RaAdmin, AdminRole::KmcAdmin],
        &OsRandom,
        &SystemClock,
    )
    .unwrap();
    let names: Vec<String> = list_admins(&store, &ops)
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["root", "王管理员"]);

    // Roles change; nobody may drop their own super role; unknown names are refused.
    let changed = change_admin(
        &store,
        &ops,
        ca,
        "王管理员",
        AdminChange::Roles(vec![AdminRole::KmcAdmin]),
    )
    .unwrap();
    assert_eq!(changed.roles, [AdminRole::KmcAdmin]);
    assert!(matches!(
        change_admin(
            &store,
            &ops,
            ca,
            "root",
            AdminChange::Roles(vec![AdminRole::RaAdmin])
        ),
        Err(Error::Ra(RaError::OwnSuperRole))
    ));
    assert!(matches!(
        change_admin(&store, &ops, ca, "nobody", AdminChange::Unlock),
        Err(Error::Ra(RaError::UnknownAdmin))
    ));
    assert!(matches!(
        change_admin(&store, &ops, ca, "王管理员", AdminChange::Roles(vec![])),
        Err(Error::Ra(RaError::InvalidField { .. }))
    ));

    // Locked out after repeated failures, unlocked by the super administrator.
    for _ in 0..MAX_LOGIN_FAILURES {
        let _ = login(&store, &SystemClock, "王管理员", "wrong");
    }
    assert!(matches!(
        login(&store, &SystemClock, "王管理员", "wang-password-1"),
        Err(Error::Ra(RaError::WrongLogin))
    ));
    change_admin(&store, &ops, ca, "王管理员", AdminChange::Unlock).unwrap();
    let wang = login(&store, &SystemClock, "王管理员", "wang-password-1").unwrap();
    assert_eq!(wang.roles, [AdminRole::KmcAdmin]);

    // Every change is audited under the acting super administrator.
    let entries = store.audit_entries().unwrap();
    let by_root: Vec<_> = entries
        .iter()
        .filter(|e| e.record.actor == Actor::Admin("root".into()))
        .map(|e| e.record.action)
        .collect();
    assert!(by_root.contains(&AuditAction::AdminCreated), "{by_root:?}");
    assert_eq!(
        by_root
            .iter()
            .filter(|a| **a == AuditAction::AdminUpdated)
            .count(),
        2,
        "{by_root:?}"
    );
}

#[test]
fn certificate_log_in_needs_a_bound_valid_unrevoked_certificate_of_this_ca() {
    let all = cas();
    let (_, _, ca) = all
        .iter()
        .find(|(a, ..)| *a == KeyAlgorithm::EcdsaP256)
        .unwrap();
    let (_, _, other_ca) = all
        .iter()
        .find(|(a, ..)| *a == KeyAlgorithm::Rsa2048)
        .unwrap();
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, ca, RaPolicy::default());
    let ra_ops = as_admin("ra", vec![AdminRole::RaAdmin]).ra_ops().unwrap();
    let account = ra
        .create_account(
            &ra_ops,
            AccountSettings {
                organization: "天诚安信".into(),
                unit: "管理部".into(),
                certificate_type: CertificateType::Single,
                verification: VerificationMode::Manual,
                algorithm: KeyAlgorithm::EcdsaP256,
                validity_days: 365,
                service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
                language: Language::Chinese,
            },
        )
        .unwrap();
    let issue = |name: &str, email: &str| {
        ra.issue_centrally(
            &ra_ops,
            account.id,
            Holder {
                name: name.into(),
                email: email.into(),
                phone: None,
                state: None,
                locality: None,
            },
            "holder-password-1",
        )
        .unwrap()
        .certificate
    };
    let bound = issue("李管理员", "li@example.cn");
    let unbound = issue("张三", "zhangsan@example.cn");
    create_admin(
        &store,
        "root",
        "root-password-1",
        vec![AdminRole::SuperAdmin],
        &OsRandom,
        &SystemClock,
    )
    .unwrap();
    create_admin(
        &store,
        "li",
        "li-password-1",
        vec![AdminRole::RaAdmin],
        &OsRandom,
        &SystemClock,
    )
    .unwrap();
    let ops = as_admin("root", vec![AdminRole::SuperAdmin])
        .super_ops()
        .unwrap();

    // A certificate of another CA cannot even be bound.
    let foreign = other_ca.certificate().clone();
    assert!(matches!(
        change_admin(
            &store,
            &ops,
            ca,
            "li",
            AdminChange::BindCertificate(Box::new(foreign.clone()))
        ),
        Err(Error::Ra(RaError::CertificateLoginRefused(_)))
    ));
    change_admin(
        &store,
        &ops,
        ca,
        "li",
        AdminChange::BindCertificate(Box::new(bound.clone())),
    )
    .unwrap();

    let admin = login_with_certificate(&store, ca, bound.der()).unwrap();
    assert_eq!(admin.name, "li");
    assert_eq!(admin.roles, [AdminRole::RaAdmin]);

    assert_eq!(
        refused(login_with_certificate(&store, ca, unbound.der())),
        "it is not bound to an administrator"
    );
    assert_eq!(
        refused(login_with_certificate(&store, ca, foreign.der())),
        "it was not issued by this CA"
    );
    assert_eq!(
        refused(login_with_certificate(&store, ca, b"not a certificate")),
        "it is not a certificate"
    );

    // Revoked: refused, though still bound.
    ra.revoke_by_admin(
        &ra_ops,
        &bound.serial_hex(),
        RevocationReason::KeyCompromise,
    )
    .unwrap();
    assert_eq!(
        refused(login_with_certificate(&store, ca, bound.der())),
        "it is revoked"
    );

    // Unbinding ends certificate log-in.
    change_admin(
        &store,
        &ops,
        ca,
        "li",
        AdminChange::BindCertificate(Box::new(unbound.clone())),
    )
    .unwrap();
    assert_eq!(
        login_with_certificate(&store, ca, unbound.der())
            .unwrap()
            .name,
        "li"
    );
    change_admin(&store, &ops, ca, "li", AdminChange::UnbindCertificate).unwrap();
    assert_eq!(
        refused(login_with_certificate(&store, ca, unbound.der())),
        "it is not bound to an administrator"
    );

    // Each attempt is in the audit log.
    let logins: Vec<_> = store
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == AuditAction::AdminLogin)
        .map(|e| e.record.outcome)
        .collect();
    assert_eq!(
        logins.iter().filter(|o| **o == Outcome::Success).count(),
        2,
        "{logins:?}"
    );
    assert_eq!(
        logins.iter().filter(|o| **o == Outcome::Failure).count(),
        5,
        "{logins:?}"
    );
}

#[test]
fn new_roles_end_the_administrators_sessions() {
    let (_, _, ca) = cas()
        .iter()
        .find(|(a, ..)| *a == KeyAlgorithm::EcdsaP256)
        .unwrap();
    let store = MemoryStore::new();
    for (name, roles) in [
        ("root", vec![AdminRole::SuperAdmin]),
        ("clerk", vec![AdminRole::RaAdmin, AdminRole::KmcAdmin]),
    ] {
        create_admin(
            &store,
            name,
            "a long password",
            roles,
            &OsRandom,
            &SystemClock,
        )
        .unwrap();
    }
    let clerk = login(&store, &SystemClock, "clerk", "a long password").unwrap();
    let token = session::open(&store, &SystemClock, &OsRandom, &clerk).unwrap();
    let other = login(&store, &SystemClock, "root", "a long password").unwrap();
    let kept = session::open(&store, &SystemClock, &OsRandom, &other).unwrap();
    let ops = other.super_ops().unwrap();
    change_admin(
        &store,
        &ops,
        ca,
        "clerk",
        AdminChange::Roles(vec![AdminRole::KmcAdmin]),
    )
    .unwrap();
    assert!(matches!(
        session::resume(&store, &SystemClock, &token),
        Err(Error::Ra(RaError::NoSession))
    ));
    assert!(session::resume(&store, &SystemClock, &kept).is_ok());
}

#[test]
fn the_fifth_wrong_password_locks_and_ends_the_sessions() {
    let store = MemoryStore::new();
    create_admin(
        &store,
        "clerk",
        "a long password",
        vec![AdminRole::RaAdmin],
        &OsRandom,
        &SystemClock,
    )
    .unwrap();
    let clerk = login(&store, &SystemClock, "clerk", "a long password").unwrap();
    let token = session::open(&store, &SystemClock, &OsRandom, &clerk).unwrap();
    for _ in 0..MAX_LOGIN_FAILURES {
        assert!(matches!(
            login(&store, &SystemClock, "clerk", "wrong password"),
            Err(Error::Ra(RaError::WrongLogin))
        ));
    }
    assert!(session::resume(&store, &SystemClock, &token).is_err());
    // Locked: even the right password is refused, with the same answer.
    assert!(matches!(
        login(&store, &SystemClock, "clerk", "a long password"),
        Err(Error::Ra(RaError::WrongLogin))
    ));
}
