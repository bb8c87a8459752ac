//! Issuance with persistence: `issue` alone, then `issue+store` on SQLite and (when
//! `TOPCA_BENCH_POSTGRES_URL` names a database to use) on PostgreSQL, so the storage
//! cost per certificate shows. Each stored issuance is what the RA does: a request
//! submitted, the serial and TBS recorded before signing, then the certificate
//! stored with the request's new state and its audit entry in one transaction.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench setup fails loudly

use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use topca_benches::issuance_fixture;
use topca_core::{
    KeyAlgorithm,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    issuance::{Requester, sign_recorded},
    lifecycle::{CertificateType, CertificateUsage, RequestKind, RequestState, VerificationMode},
    ra::{AccountSettings, Holder, Language},
    store::{
        AccountStore, CertificateRecord, CertificateStatus, NewRequest, Opening, RequestChange,
        RequestStore,
    },
};
use topca_store::DieselStore;

fn storage(c: &mut Criterion) {
    let fixture = issuance_fixture(KeyAlgorithm::EcdsaP256).unwrap();
    let (ca, request, profile) = (&fixture.ca, &fixture.request, &fixture.profile);
    let mut group = c.benchmark_group("storage");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    group.bench_function("issue/p256", |b| {
        b.iter(|| ca.issue(request.clone(), profile).unwrap())
    });

    let dir = tempfile::tempdir().unwrap();
    let mut stores = vec![(
        "sqlite",
        DieselStore::open(&format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ))
        .unwrap(),
    )];
    if let Ok(url) = std::env::var("TOPCA_BENCH_POSTGRES_URL") {
        stores.push(("postgres", DieselStore::open(&url).unwrap()));
    }
    for (label, store) in &stores {
        let account = store
            .create_account(AccountSettings {
                organization: "天诚安信".into(),
                unit: "技术部".into(),
                certificate_type: CertificateType::Single,
                verification: VerificationMode::Automatic,
                algorithm: KeyAlgorithm::EcdsaP256,
                validity_days: 365,
                service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
                language: Language::Chinese,
            })
            .unwrap();
        group.bench_function(format!("issue+store/p256/{label}"), |b| {
            b.iter(|| {
                let submitted = store
                    .submit_request(NewRequest {
                        reference: topca_core::ra::RequestRef::generate(&topca_core::OsRandom)
                            .unwrap(),
                        account: account.id,
                        kind: RequestKind::Application,
                        holder: Holder {
                            name: "张三".into(),
                            email: "zhangsan@example.cn".into(),
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
                    .unwrap();
                let requester = Requester {
                    actor: Actor::User("zhangsan@example.cn".into()),
                    account: Some(account.id),
                    request: Some(submitted.id),
                };
                let certificate =
                    sign_recorded(ca, store, request.clone(), profile, &requester).unwrap();
                let mut issued = submitted.clone();
                issued.state = RequestState::Issued;
                issued.issued_serial = Some(certificate.serial_hex());
                store
                    .commit_request(RequestChange {
                        issued: vec![CertificateRecord {
                            serial: certificate.serial_hex(),
                            account: Some(account.id),
                            request: Some(submitted.id),
                            holder_name: "张三".into(),
                            email: "zhangsan@example.cn".into(),
                            subject: certificate.subject_text(),
                            issuer: certificate.issuer_text(),
                            usage: CertificateUsage::Server,
                            not_before: certificate.not_before(),
                            not_after: certificate.not_after(),
                            status: CertificateStatus::Valid,
                            revocation: None,
                            der: certificate.der().to_vec(),
                        }],
                        audit: vec![AuditRecord {
                            at: SystemTime::now(),
                            actor: requester.actor.clone(),
                            action: AuditAction::CertificateIssued,
                            target: certificate.serial_hex(),
                            outcome: Outcome::Success,
                            detail: format!("request {}", submitted.id.0),
                        }],
                        ..RequestChange::update(issued)
                    })
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, storage);
criterion_main!(benches);
