//! Holder-secret attempts in the RA: a lockout belongs to the source that spent
//! the attempts and ends with its window; the RA unlocks; requests are found only
//! by their random references.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use topca_core::{
    CertificateAuthority, Clock, DistinguishedName, Environment, Error, KeyAlgorithm, OsRandom,
    Profile, ProfileKind, RaError, SigningKey,
    audit::{Actor, AuditAction, Outcome},
    lifecycle::{CertificateType, RequestState, VerificationMode},
    mail::{Mail, RecordingMailer},
    memory::MemoryStore,
    ra::{
        AccountSettings, AdminRole, Administrator, Holder, Language, RaOps, RaPolicy,
        RegistrationAuthority, RequestRef,
    },
    store::{AuditStore, RequestStore},
};

const PASSWORD: &str = "lisi-password-1";

/// A clock the tests move forward.
struct MovableClock(Mutex<SystemTime>);

impl Clock for MovableClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

fn ca(clock: Arc<MovableClock>) -> CertificateAuthority {
    CertificateAuthority::create_root(
        SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap(),
        &DistinguishedName::with_common_name("Attempts CA"),
        &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
        Environment::new(clock, Arc::new(OsRandom)),
    )
    .unwrap()
}

fn ra_ops() -> RaOps {
    Administrator {
        name: "ra-admin".into(),
        roles: vec![AdminRole::RaAdmin],
    }
    .ra_ops()
    .unwrap()
}

fn settings() -> AccountSettings {
    AccountSettings {
        organization: "天诚安信".into(),
        unit: "技术部".into(),
        certificate_type: CertificateType::Single,
        verification: VerificationMode::Automatic,
        algorithm: KeyAlgorithm::EcdsaP256,
        validity_days: 365,
        service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
        language: Language::Chinese,
    }
}

fn holder() -> Holder {
    Holder {
        name: "李四".into(),
        email: "lisi@example.com".into(),
        phone: None,
        state: None,
        locality: None,
    }
}

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

fn locked(result: Result<impl std::fmt::Debug, Error>) -> bool {
    matches!(result, Err(Error::Ra(RaError::Locked)))
}

#[test]
fn a_lockout_stays_with_its_source_and_ends_with_its_window() {
    let clock = Arc::new(MovableClock(Mutex::new(SystemTime::now())));
    let ca = ca(Arc::clone(&clock));
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = |source: &str| {
        RegistrationAuthority::new(&store, &mailer, &ca, RaPolicy::default()).for_client(source)
    };
    let account = ra("").create_account(&ra_ops(), settings()).unwrap();
    let request = ra("").apply(account.id, holder(), PASSWORD).unwrap();
    let pin = mailed_pin(&mailer);
    assert!(pin.starts_with(&format!("{}-", request.reference)));

    let stranger = ra("203.0.113.66");
    for _ in 0..5 {
        stranger
            .retrieve_with_generated_key(&pin, "a guess")
            .unwrap_err();
    }
    assert!(locked(stranger.retrieve_with_generated_key(&pin, PASSWORD)));
    // The stranger's guesses do not lock the holder's address out...
    let holder_side = ra("198.51.100.7");
    let err = holder_side
        .retrieve_with_generated_key(&pin, "typo")
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ra(RaError::WrongPinOrPassword { attempts_left: 4 })
        ),
        "{err:?}"
    );
    // ...and the stranger's lockout ends with its 15-minute window.
    *clock.0.lock().unwrap() += Duration::from_secs(14 * 60);
    assert!(locked(stranger.retrieve_with_generated_key(&pin, PASSWORD)));
    *clock.0.lock().unwrap() += Duration::from_secs(2 * 60);
    let issued = stranger.retrieve_with_generated_key(&pin, PASSWORD);
    assert!(issued.is_ok(), "{:?}", issued.err());
    assert_eq!(
        store.request(request.id).unwrap().unwrap().state,
        RequestState::Issued
    );
}

#[test]
fn the_ra_unlock_clears_every_source_and_is_audited() {
    let clock = Arc::new(MovableClock(Mutex::new(SystemTime::now())));
    let ca = ca(Arc::clone(&clock));
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = |source: &str| {
        RegistrationAuthority::new(&store, &mailer, &ca, RaPolicy::default()).for_client(source)
    };
    let account = ra("").create_account(&ra_ops(), settings()).unwrap();
    let request = ra("").apply(account.id, holder(), PASSWORD).unwrap();
    let pin = mailed_pin(&mailer);
    for source in ["192.0.2.1", "192.0.2.2"] {
        for _ in 0..5 {
            ra(source)
                .retrieve_with_generated_key(&pin, "x")
                .unwrap_err();
        }
        assert!(locked(
            ra(source).retrieve_with_generated_key(&pin, PASSWORD)
        ));
    }
    // Unknown and sequential references find nothing.
    for wrong in [RequestRef("0".repeat(32)), RequestRef("1".into())] {
        let err = ra("").unlock(&ra_ops(), &wrong).unwrap_err();
        assert!(matches!(err, Error::Ra(RaError::UnknownRequest)), "{err:?}");
    }
    ra("").unlock(&ra_ops(), &request.reference).unwrap();
    let entry = store
        .audit_entries()
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.record.action == AuditAction::RequestUnlocked)
        .expect("the unlock is audited");
    assert_eq!(entry.record.actor, Actor::Admin("ra-admin".into()));
    assert_eq!(entry.record.outcome, Outcome::Success);
    assert_eq!(entry.record.target, format!("request {}", request.id.0));
    assert!(
        ra("192.0.2.2")
            .retrieve_with_generated_key(&pin, PASSWORD)
            .is_ok()
    );
}

#[test]
fn a_request_locked_by_an_earlier_version_is_unlocked_to_approved() {
    let clock = Arc::new(MovableClock(Mutex::new(SystemTime::now())));
    let ca = ca(Arc::clone(&clock));
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, &ca, RaPolicy::default());
    let account = ra.create_account(&ra_ops(), settings()).unwrap();
    let mut request = ra.apply(account.id, holder(), PASSWORD).unwrap();
    // Earlier versions locked the request for everyone and dropped its PIN.
    request.state = RequestState::Locked;
    request.pin = None;
    let request = store.update_request(&request).unwrap();
    assert!(locked(
        ra.retrieve_with_generated_key(&mailed_pin(&mailer), PASSWORD)
    ));
    let unlocked = ra.unlock(&ra_ops(), &request.reference).unwrap();
    assert_eq!(unlocked.state, RequestState::Approved);
    ra.resend_pin(&ra_ops(), request.id).unwrap();
    assert!(
        ra.retrieve_with_generated_key(&mailed_pin(&mailer), PASSWORD)
            .is_ok()
    );
}

#[test]
fn references_are_random_128_bit_hex_and_parse_strictly() {
    let a = RequestRef::generate(&OsRandom).unwrap();
    let b = RequestRef::generate(&OsRandom).unwrap();
    assert_ne!(a, b);
    assert_eq!(a.0.len(), 32);
    assert!(
        a.0.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    );
    assert_eq!(
        RequestRef::parse(&format!(" {} ", a.0.to_uppercase())),
        Some(a)
    );
    for bad in [
        "",
        "1",
        "12",
        &"g".repeat(32),
        &"a".repeat(31),
        &"a".repeat(33),
    ] {
        assert_eq!(RequestRef::parse(bad), None, "{bad}");
    }
}
