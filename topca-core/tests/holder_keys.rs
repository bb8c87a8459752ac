//! Holder keys the CA certifies, on every RA path that signs a key a holder
//! brings (a user CSR at retrieval, a renewal): RSA with the public exponent
//! 65537 only. A refused key leaves the request as it was, so the holder can
//! retrieve with a proper key using the same PIN.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{
    fs,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use common::{openssl, openssl_csr};
use topca_core::{
    CertificateAuthority, CertificateRequest, Clock, DistinguishedName, Environment, Error,
    KeyAlgorithm, OsRandom, PolicyError, Profile, ProfileKind, SigningKey,
    lifecycle::{CertificateType, RequestState, VerificationMode},
    mail::{Mail, RecordingMailer},
    memory::MemoryStore,
    ra::{
        AccountSettings, AdminRole, Administrator, Holder, HolderUpdate, Language, RaOps, RaPolicy,
        RegistrationAuthority,
    },
    store::RequestStore,
};

const PASSWORD: &str = "李四的口令-2026";

struct MovableClock(Mutex<SystemTime>);

impl Clock for MovableClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

fn ops() -> RaOps {
    Administrator {
        name: "ra-admin".into(),
        roles: vec![AdminRole::RaAdmin],
    }
    .ra_ops()
    .unwrap()
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

/// A CSR for an RSA-2048 key with the public exponent 3, made by OpenSSL.
fn exponent_3_csr(dir: &std::path::Path) -> CertificateRequest {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-pkeyopt",
            "rsa_keygen_pubexp:3",
            "-out",
            "e3.key",
        ],
    );
    openssl(
        dir,
        &[
            "req", "-new", "-key", "e3.key", "-subj", "/CN=e3", "-out", "e3.csr",
        ],
    );
    let csr = CertificateRequest::parse(&fs::read(dir.join("e3.csr")).unwrap()).unwrap();
    assert_eq!(csr.public_key().rsa_public_exponent(), Some(3));
    csr
}

fn good_csr(dir: &std::path::Path, name: &str) -> CertificateRequest {
    let path = openssl_csr(dir, KeyAlgorithm::Rsa2048, name, "/CN=good", None);
    CertificateRequest::parse(&fs::read(path).unwrap()).unwrap()
}

fn refused_exponent_3(err: &Error) -> bool {
    matches!(err, Error::Policy(PolicyError::RsaExponent { exponent: 3 }))
}

#[test]
fn exponent_3_keys_are_refused_at_retrieval_and_at_renewal() {
    let clock = Arc::new(MovableClock(Mutex::new(SystemTime::now())));
    let ca = CertificateAuthority::create_root(
        SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap(),
        &DistinguishedName::with_common_name("Holder Key CA"),
        &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
        Environment::new(clock.clone(), Arc::new(OsRandom)),
    )
    .unwrap();
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, &ca, RaPolicy::default());
    let account = ra
        .create_account(
            &ops(),
            AccountSettings {
                organization: "天诚安信".into(),
                unit: "技术部".into(),
                certificate_type: CertificateType::Single,
                verification: VerificationMode::Manual,
                algorithm: KeyAlgorithm::EcdsaP256,
                validity_days: 365,
                service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
                language: Language::Chinese,
            },
        )
        .unwrap();
    let holder = Holder {
        name: "李四".into(),
        email: "lisi@example.com".into(),
        phone: None,
        state: None,
        locality: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let weak = exponent_3_csr(dir.path());

    // A user CSR at retrieval.
    let request = ra.apply(account.id, holder, PASSWORD).unwrap();
    ra.approve(&ops(), request.id).unwrap();
    let pin = mailed_pin(&mailer);
    let err = ra.retrieve(&pin, PASSWORD, &weak).unwrap_err();
    assert!(refused_exponent_3(&err), "{err:?}");
    let kept = store.request(request.id).unwrap().unwrap();
    assert_eq!(kept.state, RequestState::Approved, "nothing was issued");
    assert_eq!(kept.issued_serial, None);
    let first = ra
        .retrieve(&pin, PASSWORD, &good_csr(dir.path(), "first"))
        .unwrap()
        .certificate;

    // A renewal, in its window.
    *clock.0.lock().unwrap() = first.not_after() - Duration::from_secs(10 * 86_400);
    let renewal = ra
        .apply_renewal(
            account.id,
            &first.serial_hex(),
            PASSWORD,
            &HolderUpdate::default(),
        )
        .unwrap();
    ra.approve(&ops(), renewal.id).unwrap();
    let pin = mailed_pin(&mailer);
    let err = ra.retrieve(&pin, PASSWORD, &weak).unwrap_err();
    assert!(refused_exponent_3(&err), "{err:?}");
    assert_eq!(
        store.request(renewal.id).unwrap().unwrap().state,
        RequestState::Approved
    );
    assert!(
        ra.retrieve(&pin, PASSWORD, &good_csr(dir.path(), "renewed"))
            .is_ok()
    );
}
