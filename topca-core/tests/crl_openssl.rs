//! CRLs for every algorithm, read and checked by OpenSSL 3: `openssl crl -verify`
//! accepts them and `openssl verify -crl_check` sees a revoked certificate as revoked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{
    fs,
    time::{Duration, SystemTime},
};

use common::{audit_note, cas, openssl, openssl_output, reserve_signed};
use topca_core::audit::AuditAction;
use topca_core::{
    DistinguishedName, IssueRequest, KeyAlgorithm, KeyKind, OsRandom, Profile, ProfileKind,
    SigningKey, SubjectAltNames,
    crl::{self, CrlEntry, CrlInfo, CrlWriter},
    lifecycle::{CertificateUsage, RequestKind, RevocationReason},
    memory::MemoryStore,
    ra::{AccountId, Holder},
    store::{
        CertificateRecord, CertificateStatus, CertificateStore, CrlStore, NewRequest, Opening,
        RequestChange, RequestStore, Revocation,
    },
};

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn crls_of_every_algorithm_verify_and_list_their_entries() {
    for (algorithm, _root, sub) in cas() {
        let dir = tempfile::tempdir().unwrap();
        let info = CrlInfo {
            number: 7,
            this_update: at(1_795_000_000),
            next_update: at(2_600_000_000), // after 2049: GeneralizedTime
            delta_base: None,
        };
        let mut writer = CrlWriter::new(sub, info, 3).unwrap();
        let high_bit = [0x80, 0x01, 0x02];
        for (serial, reason, invalidity) in [
            (
                &[0x01, 0x23][..],
                RevocationReason::KeyCompromise,
                Some(at(1_794_000_000)),
            ),
            (&high_bit[..], RevocationReason::Unspecified, None),
            (&[0x00, 0x00, 0x7F][..], RevocationReason::Superseded, None),
        ] {
            writer
                .push(&CrlEntry {
                    serial,
                    revoked_at: at(1_794_500_000),
                    reason,
                    invalidity_date: invalidity,
                })
                .unwrap();
        }
        let crl = writer.finish().unwrap();
        assert_eq!(crl.entries, 3);
        fs::write(dir.path().join("crl.der"), &crl.der).unwrap();
        fs::write(dir.path().join("ca.pem"), sub.certificate().to_pem()).unwrap();
        let text = openssl(
            dir.path(),
            &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"],
        );
        for expected in [
            "Version 2 (0x1)",
            "X509v3 CRL Number: \n                7",
            "X509v3 Authority Key Identifier",
            "Serial Number: 0123",
            "Key Compromise",
            "Invalidity Date: \n                Nov  6 21:20:00 2026 GMT",
            "Serial Number: 800102",
            "Serial Number: 7F",
            "Superseded",
            "Next Update: May 22 14:13:20 2052 GMT",
        ] {
            assert!(
                text.contains(expected),
                "{algorithm:?}: {expected:?} not in\n{text}"
            );
        }
        // OpenSSL 3.0 checks SM2 signatures of files it loads with an empty signer
        // ID (see README); TopCA's own check in `finish` covers SM2 here.
        if sub.key().public_key().kind() != KeyKind::Sm2 {
            let out = openssl(
                dir.path(),
                &[
                    "crl", "-inform", "DER", "-in", "crl.der", "-noout", "-CAfile", "ca.pem",
                    "-verify",
                ],
            );
            assert!(out.contains("verify OK"), "{algorithm:?}: {out}");
        }
    }
}

#[test]
fn a_published_crl_makes_openssl_see_a_revoked_certificate() {
    for algorithm in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Ed25519,
    ] {
        let (_, root, sub) = cas().iter().find(|(a, ..)| *a == algorithm).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryStore::new();
        let holder_key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
        let issue = || {
            sub.issue(
                IssueRequest {
                    subject: DistinguishedName::with_common_name("crl.example.com"),
                    public_key: holder_key.public_key().clone(),
                    alt_names: SubjectAltNames::default(),
                    not_after: None,
                },
                &Profile::new(ProfileKind::TlsServer, 90).unwrap(),
            )
            .unwrap()
        };
        let (kept, revoked) = (issue(), issue());

        // An empty CRL first: no revokedCertificates at all, and both verify.
        let empty = crl::publish(sub, &store, Duration::from_secs(86_400)).unwrap();
        assert_eq!((empty.info.number, empty.entries), (1, 0));
        let stored = store.latest_crl(false).unwrap().unwrap();
        assert_eq!(crl::Crl::from_record(stored).unwrap(), empty);
        let chain = format!(
            "{}{}",
            sub.certificate().to_pem(),
            root.certificate().to_pem()
        );
        fs::write(dir.path().join("chain.pem"), chain).unwrap();
        fs::write(dir.path().join("kept.pem"), kept.to_pem()).unwrap();
        fs::write(dir.path().join("revoked.pem"), revoked.to_pem()).unwrap();
        fs::write(dir.path().join("crl.pem"), empty.to_pem().unwrap()).unwrap();
        let check = |cert: &str| {
            openssl_output(
                dir.path(),
                &[
                    "verify",
                    "-crl_check",
                    "-CRLfile",
                    "crl.pem",
                    "-CAfile",
                    "chain.pem",
                    cert,
                ],
            )
        };
        assert!(check("revoked.pem").0, "{}", check("revoked.pem").1);

        // Stored as issued for a request, as the RA does.
        let request = store
            .submit_request(NewRequest {
                reference: topca_core::ra::RequestRef::generate(&topca_core::OsRandom).unwrap(),
                account: AccountId(1),
                kind: RequestKind::ServerApplication,
                holder: Holder {
                    name: "crl.example.com".into(),
                    email: "ops@example.com".into(),
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
        let issued = [&kept, &revoked]
            .into_iter()
            .inspect(|certificate| reserve_signed(&store, certificate))
            .map(|certificate| CertificateRecord {
                serial: certificate.serial_hex(),
                account: None,
                request: Some(request.id),
                holder_name: "crl.example.com".into(),
                email: "ops@example.com".into(),
                subject: certificate.subject_text(),
                issuer: certificate.issuer_text(),
                usage: CertificateUsage::Server,
                not_before: certificate.not_before(),
                not_after: certificate.not_after(),
                status: CertificateStatus::Valid,
                revocation: None,
                der: certificate.der().to_vec(),
            })
            .collect();
        store
            .commit_request(RequestChange {
                issued,
                ..RequestChange::update(request)
            })
            .unwrap();
        store
            .revoke_certificate(
                &Revocation {
                    serial: revoked.serial_hex(),
                    at: SystemTime::now(),
                    reason: RevocationReason::KeyCompromise,
                },
                audit_note(AuditAction::CertificateRevoked, &revoked.serial_hex()),
            )
            .unwrap();
        let crl = crl::publish(sub, &store, Duration::from_secs(86_400)).unwrap();
        assert_eq!((crl.info.number, crl.entries), (2, 1));
        assert_eq!(store.latest_crl(false).unwrap().unwrap().der, crl.der);
        let stored = store.latest_crl(false).unwrap().unwrap();
        assert_eq!(
            crl::Crl::from_record(stored).unwrap(),
            crl,
            "read back as made"
        );
        fs::write(dir.path().join("crl.pem"), crl.to_pem().unwrap()).unwrap();
        let (ok, out) = check("revoked.pem");
        assert!(
            !ok && out.contains("certificate revoked"),
            "{algorithm:?}: {out}"
        );
        let (ok, out) = check("kept.pem");
        assert!(ok, "{algorithm:?}: {out}");
    }
}

#[test]
fn delta_crls_list_what_was_revoked_since_their_base_and_openssl_uses_them() {
    let (_, root, sub) = cas()
        .iter()
        .find(|(a, ..)| *a == KeyAlgorithm::EcdsaP256)
        .unwrap();
    // A CA that points its certificates at a delta CRL.
    let urls = topca_core::CaUrls {
        delta_crl: Some("http://ca.example.com/TopCA/crl/delta.crl".into()),
        ..sub.urls().clone()
    };
    let ca = topca_core::CertificateAuthority::from_parts(
        SigningKey::from_pkcs8_der(&sub.key().to_pkcs8_der().unwrap()).unwrap(),
        sub.certificate().clone(),
        vec![root.certificate().clone()],
        urls,
        topca_core::Environment::system(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryStore::new();
    let holder_key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let issue = || {
        ca.issue(
            IssueRequest {
                subject: DistinguishedName::with_common_name("delta.example.com"),
                public_key: holder_key.public_key().clone(),
                alt_names: SubjectAltNames::default(),
                not_after: None,
            },
            &Profile::new(ProfileKind::TlsServer, 90).unwrap(),
        )
        .unwrap()
    };
    let (early, late) = (issue(), issue());
    let request = store
        .submit_request(NewRequest {
            reference: topca_core::ra::RequestRef::generate(&topca_core::OsRandom).unwrap(),
            account: AccountId(1),
            kind: RequestKind::ServerApplication,
            holder: Holder {
                name: "delta.example.com".into(),
                email: "ops@example.com".into(),
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
    let issued = [&early, &late]
        .into_iter()
        .inspect(|c| reserve_signed(&store, c))
        .map(|c| CertificateRecord {
            serial: c.serial_hex(),
            account: None,
            request: Some(request.id),
            holder_name: "delta.example.com".into(),
            email: "ops@example.com".into(),
            subject: c.subject_text(),
            issuer: c.issuer_text(),
            usage: CertificateUsage::Server,
            not_before: c.not_before(),
            not_after: c.not_after(),
            status: CertificateStatus::Valid,
            revocation: None,
            der: c.der().to_vec(),
        })
        .collect();
    store
        .commit_request(RequestChange {
            issued,
            ..RequestChange::update(request)
        })
        .unwrap();
    let revoke = |c: &topca_core::Certificate, at: SystemTime| {
        store
            .revoke_certificate(
                &Revocation {
                    serial: c.serial_hex(),
                    at,
                    reason: RevocationReason::KeyCompromise,
                },
                audit_note(AuditAction::CertificateRevoked, &c.serial_hex()),
            )
            .unwrap();
    };
    assert!(
        crl::publish_delta(&ca, &store, Duration::from_secs(3600)).is_err(),
        "no base yet"
    );
    revoke(&early, SystemTime::now() - Duration::from_secs(10));
    let full = crl::publish(&ca, &store, Duration::from_secs(86_400)).unwrap();
    revoke(&late, SystemTime::now() + Duration::from_secs(1));
    let delta = crl::publish_delta(&ca, &store, Duration::from_secs(3600)).unwrap();
    assert_eq!((full.info.number, full.entries), (1, 1));
    assert_eq!(
        (delta.info.number, delta.info.delta_base, delta.entries),
        (2, Some(1), 1)
    );
    assert_eq!(store.latest_crl(true).unwrap().unwrap().der, delta.der);

    let d = dir.path();
    fs::write(d.join("full.pem"), full.to_pem().unwrap()).unwrap();
    fs::write(d.join("delta.pem"), delta.to_pem().unwrap()).unwrap();
    fs::write(d.join("late.pem"), late.to_pem()).unwrap();
    let chain = format!(
        "{}{}",
        ca.certificate().to_pem(),
        root.certificate().to_pem()
    );
    fs::write(d.join("chain.pem"), chain).unwrap();
    let text = openssl(d, &["crl", "-in", "delta.pem", "-noout", "-text"]);
    assert!(text.contains("Delta CRL Indicator: critical"), "{text}");
    assert!(
        text.contains(&format!("Serial Number: {}", late.serial_hex())),
        "{text}"
    );
    assert!(
        !text.contains(&early.serial_hex()),
        "only what changed since the base"
    );
    let cert = openssl(d, &["x509", "-in", "late.pem", "-noout", "-text"]);
    assert!(
        cert.contains("X509v3 Freshest CRL") && cert.contains("delta.crl"),
        "{cert}"
    );
    // The full CRL alone misses the late revocation; with the delta OpenSSL sees it.
    let (ok, _) = openssl_output(
        d,
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            "full.pem",
            "-CAfile",
            "chain.pem",
            "late.pem",
        ],
    );
    assert!(ok, "not on the base CRL");
    let (ok, out) = openssl_output(
        d,
        &[
            "verify",
            "-crl_check",
            "-use_deltas",
            "-CRLfile",
            "full.pem",
            "-CRLfile",
            "delta.pem",
            "-CAfile",
            "chain.pem",
            "late.pem",
        ],
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");
}
