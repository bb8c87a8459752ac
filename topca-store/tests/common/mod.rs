//! What the storage tests share: a fresh database per backend, requests and
//! certificates made as the RA makes them, recorded before they are stored.
#![allow(dead_code)] // each test file uses its own part of these helpers

use std::time::{Duration, SystemTime};

use diesel::{Connection, PgConnection, connection::SimpleConnection};
use topca_core::{
    KeyAlgorithm, OsRandom, ProfileKind, RandomSource,
    audit::Actor,
    lifecycle::{CertificateType, CertificateUsage, RequestKind, VerificationMode},
    ra::{AccountSettings, Holder, Language},
    store::{
        AccountStore, CertificateRecord, CertificateStatus, IssuanceStore, NewRequest, Opening,
        RequestChange, RequestStore, Reservation, tbs_sha256,
    },
};
use topca_store::DieselStore;

/// A fresh database on each available backend: (label, URL, cleanup).
pub fn databases(name: &str) -> Vec<(String, String, Option<TempPostgres>)> {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut all = vec![(
        "sqlite".to_owned(),
        format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
        None,
    )];
    if let Some(pg) = TempPostgres::create(name) {
        all.push(("postgres".to_owned(), pg.url.clone(), Some(pg)));
    }
    all
}

/// A database created on the test PostgreSQL server, dropped afterwards.
pub struct TempPostgres {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl TempPostgres {
    /// A new database named after `label`, or `None` (a skip) without a server.
    pub fn create(label: &str) -> Option<Self> {
        let Ok(admin) = std::env::var("TOPCA_TEST_POSTGRES_URL") else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true and TOPCA_TEST_POSTGRES_URL is not set: PostgreSQL is missing");
            }
            eprintln!("skipping PostgreSQL: TOPCA_TEST_POSTGRES_URL is not set");
            return None;
        };
        let mut random = [0u8; 6];
        OsRandom.fill(&mut random).unwrap();
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("topca_{label}_{suffix}");
        let mut conn = PgConnection::establish(&admin).unwrap();
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Some(Self {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

pub fn settings() -> AccountSettings {
    AccountSettings {
        organization: "天诚安信".into(),
        unit: "技术部".into(),
        certificate_type: CertificateType::Single,
        verification: VerificationMode::Automatic,
        algorithm: KeyAlgorithm::Sm2,
        validity_days: 365,
        service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
        language: Language::Chinese,
    }
}

pub fn new_request(store: &DieselStore, email: &str) -> topca_core::ra::Request {
    let account = store.create_account(settings()).unwrap();
    store
        .submit_request(NewRequest {
            reference: topca_core::ra::RequestRef::generate(&topca_core::OsRandom).unwrap(),
            account: account.id,
            kind: RequestKind::Application,
            holder: Holder {
                name: "张三".into(),
                email: email.into(),
                phone: None,
                state: None,
                locality: None,
            },
            password: None,
            submitted_at: SystemTime::now(),
            csr: None,
            previous_serial: None,
            opening: Opening::Submitted,
        })
        .unwrap()
}

/// A certificate record with a random 16-byte serial, as the CA makes them.
pub fn record(request: &topca_core::ra::Request) -> CertificateRecord {
    let mut serial = [0u8; 16];
    OsRandom.fill(&mut serial).unwrap();
    serial[0] = (serial[0] & 0x7F) | 0x40;
    let now = SystemTime::now();
    CertificateRecord {
        serial: serial.iter().map(|b| format!("{b:02X}")).collect(),
        account: Some(request.account),
        request: Some(request.id),
        holder_name: request.holder.name.clone(),
        email: request.holder.email.clone(),
        subject: "CN=张三,OU=技术部,O=天诚安信,C=CN".into(),
        issuer: "CN=TopCA Issuing CA".into(),
        usage: CertificateUsage::Signing,
        not_before: now,
        not_after: now + Duration::from_secs(365 * 86_400),
        status: CertificateStatus::Valid,
        revocation: None,
        der: certificate_der(&serial),
    }
}

/// A stand-in certificate of about 900 bytes: `SEQUENCE { OCTET STRING }`, whose
/// "TBS" (the OCTET STRING) differs per serial.
pub fn certificate_der(serial: &[u8]) -> Vec<u8> {
    let mut tbs = serial.to_vec();
    tbs.resize(890, 0x30);
    let mut der = vec![0x30, 0x82, 0x03, 0x7E, 0x04, 0x82, 0x03, 0x7A];
    der.extend_from_slice(&tbs);
    der
}

/// Records `certificate`'s serial and TBS before it is stored, as the CA does
/// before it signs.
pub fn reserve(store: &DieselStore, certificate: &CertificateRecord) {
    store
        .reserve_issuance(&Reservation {
            serial: certificate.serial.clone(),
            tbs_sha256: tbs_sha256(&certificate.der).unwrap(),
            profile: ProfileKind::UserSigning,
            requester: Actor::User(certificate.email.clone()),
            account: certificate.account,
            request: certificate.request,
            reserved_at: SystemTime::now(),
            issued: false,
        })
        .unwrap();
}

/// Issues one certificate for a new request, as the RA does.
pub fn issue_one(store: &DieselStore, email: &str) -> String {
    let request = new_request(store, email);
    let certificate = record(&request);
    reserve(store, &certificate);
    let serial = certificate.serial.clone();
    let mut issued = request.clone();
    issued.state = topca_core::lifecycle::RequestState::Issued;
    issued.issued_serial = Some(serial.clone());
    store
        .commit_request(RequestChange {
            issued: vec![certificate],
            ..RequestChange::update(issued)
        })
        .unwrap();
    serial
}
