//! EST over HTTP: cacerts and csrattrs for anyone; simpleenroll and
//! simplereenroll only with HTTP Basic by a CMP credential (missing, malformed
//! and wrong credentials get one 401), a bad CSR 400, a huge body 413.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use base64::Engine;
use common::{options, send};
use topca_core::{
    CertificateRequest, DistinguishedName, KeyAlgorithm, OsRandom, SigningKey, SystemClock,
    audit::{Actor, AuditAction},
    cmp::credential,
    store::AuditStore,
};
use topca_server::setup::start;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn enrollment_needs_a_credential_and_a_good_csr() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    let (made, secret) = credential::add(
        &state.store,
        &state.master,
        &OsRandom,
        &SystemClock,
        Actor::System,
        state.demo.accounts[1],
    )
    .unwrap();
    let app = topca_server::router(Arc::clone(&state));

    let (status, body, headers) = send(
        &app,
        Request::get("/.well-known/est/cacerts")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/pkcs7-mime")
    );
    let compact: String = String::from_utf8(body)
        .unwrap()
        .split_whitespace()
        .collect();
    let certs = topca_core::pkcs7::parse_certs_only(
        &base64::engine::general_purpose::STANDARD
            .decode(compact)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(certs.len(), 2);
    let (status, _, _) = send(
        &app,
        Request::get("/.well-known/est/csrattrs")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let subject = DistinguishedName {
        common_name: Some("est.example.cn".into()),
        ..Default::default()
    };
    let csr = b64(CertificateRequest::create(&key, &subject).unwrap().der());
    let csr = &csr;
    let enroll = |auth: Option<String>, body: String| {
        let mut request = Request::post("/.well-known/est/simpleenroll")
            .header(header::CONTENT_TYPE, "application/pkcs10");
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        request.body(Body::from(body)).unwrap()
    };
    let basic = |user: &str, password: &str| {
        Some(format!(
            "Basic {}",
            b64(format!("{user}:{password}").as_bytes())
        ))
    };
    for (what, auth) in [
        ("none", None),
        ("wrong secret", basic(&made.reference, "wrong")),
        ("unknown reference", basic("NO-SUCH", secret.as_str())),
        ("not base64", Some("Basic !!!".to_owned())),
        (
            "no colon",
            Some(format!("Basic {}", b64(made.reference.as_bytes()))),
        ),
        ("bearer", Some("Bearer topca_x".to_owned())),
    ] {
        let (status, _, headers) = send(&app, enroll(auth, csr.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(headers.contains_key(header::WWW_AUTHENTICATE), "{what}");
    }
    let good = basic(&made.reference, secret.as_str());
    let (status, _, _) = send(&app, enroll(good.clone(), "bm90IGEgQ1NS".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(&app, enroll(good.clone(), "A".repeat(65 * 1024))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let before = state.store_certificates();
    let (status, body, _) = send(&app, enroll(good, csr.clone())).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let compact: String = String::from_utf8(body)
        .unwrap()
        .split_whitespace()
        .collect();
    let issued = topca_core::pkcs7::parse_certs_only(
        &base64::engine::general_purpose::STANDARD
            .decode(compact)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(issued.len(), 1);
    assert_eq!(state.store_certificates(), before + 1);

    // Server-side key generation: the credential again, a new key.
    let keygen = |auth: Option<String>| {
        let mut request = Request::post("/.well-known/est/serverkeygen");
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        request.body(Body::from(csr.clone())).unwrap()
    };
    let (status, _, _) = send(&app, keygen(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body, headers) = send(&app, keygen(basic(&made.reference, secret.as_str()))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("multipart/mixed")
    );
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("application/pkcs8") && text.contains("smime-type=certs-only"));
    assert_eq!(state.store_certificates(), before + 2);
}

#[tokio::test]
async fn enrollment_under_approval_waits_with_retry_after_for_the_same_credential_only() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    let account = state.demo.accounts[1];
    let mut credentials = Vec::new();
    for _ in 0..2 {
        let (made, secret) = credential::add(
            &state.store,
            &state.master,
            &OsRandom,
            &SystemClock,
            Actor::System,
            account,
        )
        .unwrap();
        credentials.push(format!(
            "Basic {}",
            b64(format!("{}:{}", made.reference, secret.as_str()).as_bytes())
        ));
    }
    let app = topca_server::router(Arc::clone(&state));
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let csr = |email: Option<&str>| {
        let subject = DistinguishedName {
            common_name: Some("est-wait.example.cn".into()),
            email: email.map(str::to_owned),
            ..Default::default()
        };
        b64(CertificateRequest::create(&key, &subject).unwrap().der())
    };
    let enroll = |auth: &str, body: String| {
        Request::post("/.well-known/est/approval/simpleenroll")
            .header(header::AUTHORIZATION, auth)
            .body(Body::from(body))
            .unwrap()
    };
    let (status, _, _) = send(&app, enroll(&credentials[0], csr(None))).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the holder must have an address"
    );
    let with_email = csr(Some("ops@example.cn"));
    for _ in 0..2 {
        let (status, _, headers) = send(&app, enroll(&credentials[0], with_email.clone())).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(headers[header::RETRY_AFTER], "5");
    }
    let pending = topca_core::store::AdminStore::requests_anywhere(
        &state.store,
        topca_core::lifecycle::RequestState::Submitted,
        10,
    )
    .unwrap();
    assert_eq!(pending.len(), 1, "asking again registers nothing more");
    let (status, _, _) = send(&app, enroll(&credentials[1], with_email)).await;
    assert!(
        status.is_client_error(),
        "another credential cannot see it: {status}"
    );
}

trait Count {
    fn store_certificates(&self) -> usize;
}

impl Count for topca_server::AppState {
    fn store_certificates(&self) -> usize {
        topca_core::store::CertificateStore::certificates_by_holder_name(
            &self.store,
            "est.example.cn",
        )
        .unwrap()
        .len()
    }
}

#[tokio::test]
async fn wrong_secrets_are_limited_per_address_and_reference_and_a_revoked_credential_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    let (made, secret) = credential::add(
        &state.store,
        &state.master,
        &OsRandom,
        &SystemClock,
        Actor::System,
        state.demo.accounts[1],
    )
    .unwrap();
    let app = topca_server::router(Arc::clone(&state));
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let subject = DistinguishedName {
        common_name: Some("est.example.cn".into()),
        ..Default::default()
    };
    let csr = b64(CertificateRequest::create(&key, &subject).unwrap().der());
    let enroll = |ip: &str, password: &str| {
        let auth = format!(
            "Basic {}",
            b64(format!("{}:{password}", made.reference).as_bytes())
        );
        common::from_address(
            Request::post("/.well-known/est/simpleenroll")
                .header(header::CONTENT_TYPE, "application/pkcs10")
                .header(header::AUTHORIZATION, auth)
                .body(Body::from(csr.clone()))
                .unwrap(),
            ip,
        )
    };
    // Ten wrong secrets from one address: each 401, then that address waits
    // (429 with Retry-After) even with the right secret.
    for _ in 0..10 {
        let (status, _, _) = send(&app, enroll("192.0.2.7", "wrong")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, headers) = send(&app, enroll("192.0.2.7", secret.as_str())).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    // The holder elsewhere is not locked out.
    let (status, body, _) = send(&app, enroll("198.51.100.9", secret.as_str())).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    // Failures are audited (the limit's moment among them) and counted.
    let entries = state.store.audit_entries().unwrap();
    let failed: Vec<_> = entries
        .iter()
        .filter(|e| e.record.action == AuditAction::RetrievalFailed)
        .collect();
    assert_eq!(failed.len(), 10, "{failed:?}");
    assert!(
        failed
            .iter()
            .any(|e| e.record.detail == "too many wrong secrets from 192.0.2.7")
    );
    let metrics = topca_server::metrics::exposition(&state);
    assert!(
        metrics.contains("topca_shared_secret_failures_total{protocol=\"est\"} 10")
            && metrics.contains("topca_shared_secret_refusals_total{protocol=\"est\"} 1"),
        "{metrics}"
    );
    // Revoked: refused at the next request.
    credential::revoke(
        &state.store,
        &SystemClock,
        Actor::Admin("ra".into()),
        &made.reference,
    )
    .unwrap();
    let (status, _, _) = send(&app, enroll("198.51.100.9", secret.as_str())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
