//! The CA's public pages over HTTP: the install page (every download named,
//! with its fingerprint and the instructions per platform) and the CRL page of
//! a CA with more revocations than one page shows (paging, search with
//! metacharacters, page numbers out of range).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{ec_csr, get, options, send, text};
use topca_core::{
    CertificateRequest, DistinguishedName, IssueRequest, Profile, ProfileKind, SubjectAltNames,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    issuance::issue_unattached,
    lifecycle::{CertificateUsage, RevocationReason},
    store::{CertificateStore, Revocation},
};
use topca_server::setup::start;

/// Rows of the revoked table on a CRL page.
fn rows(page: &str) -> usize {
    page.matches(r#"<td class="serial">"#).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crl_page_of_120_revocations_is_paged_and_searched_safely() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    let work = tempfile::tempdir().unwrap();
    let csr = CertificateRequest::parse(ec_csr(work.path(), "many").as_bytes()).unwrap();
    let mut serials = Vec::new();
    for i in 0..120 {
        let certificate = issue_unattached(
            &state.ca,
            &state.store,
            IssueRequest {
                subject: DistinguishedName::with_common_name(format!("host{i}.example.cn")),
                public_key: csr.public_key().clone(),
                alt_names: SubjectAltNames::default(),
                not_after: None,
            },
            &Profile::new(ProfileKind::TlsServer, 30).unwrap(),
            CertificateUsage::Server,
            (Actor::System, "test".into()),
        )
        .unwrap();
        let serial = certificate.serial_hex();
        state
            .store
            .revoke_certificate(
                &Revocation {
                    serial: serial.clone(),
                    at: state.ca.environment().clock().now(),
                    reason: RevocationReason::KeyCompromise,
                },
                AuditRecord {
                    at: state.ca.environment().clock().now(),
                    actor: Actor::System,
                    action: AuditAction::CertificateRevoked,
                    target: serial.clone(),
                    outcome: Outcome::Success,
                    detail: String::new(),
                },
            )
            .unwrap();
        serials.push(serial);
    }
    let app = topca_server::router(Arc::clone(&state));

    let (status, body) = get(&app, "/TopCA/crl").await;
    let first = text(&body);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&first), 100, "one page holds 100 rows");
    assert!(first.contains("共 120 条"), "{first}");
    assert!(first.contains("密钥泄露"), "the reason in Chinese");
    assert!(first.contains(r#"href="/TopCA/crl?page=2" rel="next""#));

    let (_, body) = get(&app, "/TopCA/crl?page=2").await;
    assert_eq!(rows(&text(&body)), 20);
    for (asked, expected) in [("0", 100), ("999999", 20), ("abc", 100), ("-1", 100)] {
        let (status, body) = get(&app, &format!("/TopCA/crl?page={asked}")).await;
        assert_eq!(status, StatusCode::OK, "page={asked}");
        assert_eq!(rows(&text(&body)), expected, "page={asked}");
    }

    // One serial, found by any case of part of it.
    let wanted = &serials[7];
    let (_, body) = get(
        &app,
        &format!("/TopCA/crl?q={}", wanted.to_ascii_lowercase()),
    )
    .await;
    let found = text(&body);
    assert_eq!(rows(&found), 1, "{found}");
    assert!(found.contains(wanted.as_str()));

    // Markup and SQL in the search are neither run nor shown raw.
    let hostile = "%3Cscript%3Ealert(1)%3C%2Fscript%3E%27%20OR%201%3D1--%22%3E";
    let (status, body) = get(&app, &format!("/TopCA/crl?q={hostile}")).await;
    let page = text(&body);
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("OR 1=1"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_install_page_names_every_download_with_instructions_per_platform() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let (status, body) = get(&app, "/TopCA/ca").await;
    let page = text(&body);
    assert_eq!(status, StatusCode::OK);
    for download in [
        "/TopCA/ca/root.cer",
        "/TopCA/ca/issuing.cer",
        "/TopCA/ca/chain.pem",
        "/TopCA/ca/certChain.p7b",
        "/TopCA/crl/current.crl",
    ] {
        assert!(
            page.contains(&format!(r#"href="{download}""#)),
            "{download}"
        );
        let (status, _) = get(&app, download).await;
        assert_eq!(status, StatusCode::OK, "{download}");
    }
    assert!(page.contains(&state.root.sha256_fingerprint()));
    assert!(page.contains(&state.ca.certificate().sha256_fingerprint()));
    for platform in [
        r#"id="windows""#,
        r#"id="macos""#,
        r#"id="linux""#,
        r#"id="firefox""#,
        r#"id="java""#,
        r#"id="openssl""#,
        r#"id="gmssl""#,
        "certutil -addstore",
        "update-ca-certificates",
        "keytool -importcert",
        "受信任的根证书颁发机构",
    ] {
        assert!(page.contains(platform), "{platform} missing");
    }
    assert!(
        !page.contains(r#"id="sm2-note""#),
        "no SM2 note under a P-256 CA"
    );

    // The English page.
    let (_, body, _) = send(
        &app,
        Request::get("/TopCA/ca")
            .header(header::COOKIE, "topca_lang=en")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let english = text(&body);
    assert!(english.contains("Trusted Root Certification Authorities"));
    assert!(!english.contains("受信任"));
}
