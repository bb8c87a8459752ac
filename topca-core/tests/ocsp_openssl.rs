//! The OCSP responder answered to `openssl ocsp`: good before and revoked after a
//! revocation, unknown for a stranger, revoked (certificateHold, 1970) for a
//! serial recorded for signing but never stored, the nonce echoed, malformed
//! requests answered with `malformedRequest`; pre-signed responses (RFC 5019)
//! chosen only for requests without a nonce, verified (SM2 by TopCA's own
//! verifier), renewed and expired by the CA's clock, replaced on revocation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{
    fs,
    path::Path,
    time::{Duration, SystemTime},
};

use common::{audit_note, cas, openssl, reserve_signed};
use topca_core::{
    Certificate, CertificateAuthority, DistinguishedName, IssueRequest, KeyAlgorithm, KeyKind,
    OsRandom, Profile, ProfileKind, SigningKey, SubjectAltNames,
    audit::{Actor, AuditAction},
    issuance::{Requester, sign_recorded},
    lifecycle::{CertificateUsage, RequestKind, RevocationReason},
    memory::MemoryStore,
    ocsp::{OcspResponder, OcspSigner},
    ra::{AccountId, Holder},
    store::{
        CertificateRecord, CertificateStatus, CertificateStore, IssuanceStore, NewRequest, Opening,
        RequestChange, RequestStore, Revocation,
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
        .inspect(|c| reserve_signed(store, c))
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
        // Recorded and signed, but never stored: the flow stopped in between.
        let unfinished = sign_recorded(
            sub,
            &store,
            IssueRequest {
                subject: DistinguishedName::with_common_name("unfinished.example.com"),
                public_key: SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom)
                    .unwrap()
                    .public_key()
                    .clone(),
                alt_names: SubjectAltNames::default(),
                not_after: None,
            },
            &Profile::new(ProfileKind::TlsServer, 90).unwrap(),
            &Requester {
                actor: Actor::Admin("ra".into()),
                account: None,
                request: None,
            },
        )
        .unwrap();
        fs::write(d.join("unfinished.pem"), unfinished.to_pem()).unwrap();

        let signer = OcspSigner::issue(sub, &store, algorithm, 30).unwrap();
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
            .revoke_certificate(
                &Revocation {
                    serial: leaf.serial_hex(),
                    at: SystemTime::now(),
                    reason: RevocationReason::KeyCompromise,
                },
                audit_note(AuditAction::CertificateRevoked, &leaf.serial_hex()),
            )
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

        // RFC 6960 §2.2: a serial that may have been signed but was never issued.
        let report = ask(d, &responder, "unfinished.pem", verify);
        assert!(
            report.contains("unfinished.pem: revoked")
                && report.contains("Reason: certificateHold")
                && report.contains("Revocation Time: Jan  1 00:00:00 1970 GMT"),
            "{algorithm:?}: {report}"
        );
        let open = store.unfinished_issuances(10).unwrap();
        assert!(
            open.len() == 1 && open[0].serial == unfinished.serial_hex(),
            "{algorithm:?}: {open:?}"
        );
    }
}

#[test]
fn a_responder_is_rebuilt_from_its_own_key_and_certificate_only() {
    let (_, _, sub) = &cas()[0];
    let (_, _, other_ca) = &cas()[1];
    let store = MemoryStore::new();
    let signer = OcspSigner::issue(sub, &store, KeyAlgorithm::EcdsaP256, 30).unwrap();
    let other = OcspSigner::issue(sub, &store, KeyAlgorithm::EcdsaP256, 30).unwrap();
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
    let signer = OcspSigner::issue(sub, &store, KeyAlgorithm::EcdsaP256, 30).unwrap();
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

/// A clock the test moves.
struct Steps(std::sync::Mutex<SystemTime>);

impl topca_core::Clock for Steps {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

impl Steps {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

/// One DER element of `der`: its content, and what follows it.
fn element(der: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let (len, header) = match der[1] {
        n if n < 0x80 => (usize::from(n), 2),
        n => {
            let count = usize::from(n & 0x7F);
            let len = der[2..2 + count]
                .iter()
                .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
            (len, 2 + count)
        }
    };
    (
        &der[header..header + len],
        &der[..header + len],
        &der[header + len..],
    )
}

/// The signed part and the signature of a successful OCSPResponse.
fn tbs_and_signature(response: &[u8]) -> (&[u8], &[u8]) {
    let (body, _, _) = element(response);
    let (_, _, after_status) = element(body);
    let (bytes, _, _) = element(after_status); // [0] EXPLICIT
    let (bytes, _, _) = element(bytes); // ResponseBytes
    let (_, _, after_type) = element(bytes);
    let (basic, _, _) = element(after_type); // OCTET STRING
    let (basic, _, _) = element(basic);
    let (_, tbs, rest) = element(basic);
    let (_, _, rest) = element(rest); // signatureAlgorithm
    let (bits, _, _) = element(rest);
    (tbs, &bits[1..])
}

#[test]
fn presigned_responses_answer_without_nonce_and_roll_over_by_the_clock() {
    for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Sm2] {
        let clock = std::sync::Arc::new(Steps(std::sync::Mutex::new(SystemTime::now())));
        let env = topca_core::Environment::new(clock.clone(), std::sync::Arc::new(OsRandom));
        let root = CertificateAuthority::create_root(
            SigningKey::generate(algorithm, &OsRandom).unwrap(),
            &DistinguishedName::with_common_name(format!("Presigned Root {algorithm}")),
            &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
            env,
        )
        .unwrap();
        let sub = root
            .create_subordinate(
                SigningKey::generate(algorithm, &OsRandom).unwrap(),
                &DistinguishedName::with_common_name(format!("Presigned Issuing {algorithm}")),
                &Profile::sub_ca(1825, 0).unwrap(),
                common::test_urls(),
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("issuer.pem"), sub.certificate().to_pem()).unwrap();
        fs::write(d.join("root.pem"), root.certificate().to_pem()).unwrap();
        let store = MemoryStore::new();
        let leaf = issue(&sub, "presigned.example.com");
        store_issued(&store, &[&leaf]);
        fs::write(d.join("leaf.pem"), leaf.to_pem()).unwrap();
        let signer = OcspSigner::issue(&sub, &store, algorithm, 30).unwrap();
        let hour = Duration::from_secs(3600);
        let responder = OcspResponder::new(&sub, &signer, &store, hour);

        // Which requests a pre-signed response answers: one SHA-1 CertID of
        // this CA, no nonce.
        // Options before `-cert` (a digest must be), then after it.
        let req = |name: &str, extra: &[&str]| {
            let mut args = vec!["ocsp", "-no_nonce", "-issuer", "issuer.pem"];
            args.extend_from_slice(extra);
            args.extend(["-cert", "leaf.pem", "-reqout", name]);
            openssl(d, &args);
            fs::read(d.join(name)).unwrap()
        };
        let plain = req("plain.der", &[]);
        assert_eq!(responder.presigned_serial(&plain), Some(leaf.serial_hex()));
        assert_eq!(
            responder.presigned_serial(&req("nonce.der", &["-nonce"])),
            None
        );
        let sha256 = req("sha256.der", &["-sha256"]);
        assert_eq!(responder.presigned_serial(&sha256), None);
        let two = req("two.der", &["-cert", "issuer.pem"]);
        assert_eq!(responder.presigned_serial(&two), None);
        assert_eq!(responder.presigned_serial(b"junk"), None);
        assert_eq!(responder.presign("0123").unwrap(), None);

        let start = topca_core::Clock::now(&*clock);
        let first = responder.presign(&leaf.serial_hex()).unwrap().unwrap();
        let whole = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(whole(first.this_update), whole(start));
        assert_eq!(first.next_update, first.this_update + hour);
        assert!(!first.revoked);
        // Signed by the responder: checked by OpenSSL, and by TopCA's own
        // verifier (OpenSSL 3.0 checks SM2 with another signer ID).
        let (tbs, signature) = tbs_and_signature(&first.der);
        signer
            .certificate()
            .public_key()
            .unwrap()
            .verify(signer.key().signature_algorithm(), tbs, signature)
            .unwrap();
        fs::write(d.join("resp.der"), &first.der).unwrap();
        let mut args = vec![
            "ocsp",
            "-issuer",
            "issuer.pem",
            "-cert",
            "leaf.pem",
            "-respin",
            "resp.der",
            "-no_nonce",
        ];
        let sm2 = algorithm == KeyAlgorithm::Sm2;
        if sm2 {
            args.push("-noverify");
        } else {
            args.extend(["-CAfile", "root.pem", "-verify_other", "issuer.pem"]);
        }
        let report = openssl(d, &args);
        assert!(report.contains("leaf.pem: good"), "{algorithm:?}: {report}");
        assert!(sm2 || report.contains("Response verify OK"), "{report}");

        // Kept; due from half its validity; no longer served at nextUpdate.
        let cache = topca_core::ocsp::OcspCache::new(8);
        let kept = cache.put(first.clone()).unwrap();
        clock.advance(hour / 2);
        let now = topca_core::Clock::now(&*clock);
        assert!(kept.due_at(now) && kept.valid_at(now));
        let renewed = responder.presign(&leaf.serial_hex()).unwrap().unwrap();
        assert!(renewed.this_update > first.this_update);
        let renewed = cache.put(renewed).unwrap();
        assert_ne!(renewed.etag, kept.etag);
        clock.advance(hour / 2);
        let now = topca_core::Clock::now(&*clock);
        assert!(
            !kept.valid_at(now),
            "the first one expired at its nextUpdate"
        );
        assert_eq!(cache.valid(&leaf.serial_hex(), now), Some(renewed.clone()));

        // Revoked: signed anew, it replaces the good one.
        store
            .revoke_certificate(
                &Revocation {
                    serial: leaf.serial_hex(),
                    at: now,
                    reason: RevocationReason::KeyCompromise,
                },
                audit_note(AuditAction::CertificateRevoked, &leaf.serial_hex()),
            )
            .unwrap();
        clock.advance(Duration::from_secs(1));
        let revoked = responder.presign(&leaf.serial_hex()).unwrap().unwrap();
        assert!(revoked.revoked);
        let served = cache.put(revoked.clone()).unwrap();
        assert!(served.revoked);
        fs::write(d.join("resp.der"), &revoked.der).unwrap();
        // Its thisUpdate is an hour ahead of OpenSSL's clock.
        args.extend(["-validity_period", "7200"]);
        let report = openssl(d, &args);
        assert!(
            report.contains("leaf.pem: revoked"),
            "{algorithm:?}: {report}"
        );
    }
}
