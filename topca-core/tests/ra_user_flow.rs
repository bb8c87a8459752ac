//! The user certificate service's apply → approve → PIN mail → retrieve flow, on the
//! in-memory store with a recording mailer; issued certificates checked by OpenSSL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{
    fs,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use common::{cas, openssl_csr, openssl_verify_chain};
use topca_core::{
    CertificateAuthority, CertificateRequest, Clock, DistinguishedName, Environment, Error,
    KeyAlgorithm, OsRandom, Profile, ProfileKind, RaError, SigningKey,
    audit::{AuditAction, Outcome, verify_chain},
    lifecycle::{CertificateType, RequestState, VerificationMode},
    mail::{Mail, RecordingMailer},
    memory::MemoryStore,
    ra::{AccountSettings, Holder, Language, RaPolicy, RegistrationAuthority},
    store::{AuditStore, CertificateStore, RequestStore},
};

const PASSWORD: &str = "张三的口令-2026";

/// The capability of the RA administrator the tests act as.
fn ops() -> topca_core::ra::RaOps {
    topca_core::ra::Administrator {
        name: "ra-admin".into(),
        roles: vec![topca_core::ra::AdminRole::RaAdmin],
    }
    .ra_ops()
    .unwrap()
}

fn settings(verification: VerificationMode) -> AccountSettings {
    AccountSettings {
        organization: "天诚安信".into(),
        unit: "技术部".into(),
        certificate_type: CertificateType::Single,
        verification,
        algorithm: KeyAlgorithm::Sm2,
        validity_days: 365,
        service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
        language: Language::Chinese,
    }
}

fn holder() -> Holder {
    Holder {
        name: "张三".into(),
        email: "ZhangSan@Example.com".into(),
        phone: Some("010-12345678".into()),
        state: Some("北京".into()),
        locality: None,
    }
}

/// The PIN from the newest approval mail.
fn mailed_pin(mailer: &RecordingMailer) -> String {
    mailer
        .sent()
        .iter()
        .rev()
        .find_map(|e| match &e.mail {
            Mail::RequestApproved { pin, .. } => Some(pin.to_string()),
            _ => None,
        })
        .expect("an approval mail with a PIN")
}

fn csr(dir: &std::path::Path, alg: KeyAlgorithm) -> CertificateRequest {
    let path = openssl_csr(dir, alg, "user", "/CN=ignored by the RA", None);
    CertificateRequest::parse(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn apply_approve_and_retrieve_walk_end_to_end() {
    for (alg, root, sub) in cas().iter().filter(|(a, ..)| {
        matches!(
            a,
            KeyAlgorithm::Sm2 | KeyAlgorithm::Rsa2048 | KeyAlgorithm::EcdsaP256
        )
    }) {
        let store = MemoryStore::new();
        let mailer = RecordingMailer::default();
        let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
        let account = ra
            .create_account(&ops(), settings(VerificationMode::Manual))
            .unwrap();

        let request = ra.apply(account.id, holder(), PASSWORD).unwrap();
        assert_eq!(request.state, RequestState::Submitted);
        assert_eq!(request.holder.email, "ZhangSan@example.com");
        assert!(
            !request
                .password
                .as_ref()
                .unwrap()
                .as_phc()
                .contains(PASSWORD)
        );
        let sent = mailer.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "ZhangSan@example.com");
        assert!(
            matches!(&sent[0].mail, Mail::RegistrationConfirmation { request: r, .. } if *r == request.reference)
        );

        // Not approved yet: retrieval is refused and says why.
        let dir = tempfile::tempdir().unwrap();
        let user_csr = csr(dir.path(), *alg);
        let early = ra
            .retrieve(
                &format!("{}-AAAA-BBBB-CCCC", request.reference),
                PASSWORD,
                &user_csr,
            )
            .unwrap_err();
        assert!(
            matches!(
                early,
                Error::Ra(RaError::WrongState("waiting for approval"))
            ),
            "{early:?}"
        );

        ra.approve(&ops(), request.id).unwrap();
        let pin = mailed_pin(&mailer);
        assert!(pin.starts_with(&format!("{}-", request.reference)));
        assert!(
            !format!("{:?}", mailer.sent()).contains(&pin),
            "a PIN must never appear in debug output"
        );

        let certificate = ra.retrieve(&pin, PASSWORD, &user_csr).unwrap().certificate;
        let subject = certificate.subject();
        assert_eq!(subject.organization.as_deref(), Some("天诚安信"));
        assert_eq!(subject.organizational_units, ["技术部"]);
        assert_eq!(subject.common_name.as_deref(), Some("张三"));
        assert_eq!(subject.state.as_deref(), Some("北京"));
        assert_eq!(&certificate.public_key().unwrap(), user_csr.public_key());
        openssl_verify_chain(
            dir.path(),
            &[&certificate, sub.certificate(), root.certificate()],
            Some("smimesign"),
        );

        // Stored, findable by e-mail, and the request is closed: the PIN was single use.
        let stored = store.certificates_by_email("zhangsan@example.com").unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].serial, certificate.serial_hex());
        assert_eq!(stored[0].der, certificate.der());
        let request = store.request(request.id).unwrap().unwrap();
        assert_eq!(request.state, RequestState::Issued);
        assert_eq!(
            request.issued_serial.as_deref(),
            Some(certificate.serial_hex().as_str())
        );
        let again = ra.retrieve(&pin, PASSWORD, &user_csr).unwrap_err();
        assert!(
            matches!(again, Error::Ra(RaError::WrongState("already issued"))),
            "{again:?}"
        );

        // Every step is in a verifiable audit chain.
        let entries = store.audit_entries().unwrap();
        verify_chain(&entries, None, None).unwrap();
        let actions: Vec<AuditAction> = entries.iter().map(|e| e.record.action).collect();
        assert_eq!(
            actions,
            [
                AuditAction::AccountCreated,
                AuditAction::RequestSubmitted,
                AuditAction::RequestApproved,
                AuditAction::CertificateIssued
            ]
        );
    }
}

#[test]
fn automatic_accounts_mail_the_pin_at_once() {
    let (_, _, sub) = &cas()[3];
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
    let account = ra
        .create_account(&ops(), settings(VerificationMode::Automatic))
        .unwrap();
    let request = ra.apply(account.id, holder(), PASSWORD).unwrap();
    assert_eq!(request.state, RequestState::Approved);
    let dir = tempfile::tempdir().unwrap();
    let cert = ra
        .retrieve(
            &mailed_pin(&mailer),
            PASSWORD,
            &csr(dir.path(), KeyAlgorithm::EcdsaP256),
        )
        .unwrap()
        .certificate;
    assert_eq!(cert.subject().common_name.as_deref(), Some("张三"));
}

#[test]
fn five_wrong_attempts_lock_the_request() {
    let (_, _, sub) = &cas()[3];
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
    let account = ra
        .create_account(&ops(), settings(VerificationMode::Automatic))
        .unwrap();
    let request = ra.apply(account.id, holder(), PASSWORD).unwrap();
    let pin = mailed_pin(&mailer);
    let dir = tempfile::tempdir().unwrap();
    let user_csr = csr(dir.path(), KeyAlgorithm::EcdsaP256);

    // A wrong password with the right PIN, and a wrong PIN with the right password, both count.
    let wrong_pin = format!("{}-2222-3333-4444", request.reference);
    let attempts: [(&str, &str); 4] = [
        (&pin, "wrong password"),
        (&wrong_pin, PASSWORD),
        (&pin, ""),
        (&wrong_pin, "x"),
    ];
    for (i, (p, pw)) in attempts.iter().enumerate() {
        let err = ra.retrieve(p, pw, &user_csr).unwrap_err();
        let left = 4 - i as u8;
        assert!(
            matches!(err, Error::Ra(RaError::WrongPinOrPassword { attempts_left }) if attempts_left == left),
            "{err:?}"
        );
    }
    let err = ra.retrieve(&pin, "still wrong", &user_csr).unwrap_err();
    assert!(matches!(err, Error::Ra(RaError::Locked)), "{err:?}");
    // Locked for this source: even the right PIN and password no longer work
    // from it (other sources, and this one after the window, are in
    // tests/holder_attempts.rs).
    let err = ra.retrieve(&pin, PASSWORD, &user_csr).unwrap_err();
    assert!(matches!(err, Error::Ra(RaError::Locked)), "{err:?}");
    assert_eq!(
        store.request(request.id).unwrap().unwrap().state,
        RequestState::Approved
    );
    assert!(
        store
            .certificates_by_email("zhangsan@example.com")
            .unwrap()
            .is_empty()
    );
    let actions: Vec<AuditAction> = store
        .audit_entries()
        .unwrap()
        .iter()
        .map(|e| e.record.action)
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == AuditAction::RetrievalFailed)
            .count(),
        4
    );
    assert_eq!(actions.last(), Some(&AuditAction::RequestLocked));
}

#[test]
fn rejection_mails_the_reason_and_blocks_retrieval() {
    let (_, _, sub) = &cas()[3];
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
    let account = ra
        .create_account(&ops(), settings(VerificationMode::Manual))
        .unwrap();
    let request = ra.apply(account.id, holder(), PASSWORD).unwrap();
    let empty = ra.reject(&ops(), request.id, "  ").unwrap_err();
    assert!(matches!(
        empty,
        Error::Ra(RaError::InvalidField {
            field: "reason",
            ..
        })
    ));
    ra.reject(&ops(), request.id, "资料不全").unwrap();
    assert!(
        matches!(&mailer.sent().last().unwrap().mail, Mail::RequestRejected { reason, .. } if reason == "资料不全")
    );
    let err = ra.approve(&ops(), request.id).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a request that is rejected cannot be approved"
    );
}

/// A clock tests can move forward.
struct MovableClock(Mutex<SystemTime>);

impl Clock for MovableClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

#[test]
fn an_expired_pin_no_longer_works() {
    let clock = Arc::new(MovableClock(Mutex::new(SystemTime::now())));
    let env = Environment::new(clock.clone(), Arc::new(OsRandom));
    let ca = CertificateAuthority::create_root(
        SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap(),
        &DistinguishedName::with_common_name("Clocked CA"),
        &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
        env,
    )
    .unwrap();
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, &ca, RaPolicy::default());
    let account = ra
        .create_account(&ops(), settings(VerificationMode::Automatic))
        .unwrap();
    let request = ra.apply(account.id, holder(), PASSWORD).unwrap();
    *clock.0.lock().unwrap() += Duration::from_secs(8 * 86_400);
    let dir = tempfile::tempdir().unwrap();
    let err = ra
        .retrieve(
            &mailed_pin(&mailer),
            PASSWORD,
            &csr(dir.path(), KeyAlgorithm::EcdsaP256),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Ra(RaError::PinExpired)), "{err:?}");
    assert_eq!(
        store.request(request.id).unwrap().unwrap().state,
        RequestState::Expired
    );
}

#[test]
fn a_failed_pin_mail_keeps_the_request_and_a_new_pin_can_be_sent() {
    let (_, _, sub) = &cas()[6];
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
    let account = ra
        .create_account(&ops(), settings(VerificationMode::Manual))
        .unwrap();
    let request = ra.apply(account.id, holder(), PASSWORD).unwrap();
    mailer.set_unreachable(true);
    let err = ra.approve(&ops(), request.id).unwrap_err();
    assert!(matches!(err, Error::Mail(_)), "{err:?}");
    assert_eq!(
        store.request(request.id).unwrap().unwrap().state,
        RequestState::Approved
    );
    mailer.set_unreachable(false);
    ra.resend_pin(&ops(), request.id).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = ra
        .retrieve(
            &mailed_pin(&mailer),
            PASSWORD,
            &csr(dir.path(), KeyAlgorithm::Sm2),
        )
        .unwrap()
        .certificate;
    assert_eq!(cert.public_key().unwrap().kind(), topca_core::KeyKind::Sm2);
}

#[test]
fn concurrent_retrievals_issue_exactly_one_certificate() {
    let (_, _, sub) = &cas()[3];
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
    let account = ra
        .create_account(&ops(), settings(VerificationMode::Automatic))
        .unwrap();
    ra.apply(account.id, holder(), PASSWORD).unwrap();
    let pin = mailed_pin(&mailer);
    let dir = tempfile::tempdir().unwrap();
    let user_csr = csr(dir.path(), KeyAlgorithm::EcdsaP256);
    let results: Vec<Result<_, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| ra.retrieve(&pin, PASSWORD, &user_csr)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        store
            .certificates_by_email("zhangsan@example.com")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let (_, _, sub) = &cas()[3];
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
    let account = ra
        .create_account(&ops(), settings(VerificationMode::Manual))
        .unwrap();
    let bad_email = Holder {
        email: "not-an-address".into(),
        ..holder()
    };
    let err = ra.apply(account.id, bad_email, PASSWORD).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ra(RaError::InvalidField {
                field: "e-mail",
                ..
            })
        ),
        "{err:?}"
    );
    let no_name = Holder {
        name: " ".into(),
        ..holder()
    };
    assert!(matches!(
        ra.apply(account.id, no_name, PASSWORD).unwrap_err(),
        Error::Ra(RaError::InvalidField { field: "name", .. })
    ));
    let err = ra.apply(account.id, holder(), "short").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the password must have at least 8 characters"
    );
    let err = ra
        .apply(topca_core::ra::AccountId(999), holder(), PASSWORD)
        .unwrap_err();
    assert!(matches!(err, Error::Ra(RaError::UnknownAccount)));
    let dir = tempfile::tempdir().unwrap();
    let user_csr = csr(dir.path(), KeyAlgorithm::EcdsaP256);
    for pin in ["", "garbage", "12345", "99999-AAAA"] {
        let err = ra.retrieve(pin, PASSWORD, &user_csr).unwrap_err();
        assert!(
            matches!(err, Error::Ra(RaError::InvalidField { field: "PIN", .. })),
            "{pin}: {err:?}"
        );
    }
    let bad_account = AccountSettings {
        service_url: "javascript:alert(1)".into(),
        ..settings(VerificationMode::Manual)
    };
    assert!(matches!(
        ra.create_account(&ops(), bad_account).unwrap_err(),
        Error::Ra(RaError::InvalidField {
            field: "service URL",
            ..
        })
    ));
}

#[test]
fn the_login_search_finds_accounts_by_chinese_or_latin_keyword() {
    let (_, _, sub) = &cas()[3];
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
    let ours = ra
        .create_account(&ops(), settings(VerificationMode::Manual))
        .unwrap();
    let other = ra
        .create_account(
            &ops(),
            AccountSettings {
                organization: "Example Corp".into(),
                unit: "Sales".into(),
                ..settings(VerificationMode::Manual)
            },
        )
        .unwrap();
    let ids = |k: &str| {
        ra.search_accounts(k)
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("安信"), [ours.id]);
    assert_eq!(ids("技术"), [ours.id]);
    assert_eq!(ids("SALES"), [other.id]);
    assert_eq!(ids("example"), [other.id]);
    assert!(ids("  ").is_empty());
    assert!(ids("不存在").is_empty());
}

#[test]
fn query_filters_and_revocation_with_the_user_password() {
    use topca_core::{
        lifecycle::RevocationReason,
        ra::{CertificateQuery, HolderQuery, StatusFilter},
        store::CertificateStatus,
    };
    let clock = Arc::new(MovableClock(Mutex::new(SystemTime::now())));
    let env = Environment::new(clock.clone(), Arc::new(OsRandom));
    let ca = CertificateAuthority::create_root(
        SigningKey::generate(KeyAlgorithm::Sm2, &OsRandom).unwrap(),
        &DistinguishedName::with_common_name("Query CA"),
        &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
        env,
    )
    .unwrap();
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, &ca, RaPolicy::default());
    let account = ra
        .create_account(&ops(), settings(VerificationMode::Automatic))
        .unwrap();
    let other = ra
        .create_account(
            &ops(),
            AccountSettings {
                unit: "销售部".into(),
                ..settings(VerificationMode::Automatic)
            },
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut serials = Vec::new();
    for _ in 0..2 {
        ra.apply(account.id, holder(), PASSWORD).unwrap();
        serials.push(
            ra.retrieve(
                &mailed_pin(&mailer),
                PASSWORD,
                &csr(dir.path(), KeyAlgorithm::Sm2),
            )
            .unwrap()
            .certificate
            .serial_hex(),
        );
    }
    let query = |holder: HolderQuery, status: Option<StatusFilter>| CertificateQuery {
        holder,
        status,
        not_after_from: None,
        not_after_until: None,
    };
    let by_email = query(HolderQuery::Email("zhangsan@EXAMPLE.com".into()), None);
    assert_eq!(ra.query(account.id, &by_email).unwrap().len(), 2);
    assert_eq!(
        ra.query(
            account.id,
            &query(HolderQuery::Name("张三".into()), Some(StatusFilter::Valid))
        )
        .unwrap()
        .len(),
        2
    );
    assert!(
        ra.query(other.id, &by_email).unwrap().is_empty(),
        "another account sees nothing"
    );

    // Revocation: the user password and a holder reason are required.
    let err = ra
        .revoke(
            account.id,
            &serials[0],
            "wrong password",
            RevocationReason::KeyCompromise,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Ra(RaError::WrongPassword)), "{err:?}");
    let err = ra
        .revoke(
            account.id,
            &serials[0],
            PASSWORD,
            RevocationReason::CaCompromise,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Ra(RaError::ReasonNotAllowed)),
        "{err:?}"
    );
    let err = ra
        .revoke(
            other.id,
            &serials[0],
            PASSWORD,
            RevocationReason::KeyCompromise,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Ra(RaError::UnknownCertificate)),
        "{err:?}"
    );
    let revoked = ra
        .revoke(
            account.id,
            &serials[0].to_lowercase(),
            PASSWORD,
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    assert_eq!(revoked.status, CertificateStatus::Revoked);
    assert_eq!(
        revoked.revocation.map(|(_, r)| r),
        Some(RevocationReason::KeyCompromise)
    );
    let err = ra
        .revoke(
            account.id,
            &serials[0],
            PASSWORD,
            RevocationReason::KeyCompromise,
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "the certificate is already revoked");
    assert!(
        matches!(&mailer.sent().last().unwrap().mail, Mail::CertificateRevoked { serial, .. } if *serial == serials[0])
    );

    let revoked_only = ra
        .query(
            account.id,
            &query(
                HolderQuery::Email("zhangsan@example.com".into()),
                Some(StatusFilter::Revoked),
            ),
        )
        .unwrap();
    assert_eq!(
        revoked_only
            .iter()
            .map(|c| c.serial.clone())
            .collect::<Vec<_>>(),
        [serials[0].clone()]
    );
    let valid_only = ra
        .query(
            account.id,
            &query(
                HolderQuery::Email("zhangsan@example.com".into()),
                Some(StatusFilter::Valid),
            ),
        )
        .unwrap();
    assert_eq!(
        valid_only
            .iter()
            .map(|c| c.serial.clone())
            .collect::<Vec<_>>(),
        [serials[1].clone()]
    );

    // A year and a bit later the other certificate has expired; the validity range filters too.
    let end = valid_only[0].not_after;
    assert!(
        ra.query(
            account.id,
            &query(
                HolderQuery::Email("zhangsan@example.com".into()),
                Some(StatusFilter::Expired)
            )
        )
        .unwrap()
        .is_empty()
    );
    *clock.0.lock().unwrap() += Duration::from_secs(400 * 86_400);
    let expired = ra
        .query(
            account.id,
            &query(
                HolderQuery::Email("zhangsan@example.com".into()),
                Some(StatusFilter::Expired),
            ),
        )
        .unwrap();
    assert_eq!(expired.len(), 1);
    let mut ranged = by_email.clone();
    ranged.not_after_from = Some(end + Duration::from_secs(1));
    assert!(ra.query(account.id, &ranged).unwrap().is_empty());
    ranged.not_after_from = Some(end - Duration::from_secs(86_400));
    ranged.not_after_until = Some(end + Duration::from_secs(86_400));
    assert_eq!(ra.query(account.id, &ranged).unwrap().len(), 2);

    let entries = store.audit_entries().unwrap();
    verify_chain(&entries, None, None).unwrap();
    let revocations: Vec<_> = entries
        .iter()
        .filter(|e| e.record.action == AuditAction::CertificateRevoked)
        .map(|e| (e.record.outcome, e.record.target.clone()))
        .collect();
    assert_eq!(
        revocations,
        [
            (Outcome::Failure, serials[0].clone()),
            (Outcome::Success, serials[0].clone())
        ]
    );
}

#[test]
fn server_certificates_are_issued_from_the_csr_on_approval_and_mailed() {
    use topca_core::ra::{CertificateQuery, HolderQuery};
    for (alg, root, sub) in cas().iter().filter(|(a, ..)| {
        matches!(
            a,
            KeyAlgorithm::Sm2 | KeyAlgorithm::Rsa2048 | KeyAlgorithm::EcdsaP384
        )
    }) {
        let store = MemoryStore::new();
        let mailer = RecordingMailer::default();
        let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
        let account = ra
            .create_account(&ops(), settings(VerificationMode::Manual))
            .unwrap();
        let policy = topca_core::ra::ServerPolicy {
            allowed_domains: vec!["example.com".into()],
            ..Default::default()
        };
        ra.set_server_policy(&ops(), account.id, policy).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = openssl_csr(
            dir.path(),
            *alg,
            "server",
            "/C=CN/ST=北京/O=Someone Else/CN=www.example.com/emailAddress=wrong@example",
            Some("DNS:www.example.com,DNS:api.example.com"),
        );
        let csr = CertificateRequest::parse(&fs::read(path).unwrap()).unwrap();
        // The page shows what the CSR says; the e-mail is corrected on the form.
        assert_eq!(csr.email(), Some("wrong@example"));
        assert_eq!(
            csr.alt_names().dns_names,
            ["www.example.com", "api.example.com"]
        );

        // The preview shown before applying: what the approval signs.
        let preview = ra.preview_server(account.id, &csr).unwrap();
        assert!(preview.refusal.is_none(), "{:?}", preview.refusal);
        assert_eq!(preview.subject.country.as_deref(), Some("CN"));
        assert_eq!(
            preview.alt_names.dns_names,
            ["www.example.com", "api.example.com"]
        );
        let request = ra
            .apply_server(account.id, &csr, "ops@example.com", PASSWORD, true)
            .unwrap();
        assert_eq!(request.state, RequestState::Submitted);
        assert_eq!(request.holder.name, "www.example.com");
        assert!(matches!(
            mailer.sent()[0].mail,
            Mail::RegistrationConfirmation { .. }
        ));
        assert_eq!(mailer.sent()[0].to, "ops@example.com");

        let request = ra.approve(&ops(), request.id).unwrap();
        assert_eq!(request.state, RequestState::Issued);
        let pem = match &mailer.sent().last().unwrap().mail {
            Mail::ServerCertificateIssued { pem, .. } => pem.clone(),
            other => panic!("expected the certificate mail, got {other:?}"),
        };
        let cert = topca_core::Certificate::from_pem(&pem).unwrap();
        let subject = cert.subject();
        assert_eq!(subject, preview.subject, "the preview was what is signed");
        assert_eq!(
            subject.organization.as_deref(),
            Some("天诚安信"),
            "O comes from the account, not the CSR"
        );
        assert_eq!(subject.common_name.as_deref(), Some("www.example.com"));
        assert_eq!(subject.email, None);
        openssl_verify_chain(
            dir.path(),
            &[&cert, sub.certificate(), root.certificate()],
            Some("sslserver"),
        );
        let text = common::openssl(
            dir.path(),
            &["x509", "-in", "chain0.pem", "-noout", "-text"],
        );
        assert!(
            text.contains("DNS:www.example.com, DNS:api.example.com"),
            "{text}"
        );
        assert!(text.contains("TLS Web Server Authentication"), "{text}");

        let query = CertificateQuery {
            holder: HolderQuery::Name("www.example.com".into()),
            status: None,
            not_after_from: None,
            not_after_until: None,
        };
        assert_eq!(ra.query(account.id, &query).unwrap().len(), 1);
        ra.revoke(
            account.id,
            &cert.serial_hex(),
            PASSWORD,
            topca_core::lifecycle::RevocationReason::Superseded,
        )
        .unwrap();
    }
}

#[test]
fn server_applications_need_approval_an_agreement_and_a_host_name() {
    let (_, _, sub) = &cas()[3];
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
    let manual = ra
        .create_account(&ops(), settings(VerificationMode::Manual))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = CertificateRequest::parse(
        &fs::read(openssl_csr(
            dir.path(),
            KeyAlgorithm::EcdsaP256,
            "good",
            "/CN=www.example.com",
            None,
        ))
        .unwrap(),
    )
    .unwrap();

    // A new account allows no name yet: the preview says so before applying.
    let preview = ra.preview_server(manual.id, &good).unwrap();
    assert!(
        matches!(preview.refusal, Some(Error::Policy(_))),
        "{:?}",
        preview.refusal
    );
    let err = ra
        .apply_server(manual.id, &good, "ops@example.com", PASSWORD, false)
        .unwrap_err();
    assert!(
        matches!(err, Error::Ra(RaError::AgreementNotAccepted)),
        "{err:?}"
    );
    for mode in [VerificationMode::Automatic, VerificationMode::Passcode] {
        let account = ra.create_account(&ops(), settings(mode)).unwrap();
        let err = ra.preview_server(account.id, &good).unwrap_err();
        assert!(
            matches!(err, Error::Ra(RaError::ServerNeedsApproval)),
            "{mode:?}: {err:?}"
        );
        let err = ra
            .apply_server(account.id, &good, "ops@example.com", PASSWORD, true)
            .unwrap_err();
        assert!(
            matches!(err, Error::Ra(RaError::ServerNeedsApproval)),
            "{mode:?}: {err:?}"
        );
    }
    let err = ra
        .apply_server(manual.id, &good, "not an address", PASSWORD, true)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ra(RaError::InvalidField {
                field: "e-mail",
                ..
            })
        ),
        "{err:?}"
    );
    let nameless = CertificateRequest::parse(
        &fs::read(openssl_csr(
            dir.path(),
            KeyAlgorithm::EcdsaP256,
            "nameless",
            "/CN=My Web Server",
            None,
        ))
        .unwrap(),
    )
    .unwrap();
    let err = ra
        .apply_server(manual.id, &nameless, "ops@example.com", PASSWORD, true)
        .unwrap_err();
    assert!(
        matches!(err, Error::Policy(topca_core::PolicyError::NoServerName)),
        "{err:?}"
    );
    assert!(mailer.sent().is_empty(), "nothing refused is mailed");
}

#[test]
fn certificates_near_their_end_are_renewed_through_the_pin_flow() {
    use topca_core::ra::HolderUpdate;
    let clock = Arc::new(MovableClock(Mutex::new(SystemTime::now())));
    let env = Environment::new(clock.clone(), Arc::new(OsRandom));
    let ca = CertificateAuthority::create_root(
        SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap(),
        &DistinguishedName::with_common_name("Renewal CA"),
        &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
        env,
    )
    .unwrap();
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, &ca, RaPolicy::default());
    let account = ra
        .create_account(&ops(), settings(VerificationMode::Manual))
        .unwrap();
    let request = ra.apply(account.id, holder(), PASSWORD).unwrap();
    ra.approve(&ops(), request.id).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = ra
        .retrieve(
            &mailed_pin(&mailer),
            PASSWORD,
            &csr(dir.path(), KeyAlgorithm::EcdsaP256),
        )
        .unwrap()
        .certificate;

    // Fresh certificates are not listed and cannot be renewed yet.
    assert!(
        ra.renewable(account.id, "zhangsan@example.com")
            .unwrap()
            .is_empty()
    );
    let err = ra
        .apply_renewal(
            account.id,
            &first.serial_hex(),
            PASSWORD,
            &HolderUpdate::default(),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "only valid certificates ending within 30 days can be renewed"
    );

    // Twenty days before the end it is listed.
    *clock.0.lock().unwrap() = first.not_after() - Duration::from_secs(20 * 86_400);
    let listed = ra.renewable(account.id, "zhangsan@example.com").unwrap();
    assert_eq!(
        listed.iter().map(|c| c.serial.clone()).collect::<Vec<_>>(),
        [first.serial_hex()]
    );

    let err = ra
        .apply_renewal(
            account.id,
            &first.serial_hex(),
            "wrong password",
            &HolderUpdate::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Ra(RaError::WrongPassword)), "{err:?}");
    let move_department = HolderUpdate {
        unit: Some("销售部".into()),
        ..HolderUpdate::default()
    };
    let err = ra
        .apply_renewal(account.id, &first.serial_hex(), PASSWORD, &move_department)
        .unwrap_err();
    assert!(
        matches!(err, Error::Ra(RaError::OrganizationFixed)),
        "{err:?}"
    );

    // Holder details change; O and OU as shown on the form are accepted unchanged.
    let update = HolderUpdate {
        name: Some("张三丰".into()),
        locality: Some("海淀区".into()),
        organization: Some("天诚安信".into()),
        unit: Some("技术部".into()),
        ..HolderUpdate::default()
    };
    let renewal = ra
        .apply_renewal(account.id, &first.serial_hex(), PASSWORD, &update)
        .unwrap();
    assert_eq!(renewal.kind, topca_core::lifecycle::RequestKind::Renewal);
    assert_eq!(
        renewal.previous_serial.as_deref(),
        Some(first.serial_hex().as_str())
    );
    assert_eq!(renewal.state, RequestState::Submitted);
    ra.approve(&ops(), renewal.id).unwrap();
    let renewed = ra
        .retrieve(
            &mailed_pin(&mailer),
            PASSWORD,
            &csr(dir.path(), KeyAlgorithm::EcdsaP256),
        )
        .unwrap()
        .certificate;
    let subject = renewed.subject();
    assert_eq!(subject.common_name.as_deref(), Some("张三丰"));
    assert_eq!(subject.locality.as_deref(), Some("海淀区"));
    assert_eq!(subject.organization.as_deref(), Some("天诚安信"));
    assert!(renewed.not_after() > first.not_after() + Duration::from_secs(300 * 86_400));
    assert_ne!(renewed.serial_hex(), first.serial_hex());
}

/// The confirmation link's token from the newest replacement mail.
fn mailed_replacement_token(mailer: &RecordingMailer) -> String {
    mailer
        .sent()
        .iter()
        .rev()
        .find_map(|e| match &e.mail {
            Mail::ReplacementConfirmation { link, .. } => {
                link.split("token=").nth(1).map(str::to_owned)
            }
            _ => None,
        })
        .expect("a replacement confirmation mail")
}

#[test]
fn a_lost_certificate_is_replaced_with_the_same_holder_and_end_date() {
    use topca_core::{
        lifecycle::RevocationReason, ra::ReplacementOutcome, store::CertificateStatus,
    };
    for mode in [VerificationMode::Automatic, VerificationMode::Manual] {
        let (_, root, sub) = &cas()[6];
        let store = MemoryStore::new();
        let mailer = RecordingMailer::default();
        let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
        let account = ra.create_account(&ops(), settings(mode)).unwrap();
        let request = ra.apply(account.id, holder(), PASSWORD).unwrap();
        if mode == VerificationMode::Manual {
            ra.approve(&ops(), request.id).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let original = ra
            .retrieve(
                &mailed_pin(&mailer),
                PASSWORD,
                &csr(dir.path(), KeyAlgorithm::Sm2),
            )
            .unwrap()
            .certificate;

        // (1) name and e-mail: unknown holders get a clear refusal, known ones a link.
        let err = ra
            .start_replacement(account.id, "李四", "zhangsan@example.com")
            .unwrap_err();
        assert!(
            matches!(err, Error::Ra(RaError::UnknownCertificate)),
            "{err:?}"
        );
        ra.start_replacement(account.id, "张三", "zhangsan@example.com")
            .unwrap();
        let token = mailed_replacement_token(&mailer);
        assert!(
            !format!("{:?}", mailer.sent()).contains(&token),
            "the token never shows in debug output"
        );

        // (2) the link lists the certificate to replace; a forged token counts as a wrong attempt.
        let forged = format!("{}-2222-3333-4444", token.split('-').next().unwrap());
        let err = ra.confirm_replacement(&forged).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Ra(RaError::WrongPinOrPassword { attempts_left: 4 })
            ),
            "{err:?}"
        );
        let (pending, candidates) = ra.confirm_replacement(&token).unwrap();
        assert_eq!(pending.state, RequestState::AwaitingConfirmation);
        assert_eq!(
            candidates
                .iter()
                .map(|c| c.serial.clone())
                .collect::<Vec<_>>(),
            [original.serial_hex()]
        );

        // The RA does not see unconfirmed replacements as pending.
        assert!(
            store
                .requests_in_state(account.id, RequestState::Submitted)
                .unwrap()
                .iter()
                .all(|r| r.id != pending.id)
        );

        // (3) + (4): revoke with the user password and a reason, then the replacement.
        let new_csr = csr(dir.path(), KeyAlgorithm::Sm2);
        if mode == VerificationMode::Automatic {
            let err = ra
                .replace(
                    &token,
                    &original.serial_hex(),
                    PASSWORD,
                    RevocationReason::KeyCompromise,
                    None,
                )
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Ra(RaError::InvalidField {
                        field: "certificate request",
                        ..
                    })
                ),
                "{err:?}"
            );
            assert_eq!(
                store
                    .certificate(&original.serial_hex())
                    .unwrap()
                    .unwrap()
                    .status,
                CertificateStatus::Valid,
                "nothing revoked on refusal"
            );
        }
        let outcome = ra
            .replace(
                &token,
                &original.serial_hex(),
                PASSWORD,
                RevocationReason::KeyCompromise,
                Some(&new_csr),
            )
            .unwrap();
        let replacement = match (mode, outcome) {
            (VerificationMode::Automatic, ReplacementOutcome::Issued(issued)) => issued.certificate,
            (VerificationMode::Manual, ReplacementOutcome::AwaitingApproval(request)) => {
                assert_eq!(request.state, RequestState::Submitted);
                ra.approve(&ops(), request.id).unwrap();
                ra.retrieve(&mailed_pin(&mailer), PASSWORD, &new_csr)
                    .unwrap()
                    .certificate
            }
            (mode, other) => panic!("{mode:?} gave {other:?}"),
        };
        let revoked = store.certificate(&original.serial_hex()).unwrap().unwrap();
        assert_eq!(revoked.status, CertificateStatus::Revoked);
        assert_eq!(
            revoked.revocation.map(|(_, r)| r),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(
            replacement.not_after(),
            original.not_after(),
            "{mode:?}: the replacement keeps the original end date"
        );
        assert_eq!(replacement.subject(), original.subject());
        assert_ne!(
            replacement.public_key().unwrap(),
            original.public_key().unwrap()
        );
        openssl_verify_chain(
            dir.path(),
            &[&replacement, sub.certificate(), root.certificate()],
            Some("smimesign"),
        );
        // The link was single use.
        assert!(ra.confirm_replacement(&token).is_err());
    }
}

#[test]
fn a_generated_key_is_delivered_as_pkcs12_under_the_user_password() {
    let (_, _, sub) = &cas()[6];
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
    let account = ra
        .create_account(&ops(), settings(VerificationMode::Automatic))
        .unwrap();
    let password = "Zhang San 2026!";
    ra.apply(account.id, holder(), password).unwrap();
    let pin = mailed_pin(&mailer);
    let err = ra
        .retrieve_with_generated_key(&pin, "wrong password")
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ra(RaError::WrongPinOrPassword { attempts_left: 4 })
        ),
        "{err:?}"
    );
    let delivery = ra.retrieve_with_generated_key(&pin, password).unwrap();
    assert_eq!(
        delivery.certificate.public_key().unwrap().kind(),
        topca_core::KeyKind::Sm2,
        "the account's algorithm"
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("zhangsan.p12"), delivery.pkcs12.as_slice()).unwrap();
    common::openssl(
        d,
        &[
            "pkcs12",
            "-in",
            "zhangsan.p12",
            "-passin",
            &format!("pass:{password}"),
            "-nocerts",
            "-nodes",
            "-out",
            "key.pem",
        ],
    );
    common::openssl(
        d,
        &[
            "pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
        ],
    );
    let cert_spki = delivery.certificate.public_key().unwrap();
    assert_eq!(
        fs::read(d.join("pub.der")).unwrap(),
        cert_spki.spki_der(),
        "the PKCS#12 key belongs to the certificate"
    );
    assert_eq!(
        store
            .certificates_by_email("zhangsan@example.com")
            .unwrap()
            .len(),
        1
    );
    // Single use, as with a CSR.
    assert!(ra.retrieve_with_generated_key(&pin, password).is_err());
}

/// The reference number and authorization code from the newest passcode mail to `to`.
fn mailed_passcode(mailer: &RecordingMailer, to: &str) -> (String, String) {
    mailer
        .sent()
        .iter()
        .rev()
        .find_map(|e| match &e.mail {
            Mail::Passcode { request, code, .. } if e.to == to => {
                Some((request.0.to_string(), code.to_string()))
            }
            _ => None,
        })
        .expect("a passcode mail")
}

#[test]
fn passcode_holders_are_preregistered_in_bulk_and_retrieve_without_approval() {
    use topca_core::lifecycle::RevocationReason;
    let (_, root, sub) = &cas()[6];
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
    let manual = ra
        .create_account(&ops(), settings(VerificationMode::Manual))
        .unwrap();
    let err = ra.preregister(&ops(), manual.id, holder()).unwrap_err();
    assert!(
        matches!(err, Error::Ra(RaError::NotPasscodeAccount)),
        "{err:?}"
    );
    let err = ra
        .preregister_csv(&ops(), manual.id, "张三,zhangsan@example.com\n")
        .unwrap_err();
    assert!(
        matches!(err, Error::Ra(RaError::NotPasscodeAccount)),
        "{err:?}"
    );

    let account = ra
        .create_account(&ops(), settings(VerificationMode::Passcode))
        .unwrap();
    let csv = "姓名,电子邮件,电话\n张三,zhangsan@example.com,010-1234\n李四,not-an-address\n王五\n\"赵, 六\",zhao@example.com\n";
    let report = ra.preregister_csv(&ops(), account.id, csv).unwrap();
    assert_eq!(report.registered.len(), 2);
    assert_eq!(
        report.rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
        [3, 4]
    );
    assert!(
        report.rejected[0].reason.contains("e-mail"),
        "{:?}",
        report.rejected
    );
    assert_eq!(
        mailer
            .sent()
            .iter()
            .filter(|e| matches!(e.mail, Mail::Passcode { .. }))
            .count(),
        2
    );
    for reference in &report.registered {
        let request = store.request_by_reference(reference).unwrap().unwrap();
        assert_eq!(
            request.state,
            RequestState::Approved,
            "no approval is waited for"
        );
        assert!(request.password.is_none());
    }

    let (reference, code) = mailed_passcode(&mailer, "zhangsan@example.com");
    let dir = tempfile::tempdir().unwrap();
    let user_csr = csr(dir.path(), KeyAlgorithm::Sm2);
    // A weak new password is refused before an attempt is spent; a wrong code counts.
    let err = ra
        .retrieve_with_passcode(&reference, &code, "short", &user_csr)
        .unwrap_err();
    assert!(matches!(err, Error::Secret(_)), "{err:?}");
    let err = ra
        .retrieve_with_passcode(&reference, "2222-3333-4444", PASSWORD, &user_csr)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ra(RaError::WrongPinOrPassword { attempts_left: 4 })
        ),
        "{err:?}"
    );
    let err = ra
        .retrieve_with_passcode("abc", &code, PASSWORD, &user_csr)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ra(RaError::InvalidField {
                field: "reference number",
                ..
            })
        ),
        "{err:?}"
    );

    let cert = ra
        .retrieve_with_passcode(&reference, &code, PASSWORD, &user_csr)
        .unwrap()
        .certificate;
    assert_eq!(cert.subject().common_name.as_deref(), Some("张三"));
    openssl_verify_chain(
        dir.path(),
        &[&cert, sub.certificate(), root.certificate()],
        Some("smimesign"),
    );
    assert!(
        ra.retrieve_with_passcode(&reference, &code, PASSWORD, &user_csr)
            .is_err(),
        "single use"
    );
    // The password chosen at retrieval now protects revocation.
    ra.revoke(
        account.id,
        &cert.serial_hex(),
        PASSWORD,
        RevocationReason::CessationOfOperation,
    )
    .unwrap();
}

#[test]
fn the_ra_issues_centrally_with_a_generated_key_in_pkcs12() {
    for (alg, _, sub) in cas()
        .iter()
        .filter(|(a, ..)| matches!(a, KeyAlgorithm::Rsa2048 | KeyAlgorithm::EcdsaP256))
    {
        let store = MemoryStore::new();
        let mailer = RecordingMailer::default();
        let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
        let account = ra
            .create_account(
                &ops(),
                AccountSettings {
                    algorithm: *alg,
                    ..settings(VerificationMode::Manual)
                },
            )
            .unwrap();
        let password = "Initial Pass 2026";
        let err = ra
            .issue_centrally(&ops(), account.id, holder(), "short")
            .unwrap_err();
        assert!(matches!(err, Error::Secret(_)), "{err:?}");
        let delivery = ra
            .issue_centrally(&ops(), account.id, holder(), password)
            .unwrap();
        let key_kind = delivery.certificate.public_key().unwrap().kind();
        assert_eq!(
            key_kind.to_string(),
            match alg {
                KeyAlgorithm::Rsa2048 => "RSA-2048",
                _ => "ECDSA P-256",
            }
        );
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("c.p12"), delivery.pkcs12.as_slice()).unwrap();
        let info = common::openssl(
            dir.path(),
            &[
                "pkcs12",
                "-in",
                "c.p12",
                "-passin",
                &format!("pass:{password}"),
                "-info",
                "-noout",
            ],
        );
        assert!(info.contains("MAC: sha256"), "{info}");
        // The request is closed with the certificate, the action audited with the admin's name.
        let records = store.certificates_by_email("zhangsan@example.com").unwrap();
        assert_eq!(records.len(), 1);
        let request = store.request(records[0].request.unwrap()).unwrap().unwrap();
        assert_eq!(request.state, RequestState::Issued);
        let entries = store.audit_entries().unwrap();
        verify_chain(&entries, None, None).unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e.record.action == AuditAction::RequestApproved
                    && e.record.actor == topca_core::audit::Actor::Admin("ra-admin".into()))
        );
        // The password given becomes the holder's: it revokes the certificate.
        ra.revoke(
            account.id,
            &records[0].serial,
            password,
            topca_core::lifecycle::RevocationReason::Superseded,
        )
        .unwrap();
    }
}

#[test]
fn only_ra_administrators_get_the_ra_capability() {
    use topca_core::ra::{AdminRole, Administrator};
    let kmc = Administrator {
        name: "kmc-admin".into(),
        roles: vec![AdminRole::KmcAdmin, AdminRole::SuperAdmin],
    };
    let err = kmc.ra_ops().unwrap_err();
    assert_eq!(err.to_string(), "this needs the RA administrator role");
    let ra_admin = Administrator {
        name: "王管理员".into(),
        roles: vec![AdminRole::RaAdmin],
    };
    assert_eq!(ra_admin.ra_ops().unwrap().admin(), "王管理员");
}
