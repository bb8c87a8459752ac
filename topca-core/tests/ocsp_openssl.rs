//! The OCSP responder answered to `openssl ocsp`: good before and revoked after a
//! revocation, unknown for a stranger, the nonce echoed, malformed requests
//! answered with `malformedRequest`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{
    fs,
    path::Path,
    time::{Duration, SystemTime},
};

use common::{cas, openssl};
use topca_core::{
    Certificate, CertificateAuthority, DistinguishedName, IssueRequest, KeyAlgorithm, KeyKind,
    OsRandom, Profile, ProfileKind, SigningKey, SubjectAltNames,
    lifecycle::{CertificateUsage, RequestKind, RevocationReason},
    memory::MemoryStore,
    ocsp::{OcspResponder, OcspSigner},
    ra::{AccountId, Holder},
    store::{
        CertificateRecord, CertificateStatus, CertificateStore, NewRequest, Opening, RequestChange,
        RequestStore, Revocation,
    },
};

fn issue(ca: &CertificateAuthority, name: &str) -> Certificate {
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    ca.issue(
        IssueRequest {
            subject: DistinguishedName::with_common_name(name),
            public_key: key.public_key().clone(),
            alt_names: SubjectAltNames::default(),
            not_after: None,
        },
        &Profile::new(ProfileKind::TlsServer, 90).unwrap(),
    )
    .unwrap()
}

fn store_issued(store: &MemoryStore, certificates: &[&Certificate]) {
    let request = store
        .submit_request(NewRequest {
            reference: topca_core::ra::RequestRef::generate(&topca_core::OsRandom).unwrap(),
            account: AccountId(1),
            kind: RequestKind::ServerApplication,
            holder: Holder {
                name: "ocsp.example.com".into(),
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
    let issued = certificates
        .iter()
        .map(|c| CertificateRecord {
            serial: c.serial_hex(),
            account: None,
            request: Some(request.id),
            holder_name: "ocsp.example.com".into(),
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
}

/// Asks OpenSSL for a request about `cert`, answers it, and has OpenSSL read the
/// answer; returns OpenSSL's report.
fn ask(dir: &Path, responder: &OcspResponder<'_>, cert: &str, verify: bool) -> String {
    openssl(
        dir,
        &[
            "ocsp",
            "-issuer",
            "issuer.pem",
            "-cert",
            cert,
            "-reqout",
            "req.der",
        ],
    );
    let request = fs::read(dir.join("req.der")).unwrap();
    let response = responder.respond(&request);
    // The request's nonce (extension id-pkix-ocsp-nonce) comes back unchanged.
    let nonce_oid = [
        0x06, 0x09, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02,
    ];
    let at = request
        .windows(nonce_oid.len())
        .position(|w| w == nonce_oid)
        .expect("OpenSSL sends a nonce");
    let nonce_ext = &request[at..at + nonce_oid.len() + 2 + usize::from(request[at + 12])];
    assert!(
        response.windows(nonce_ext.len()).any(|w| w == nonce_ext),
        "the nonce is echoed"
    );
    fs::write(dir.join("resp.der"), response).unwrap();
    // Reading the saved response, OpenSSL builds a new request with a new nonce:
    // `-no_nonce` keeps it from comparing the two (the echo was checked above).
    let mut args = vec![
        "ocsp",
        "-issuer",
        "issuer.pem",
        "-cert",
        cert,
        "-respin",
        "resp.der",
        "-resp_text",
        "-no_nonce",
    ];
    if verify {
        args.extend(["-CAfile", "root.pem", "-verify_other", "issuer.pem"]);
    } else {
        args.push("-noverify");
    }
    openssl(dir, &args)
}

#[test]
fn openssl_sees_good_then_revoked_and_unknown() {
    for algorithm in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Sm2,
    ] {
        let (_, root, sub) = cas().iter().find(|(a, ..)| *a == algorithm).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("issuer.pem"), sub.certificate().to_pem()).unwrap();
        fs::write(d.join("root.pem"), root.certificate().to_pem()).unwrap();
        let store = MemoryStore::new();
        let (leaf, stranger) = (issue(sub, "leaf.example.com"), issue(sub, "never.stored"));
        store_issued(&store, &[&leaf]);
        fs::write(d.join("leaf.pem"), leaf.to_pem()).unwrap();
        fs::write(d.join("stranger.pem"), stranger.to_pem()).unwrap();

        let signer = OcspSigner::issue(sub, algorithm, 30).unwrap();
        assert!(!signer.due_for_rotation(SystemTime::now()));
        assert!(signer.due_for_rotation(SystemTime::now() + Duration::from_secs(21 * 86_400)));
        let responder = OcspResponder::new(sub, &signer, &store, Duration::from_secs(3600));
        // OpenSSL 3.0 checks SM2 signatures with the empty signer ID (see README),
        // so SM2 responses are read without signature verification.
        let verify = sub.key().public_key().kind() != KeyKind::Sm2;

        let report = ask(d, &responder, "leaf.pem", verify);
        assert!(report.contains("leaf.pem: good"), "{algorithm:?}: {report}");
        assert!(
            report.contains("OCSP Nonce"),
            "{algorithm:?}: nonce echoed: {report}"
        );
        assert!(report.contains("OCSP No Check"), "{algorithm:?}: {report}");
        if verify {
            assert!(
                report.contains("Response verify OK"),
                "{algorithm:?}: {report}"
            );
        }

        store
            .revoke_certificate(&Revocation {
                serial: leaf.serial_hex(),
                at: SystemTime::now(),
                reason: RevocationReason::KeyCompromise,
            })
            .unwrap();
        let report = ask(d, &responder, "leaf.pem", verify);
        assert!(
            report.contains("leaf.pem: revoked"),
            "{algorithm:?}: {report}"
        );
        assert!(
            report.contains("Reason: keyCompromise"),
            "{algorithm:?}: {report}"
        );

        let report = ask(d, &responder, "stranger.pem", verify);
        assert!(
            report.contains("stranger.pem: unknown"),
            "{algorithm:?}: {report}"
        );
    }
}

#[test]
fn a_responder_is_rebuilt_from_its_own_key_and_certificate_only() {
    let (_, _, sub) = &cas()[0];
    let (_, _, other_ca) = &cas()[1];
    let signer = OcspSigner::issue(sub, KeyAlgorithm::EcdsaP256, 30).unwrap();
    let other = OcspSigner::issue(sub, KeyAlgorithm::EcdsaP256, 30).unwrap();
    let key =
        |s: &OcspSigner| SigningKey::from_pkcs8_der(&s.key().to_pkcs8_der().unwrap()).unwrap();
    let rebuilt = OcspSigner::from_parts(sub, key(&signer), signer.certificate().clone()).unwrap();
    assert_eq!(rebuilt.certificate().der(), signer.certificate().der());
    assert!(
        OcspSigner::from_parts(sub, key(&other), signer.certificate().clone()).is_err(),
        "another responder's key was taken with this certificate"
    );
    assert!(
        OcspSigner::from_parts(other_ca, key(&signer), signer.certificate().clone()).is_err(),
        "a certificate of another CA was taken"
    );
}

#[test]
fn malformed_requests_get_malformed_request() {
    let (_, _, sub) = &cas()[0];
    let store = MemoryStore::new();
    let signer = OcspSigner::issue(sub, KeyAlgorithm::EcdsaP256, 30).unwrap();
    let responder = OcspResponder::new(sub, &signer, &store, Duration::from_secs(3600));
    for junk in [
        &b""[..],
        b"\x30\x00",
        b"GET / HTTP/1.1",
        &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
    ] {
        assert_eq!(
            responder.respond(junk),
            [0x30, 0x03, 0x0A, 0x01, 0x01],
            "{junk:?}"
        );
    }
    // An empty request list is malformed too.
    let empty = [0x30, 0x04, 0x30, 0x02, 0x30, 0x00];
    assert_eq!(responder.respond(&empty), [0x30, 0x03, 0x0A, 0x01, 0x01]);
}
