//! Machine clients over HTTP: `client add` prints a token once; one call to
//! `POST /api/v1/certificates` with it issues, stores and audits a certificate
//! that OpenSSL verifies against the returned chain; missing, wrong and
//! revoked tokens get one answer; the account's and the client's policies,
//! profiles, bad CSRs, huge bodies and 50 concurrent calls are held.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use base64::Engine;
use common::{
    assert_every_certificate_recorded,
    machine::{machine_server, p256_csr, post_bearer},
    openssl, options, send,
};
use topca_core::{
    audit::{Actor, AuditAction},
    ra::{AccountId, AdminRole},
    store::{AuditStore, CertificateStore, ClientStore, OcspStore},
};
use topca_server::machine_clients::{self, ClientSpec};

async fn issue(app: &Router, token: Option<&str>, body: String) -> (StatusCode, serde_json::Value) {
    post_bearer(app, "/api/v1/certificates", token, body).await
}

fn body(csr: &str, profile: Option<&str>) -> String {
    serde_json::json!({ "csr": csr, "profile": profile }).to_string()
}

#[tokio::test]
async fn one_call_issues_a_certificate_openssl_verifies_against_the_chain() {
    let s = machine_server(&["example.com", "example.org"]);
    let token = s.client("web-fleet", s.accounts[0]);
    assert!(
        token.starts_with("topca_") && token.len() == 6 + 43,
        "{token}"
    );
    let csr = p256_csr(
        s.work.path(),
        "web",
        "www.example.com",
        "DNS:api.example.com",
    );
    let (status, answer) = issue(&s.app, Some(&token), body(&csr, None)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let serial = answer["serial"].as_str().unwrap();
    std::fs::write(
        s.work.path().join("leaf.pem"),
        answer["certificate"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(
        s.work.path().join("chain.pem"),
        answer["chain"].as_str().unwrap(),
    )
    .unwrap();
    let verified = openssl(
        s.work.path(),
        &[
            "verify",
            "-CAfile",
            "chain.pem",
            "-purpose",
            "sslserver",
            "leaf.pem",
        ],
    );
    assert!(verified.contains("leaf.pem: OK"), "{verified}");
    let text = openssl(
        s.work.path(),
        &["x509", "-in", "leaf.pem", "-noout", "-text"],
    );
    assert!(
        text.contains("DNS:api.example.com") && text.contains("DNS:www.example.com"),
        "{text}"
    );
    let record = s.state.store.certificate(serial).unwrap().unwrap();
    assert_eq!(record.account, Some(AccountId(s.accounts[0])));
    let entries = s.state.store.audit_entries().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.record.action == AuditAction::ClientAdded
                && e.record.target == "client web-fleet")
    );
    assert!(
        entries
            .iter()
            .any(|e| e.record.action == AuditAction::CertificateIssued
                && e.record.target == serial
                && e.record.actor == Actor::Client("web-fleet".into()))
    );
    assert_every_certificate_recorded(&s.state, 0);
    // The token is never stored: no column holds it.
    let db = std::fs::read(s.data.path().join("topca.db")).unwrap();
    let needle = token.as_bytes();
    assert!(!db.windows(needle.len()).any(|w| w == needle));
}

#[tokio::test]
async fn missing_wrong_and_revoked_tokens_get_one_answer() {
    let s = machine_server(&["example.com", "example.org"]);
    let token = s.client("retired", s.accounts[0]);
    let csr = p256_csr(s.work.path(), "a", "a.example.com", "");
    let mut wrong = token.clone();
    wrong.replace_range(10..11, if &token[10..11] == "A" { "B" } else { "A" });
    let lines = machine_clients::revoke(&options(s.data.path()), "retired").unwrap();
    assert!(lines.contains("revoked"), "{lines}");
    let listed = machine_clients::list(&options(s.data.path())).unwrap();
    // (The demo data's ACME profile, the client `acme`, is listed too.)
    assert!(
        listed
            .iter()
            .any(|l| l.contains("retired") && l.contains("revoked")),
        "{listed:?}"
    );
    let mut answers = Vec::new();
    for presented in [
        None,
        Some(""),
        Some("topca_"),
        Some(wrong.as_str()),
        Some(token.as_str()),
        Some("<script>"),
        Some(&*"x".repeat(10_000)),
    ] {
        let (status, answer) = issue(&s.app, presented, body(&csr, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{presented:?}: {answer}");
        answers.push((answer["code"].clone(), answer["detail"].clone()));
        // The token is checked before the CSR is read: a caller without a
        // live token learns nothing of its CSR, and costs no signature check.
        let (status, answer) = issue(&s.app, presented, body("not a CSR", None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{presented:?}: {answer}");
        answers.push((answer["code"].clone(), answer["detail"].clone()));
    }
    answers.dedup();
    assert_eq!(answers.len(), 1, "{answers:?}");
    // Revoking twice, or an unknown client, is refused.
    assert!(machine_clients::revoke(&options(s.data.path()), "retired").is_err());
    assert!(machine_clients::revoke(&options(s.data.path()), "nobody").is_err());
    assert_eq!(assert_every_certificate_recorded(&s.state, 0), s.before);
}

#[tokio::test]
async fn policy_profile_and_csr_are_checked() {
    let s = machine_server(&["example.com", "example.org"]);
    let ours = s.client("ours", s.accounts[0]);
    let theirs = s.client("theirs", s.accounts[1]);
    let narrow = s.add(ClientSpec {
        name: "narrow".into(),
        account: s.accounts[0],
        allowed_names: "int.example.com".into(),
        validity_days: Some(30),
        ..ClientSpec::default()
    });
    let dir = s.work.path();
    let com = p256_csr(dir, "com", "www.example.com", "");
    let outside = p256_csr(dir, "out", "www.example.com", "DNS:www.evil.net");
    // Another account's token: its policy refuses our names.
    let (status, answer) = issue(&s.app, Some(&theirs), body(&com, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("www.example.com"),
        "{answer}"
    );
    let (status, answer) = issue(&s.app, Some(&ours), body(&outside, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("www.evil.net"),
        "{answer}"
    );
    // The client's own suffixes narrow the account's policy; its validity too.
    let (status, _) = issue(&s.app, Some(&narrow), body(&com, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let inner = p256_csr(dir, "int", "db.int.example.com", "");
    let (status, answer) = issue(&s.app, Some(&narrow), body(&inner, None)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let record = s
        .state
        .store
        .certificate(answer["serial"].as_str().unwrap())
        .unwrap()
        .unwrap();
    let days = record
        .not_after
        .duration_since(record.not_before)
        .unwrap()
        .as_secs()
        / 86_400;
    assert!(days <= 30, "{days}");
    // Profiles: unknown, or not the client's.
    let (status, _) = issue(&s.app, Some(&ours), body(&com, Some("sub-ca"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, answer) = issue(&s.app, Some(&ours), body(&com, Some("tls-client"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    // A CSR whose signature does not verify, and one that is not a CSR.
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            com.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    let mut broken = der.clone();
    let last = broken.len() - 3;
    broken[last] ^= 0x55;
    let broken = format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        base64::engine::general_purpose::STANDARD.encode(broken)
    );
    for bad in [broken.as_str(), "not a csr", ""] {
        let (status, answer) = issue(&s.app, Some(&ours), body(bad, None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    }
    // Unknown fields, a huge body, no JSON.
    let (status, _) = issue(&s.app, Some(&ours), r#"{"csr":"x","admin":true}"#.into()).await;
    assert!(status.is_client_error());
    let (status, _) = issue(&s.app, Some(&ours), body(&"A".repeat(200_000), None)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = issue(&s.app, Some(&ours), "{".into()).await;
    assert!(status.is_client_error());
    assert_eq!(assert_every_certificate_recorded(&s.state, 0), s.before + 1);
}

#[tokio::test]
async fn the_route_and_its_token_scheme_are_described() {
    let s = machine_server(&["example.com", "example.org"]);
    let (status, body) = common::get(&s.app, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let description: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let post = &description["paths"]["/api/v1/certificates"]["post"];
    for status in ["201", "400", "401", "403", "413"] {
        assert!(post["responses"][status].is_object(), "{status}: {post}");
    }
    assert!(description["components"]["securitySchemes"]["client_token"].is_object());
}

#[tokio::test]
async fn bad_client_specs_are_refused() {
    let s = machine_server(&["example.com", "example.org"]);
    let o = options(s.data.path());
    for spec in [
        ClientSpec {
            name: "1bad".into(),
            account: s.accounts[0],
            ..ClientSpec::default()
        },
        ClientSpec {
            name: "ok".into(),
            account: 999,
            ..ClientSpec::default()
        },
        ClientSpec {
            name: "ok".into(),
            account: s.accounts[0],
            profiles: "root".into(),
            ..ClientSpec::default()
        },
        ClientSpec {
            name: "ok".into(),
            account: s.accounts[0],
            allowed_names: "com".into(),
            ..ClientSpec::default()
        },
        ClientSpec {
            name: "ok".into(),
            account: s.accounts[0],
            validity_days: Some(366),
            ..ClientSpec::default()
        },
    ] {
        assert!(machine_clients::add(&o, &spec).is_err(), "{spec:?}");
    }
    s.client("twice", s.accounts[0]);
    assert!(
        machine_clients::add(
            &o,
            &ClientSpec {
                name: "twice".into(),
                account: s.accounts[0],
                ..ClientSpec::default()
            }
        )
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_calls_issue_fifty_distinct_stored_certificates() {
    let s = machine_server(&["example.com", "example.org"]);
    let token = s.client("burst", s.accounts[0]);
    let csr = p256_csr(s.work.path(), "burst", "burst.example.com", "");
    let calls = (0..50).map(|_| {
        let (app, token, body) = (s.app.clone(), token.clone(), body(&csr, None));
        tokio::spawn(async move { issue(&app, Some(&token), body).await })
    });
    let mut serials = Vec::new();
    for call in calls {
        let (status, answer) = call.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        serials.push(answer["serial"].as_str().unwrap().to_owned());
    }
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 50);
    assert_eq!(
        assert_every_certificate_recorded(&s.state, 0),
        s.before + 50
    );
    // Each certificate's OCSP response was signed with it and stored in its
    // transaction, and is kept in memory: no background round ran.
    let now = std::time::SystemTime::now();
    for serial in &serials {
        let stored = s.state.store.ocsp_response(serial).unwrap().unwrap();
        assert!(!stored.revoked && stored.next_update > now, "{serial}");
        let kept = s.state.ocsp_presigned.cache.valid(serial, now).unwrap();
        assert_eq!(&kept.der[..], &stored.der[..], "{serial}");
    }
}

/// Concurrent single calls are issued in groups (one reservation and one
/// storing transaction for the calls of the same moment): calls of two
/// clients of two accounts, some of them refused by their account's policy,
/// each get their own answer, and every certificate is recorded before it
/// was signed and audited under its own client.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_of_two_clients_each_get_their_own_answer() {
    // Calls issued together are authenticated and read one by one: live and
    // revoked tokens, good and bad CSRs mixed in one group each get their own
    // answer.
    let s = machine_server(&["example.com", "example.org"]);
    let ours = s.client("fleet-com", s.accounts[0]);
    let theirs = s.client("fleet-org", s.accounts[1]);
    let dir = s.work.path();
    let com = p256_csr(dir, "com", "api.example.com", "");
    let org = p256_csr(dir, "org", "api.example.org", "");
    let retired = s.client("retired", s.accounts[0]);
    machine_clients::revoke(&options(s.data.path()), "retired").unwrap();
    let garbage =
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n".to_owned();
    let unknown = format!("topca_{}", "A".repeat(43));
    // (token, CSR, the name it must get, or the refusal's status: the
    // account's policy, a CSR that does not parse, a revoked or unknown token)
    let asks = [
        (&ours, &com, Ok("api.example.com")),
        (&theirs, &org, Ok("api.example.org")),
        (&theirs, &com, Err(StatusCode::BAD_REQUEST)),
        (&ours, &org, Err(StatusCode::BAD_REQUEST)),
        (&ours, &garbage, Err(StatusCode::BAD_REQUEST)),
        (&retired, &com, Err(StatusCode::UNAUTHORIZED)),
        (&unknown, &com, Err(StatusCode::UNAUTHORIZED)),
        (&unknown, &garbage, Err(StatusCode::UNAUTHORIZED)),
    ];
    let calls: Vec<_> = (0..80)
        .map(|i| {
            let (token, csr, expected) = asks[i % asks.len()];
            let (app, token, body) = (s.app.clone(), token.clone(), body(csr, None));
            let call = tokio::spawn(async move { issue(&app, Some(&token), body).await });
            (call, expected)
        })
        .collect();
    let mut serials = Vec::new();
    for (call, expected) in calls {
        let (status, answer) = call.await.unwrap();
        let name = match expected {
            Ok(name) => name,
            Err(refused) => {
                assert_eq!(status, refused, "{answer}");
                continue;
            }
        };
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let serial = answer["serial"].as_str().unwrap().to_owned();
        let record = s.state.store.certificate(&serial).unwrap().unwrap();
        assert!(record.subject.contains(name), "{} {name}", record.subject);
        serials.push(serial);
    }
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 20);
    assert_eq!(
        assert_every_certificate_recorded(&s.state, 0),
        s.before + 20
    );
    let entries = s.state.store.audit_entries().unwrap();
    for (client, name) in [("fleet-com", "example.com"), ("fleet-org", "example.org")] {
        let issued = entries
            .iter()
            .filter(|e| {
                e.record.action == AuditAction::CertificateIssued
                    && e.record.actor == Actor::Client(client.into())
            })
            .count();
        assert_eq!(issued, 10, "{client} {name}");
    }
}

/// A console request with the session cookie of `token`.
fn console(method: &str, uri: &str, token: &str, body: String) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, format!("topca_admin={token}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn the_ra_console_lists_clients_and_revokes_with_the_session_csrf_token() {
    let s = machine_server(&["example.com", "example.org"]);
    common::admins(
        &s.state,
        &[
            ("ra-admin", AdminRole::RaAdmin),
            ("kmc-admin", AdminRole::KmcAdmin),
        ],
    );
    let token = s.client("console-demo", s.accounts[0]);
    let ra = common::token(&s.app, "ra-admin", common::ADMIN_PASSWORD).await;
    let kmc = common::token(&s.app, "kmc-admin", common::ADMIN_PASSWORD).await;
    // Only RA administrators see the list.
    let (status, _, _) = send(
        &s.app,
        console("GET", "/TopCA/admin/ra/clients", "none", String::new()),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "to the log-in page");
    let (status, _, _) = send(
        &s.app,
        console("GET", "/TopCA/admin/ra/clients", &kmc, String::new()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page, _) = send(
        &s.app,
        console(
            "GET",
            "/TopCA/admin/ra/clients?page=999999999999",
            &ra,
            String::new(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = common::text(&page);
    assert!(
        page.contains("console-demo") && page.contains("机器客户端"),
        "{page}"
    );
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let id = s.state.store.count_clients().unwrap();
    let uri = format!("/TopCA/admin/ra/clients/{id}/revoke");
    // A forged form (wrong CSRF token) and a KMC administrator change nothing.
    let (status, _, _) = send(&s.app, console("POST", &uri, &ra, "csrf=forged".into())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(&s.app, console("POST", &uri, &kmc, format!("csrf={csrf}"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let csr = p256_csr(s.work.path(), "c", "c.example.com", "");
    let (status, _) = issue(&s.app, Some(&token), body(&csr, None)).await;
    assert_eq!(status, StatusCode::CREATED);
    // The RA administrator revokes: the token stops working at once, audited.
    let (status, page, _) = send(&s.app, console("POST", &uri, &ra, format!("csrf={csrf}"))).await;
    assert_eq!(status, StatusCode::OK, "{}", common::text(&page));
    assert!(common::text(&page).contains("client-revoked"));
    let (status, _) = issue(&s.app, Some(&token), body(&csr, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let entries = s.state.store.audit_entries().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.record.action == AuditAction::ClientRevoked
                && e.record.actor == Actor::Admin("ra-admin".into()))
    );
    // Again, or a guessed number: refused.
    let (status, _, _) = send(&s.app, console("POST", &uri, &ra, format!("csrf={csrf}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(
        &s.app,
        console(
            "POST",
            "/TopCA/admin/ra/clients/987654/revoke",
            &ra,
            format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
