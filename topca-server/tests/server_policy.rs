//! Server certificate policy over HTTP: every name that would be signed is
//! shown to the RA (page and API) exactly as the issued certificate carries it;
//! each account's policy (domains, wildcards, IP addresses, most names) refuses
//! the rest at submission and again at approval; weak holder keys are refused;
//! only RA administrators change the policy, and every change is audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, sync::Arc};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{ADMIN_PASSWORD, CSRF, admins, form, log_in, openssl, options, send};
use topca_core::{
    KeyAlgorithm,
    audit::{Actor, AuditAction},
    lifecycle::{CertificateType, RequestState, VerificationMode},
    ra::{AccountSettings, AdminRole, Administrator, Language, RequestId},
    store::{AdminStore, AuditStore, CertificateStore, RequestStore},
};
use topca_server::{AppState, setup::start, url_encode};

struct Server {
    _data: tempfile::TempDir,
    work: tempfile::TempDir,
    state: Arc<AppState>,
    app: Router,
    /// A server account (administrator approval) of its own.
    account: u64,
    /// The bearer token of an RA administrator.
    ra: String,
}

/// A fresh server with an RA and a KMC administrator and a server account whose
/// policy is still the default.
async fn server() -> Server {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    admins(
        &state,
        &[
            ("ra-审核员", AdminRole::RaAdmin),
            ("kmc-only", AdminRole::KmcAdmin),
        ],
    );
    let ops = Administrator {
        name: "ra-审核员".into(),
        roles: vec![AdminRole::RaAdmin],
    }
    .ra_ops()
    .unwrap();
    let account = state
        .ra()
        .create_account(
            &ops,
            AccountSettings {
                organization: "天诚安信".into(),
                unit: "运维部".into(),
                certificate_type: CertificateType::Single,
                verification: VerificationMode::Manual,
                algorithm: KeyAlgorithm::EcdsaP256,
                validity_days: 365,
                service_url: "http://127.0.0.1:8080/TopCA/serverEnroll".into(),
                language: Language::Chinese,
            },
        )
        .unwrap()
        .id
        .0;
    let app = topca_server::router(Arc::clone(&state));
    let (status, login) = log_in(&app, "ra-审核员", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    Server {
        _data: data,
        work: tempfile::tempdir().unwrap(),
        state,
        app,
        account,
        ra: login["token"].as_str().unwrap().to_owned(),
    }
}

/// Sends `json` (if any) with `token` as the bearer: the status and the JSON answer.
async fn send_as(
    app: &Router,
    token: &str,
    method: &str,
    uri: &str,
    body: Option<String>,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, Body::from))
        .unwrap();
    let (status, body, _) = send(app, request).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// A CSR made by OpenSSL in `dir` with a key from `genpkey` `key_args`.
fn csr(dir: &Path, name: &str, key_args: &[&str], subject: &str, san: Option<&str>) -> String {
    let (key, out) = (format!("{name}.key"), format!("{name}.csr"));
    let mut args = vec!["genpkey"];
    args.extend(key_args);
    args.extend(["-out", &key]);
    openssl(dir, &args);
    let addext = san.map(|s| format!("subjectAltName={s}"));
    let mut args = vec!["req", "-new", "-key", &key, "-subj", subject, "-out", &out];
    if let Some(addext) = &addext {
        args.extend(["-addext", addext]);
    }
    openssl(dir, &args);
    std::fs::read_to_string(dir.join(out)).unwrap()
}

const P256: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];

impl Server {
    /// Applies for a server certificate through the API: status and answer.
    async fn apply(&self, csr: &str) -> (StatusCode, serde_json::Value) {
        let body = serde_json::json!({
            "csr": csr,
            "email": "ops@example.cn",
            "password": "server-pass-1",
            "agreement_accepted": true,
        });
        send_as(
            &self.app,
            "",
            "POST",
            &format!("/api/v1/accounts/{}/server-applications", self.account),
            Some(body.to_string()),
        )
        .await
    }

    /// Sets the account's policy as the RA administrator; the status and answer.
    async fn set_policy(&self, policy: serde_json::Value) -> (StatusCode, serde_json::Value) {
        send_as(
            &self.app,
            &self.ra,
            "PUT",
            &format!("/api/v1/admin/accounts/{}/server-policy", self.account),
            Some(policy.to_string()),
        )
        .await
    }

    async fn allow_example_cn(&self) {
        let (status, saved) = self
            .set_policy(serde_json::json!({
                "allowed_domains": ["example.cn"],
                "allow_wildcards": false,
                "allow_ip_addresses": true,
            }))
            .await;
        assert_eq!(status, StatusCode::OK, "{saved}");
    }
}

fn error_of(answer: &serde_json::Value) -> &str {
    answer["detail"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extra_wildcard_san_for_another_domain_is_refused_by_name() {
    let s = server().await;
    s.allow_example_cn().await;
    let sneaky = csr(
        s.work.path(),
        "sneaky",
        P256,
        "/CN=www.example.cn",
        Some("DNS:www.example.cn,DNS:*.evil.com"),
    );
    let (status, answer) = s.apply(&sneaky).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(error_of(&answer).contains("\"*.evil.com\""), "{answer}");

    // The same through the page: refused, the name in the message.
    let (status, body, _) = send(
        &s.app,
        form(
            "/TopCA/serverEnroll/apply",
            format!(
                "csrf={CSRF}&account={}&csr={}&email=ops%40example.cn&password=server-pass-1&agree=1",
                s.account,
                url_encode(&sneaky)
            ),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("*.evil.com"));
    // The review says so before anything else is typed, and offers no form.
    let (status, body, _) = send(
        &s.app,
        form(
            "/TopCA/serverEnroll/review",
            format!(
                "csrf={CSRF}&account={}&csr={}",
                s.account,
                url_encode(&sneaky)
            ),
        ),
    )
    .await;
    let review = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::OK);
    assert!(
        review.contains(r#"id="refusal""#) && review.contains("*.evil.com"),
        "{review}"
    );
    assert!(
        !review.contains(r#"id="agree""#),
        "no form for a refused CSR"
    );

    // A name below another domain, and a look-alike suffix, are refused too.
    for (name, san) in [
        ("other", "DNS:www.example.cn,DNS:mail.evil.com"),
        ("lookalike", "DNS:www.example.cn,DNS:badexample.cn"),
    ] {
        let (status, answer) = s
            .apply(&csr(
                s.work.path(),
                name,
                P256,
                "/CN=www.example.cn",
                Some(san),
            ))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let offending = san.rsplit("DNS:").next().unwrap();
        assert!(error_of(&answer).contains(offending), "{answer}");
    }
    let pending = s
        .state
        .store
        .requests_anywhere(RequestState::Submitted, 100)
        .unwrap();
    assert!(pending.is_empty(), "nothing refused was registered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_allows_no_server_name_until_its_domains_are_set() {
    let s = server().await;
    let (status, policy) = send_as(
        &s.app,
        &s.ra,
        "GET",
        &format!("/api/v1/admin/accounts/{}/server-policy", s.account),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        policy,
        serde_json::json!({"allowed_domains": [], "allow_wildcards": false,
            "allow_ip_addresses": false, "max_names": 100})
    );
    let plain = csr(s.work.path(), "plain", P256, "/CN=www.example.cn", None);
    let (status, answer) = s.apply(&plain).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(error_of(&answer).contains("no allowed domains"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_shows_every_name_exactly_as_the_issued_certificate_carries_it() {
    let s = server().await;
    s.allow_example_cn().await;
    let request = csr(
        s.work.path(),
        "www",
        P256,
        "/CN=www.example.cn/O=Someone Else",
        Some("DNS:api.example.cn,IP:192.0.2.7,DNS:example.cn,email:ops@example.cn"),
    );
    let (status, applied) = s.apply(&request).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let id = common::request_number(&s.state, &applied["request"]);

    let (status, review) = send_as(
        &s.app,
        &s.ra,
        "GET",
        &format!("/api/v1/admin/requests/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{review}");
    assert_eq!(review["refusal"], serde_json::Value::Null, "{review}");
    assert_eq!(review["key"], "ECDSA P-256");
    let subject = review["subject"].as_str().unwrap();
    assert!(
        subject.contains("O=天诚安信") && subject.contains("CN=www.example.cn"),
        "{subject}"
    );
    let shown: Vec<String> = review["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();

    // The console page shows the same names.
    let (status, page, _) = send(
        &s.app,
        Request::get(format!("/TopCA/admin/ra/requests/{id}"))
            .header(header::COOKIE, format!("topca_admin={}", s.ra))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8_lossy(&page);
    for name in &shown {
        assert!(
            page.contains(&format!("<li>{name}</li>")),
            "{name} not on the page"
        );
    }
    assert!(page.contains("ECDSA P-256"));
    assert!(page.contains(r#"id="allowed""#) && page.contains(r#"id="approve""#));

    let (status, decided) = send_as(
        &s.app,
        &s.ra,
        "POST",
        &format!("/api/v1/admin/requests/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let record = s
        .state
        .store
        .certificates_by_holder_name("www.example.cn")
        .unwrap()
        .pop()
        .unwrap();
    std::fs::write(s.work.path().join("issued.der"), &record.der).unwrap();
    let printed = openssl(
        s.work.path(),
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            "issued.der",
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    let issued: Vec<String> = printed
        .lines()
        .skip_while(|l| !l.contains("Subject Alternative Name"))
        .nth(1)
        .unwrap()
        .split(", ")
        .map(|n| n.trim().replace("IP Address:", "IP:"))
        .collect();
    assert_eq!(shown, issued, "shown {shown:?}, signed {issued:?}");
    assert_eq!(issued.len(), 5, "the CN and all four CSR names: {issued:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_narrowed_after_submission_refuses_the_approval() {
    let s = server().await;
    let (status, _) = s
        .set_policy(serde_json::json!({
            "allowed_domains": ["example.cn", "evil.com"],
            "allow_wildcards": true,
            "allow_ip_addresses": false,
        }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let request = csr(
        s.work.path(),
        "wild",
        P256,
        "/CN=www.example.cn",
        Some("DNS:*.evil.com"),
    );
    let (status, applied) = s.apply(&request).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let id = common::request_number(&s.state, &applied["request"]);
    s.allow_example_cn().await;

    let (_, review) = send_as(
        &s.app,
        &s.ra,
        "GET",
        &format!("/api/v1/admin/requests/{id}"),
        None,
    )
    .await;
    assert!(
        review["refusal"].as_str().unwrap().contains("*.evil.com"),
        "{review}"
    );
    let (status, answer) = send_as(
        &s.app,
        &s.ra,
        "POST",
        &format!("/api/v1/admin/requests/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(error_of(&answer).contains("*.evil.com"), "{answer}");
    let stored = s.state.store.request(RequestId(id)).unwrap().unwrap();
    assert_eq!(stored.state, RequestState::Submitted);
    assert_eq!(stored.issued_serial, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_names_than_the_limit_are_refused_and_the_limit_itself_is_accepted() {
    let s = server().await;
    s.allow_example_cn().await;
    let sans = |count: usize| {
        (0..count)
            .map(|i| format!("DNS:n{i}.example.cn"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let (status, answer) = s
        .apply(&csr(
            s.work.path(),
            "many",
            P256,
            "/CN=n0.example.cn",
            Some(&sans(101)),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        error_of(&answer).contains("101 names") && error_of(&answer).contains("at most 100"),
        "{answer}"
    );
    let (status, answer) = s
        .apply(&csr(
            s.work.path(),
            "hundred",
            P256,
            "/CN=n0.example.cn",
            Some(&sans(100)),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_rsa_keys_and_unsupported_curves_are_refused() {
    let s = server().await;
    s.allow_example_cn().await;
    for (name, key_args, expected) in [
        (
            "e3",
            &[
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-pkeyopt",
                "rsa_keygen_pubexp:3",
            ][..],
            "public exponent 65537; this key uses 3",
        ),
        (
            "rsa1024",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"][..],
            "between 2048 and 8192 bits",
        ),
        (
            "k256",
            &[
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:secp256k1",
            ][..],
            "unsupported algorithm or curve",
        ),
    ] {
        let request = csr(s.work.path(), name, key_args, "/CN=www.example.cn", None);
        let (status, answer) = s.apply(&request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {answer}");
        assert!(error_of(&answer).contains(expected), "{name}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_ra_administrators_change_the_policy_and_every_change_is_audited() {
    let s = server().await;
    let uri = format!("/api/v1/admin/accounts/{}/server-policy", s.account);
    let policy = serde_json::json!({
        "allowed_domains": ["example.cn"], "allow_wildcards": true, "allow_ip_addresses": false,
    })
    .to_string();
    let (status, _) = send_as(&s.app, "", "PUT", &uri, Some(policy.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, kmc) = log_in(&s.app, "kmc-only", ADMIN_PASSWORD).await;
    let kmc = kmc["token"].as_str().unwrap();
    for method in ["GET", "PUT"] {
        let (status, _) = send_as(&s.app, kmc, method, &uri, Some(policy.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}");
    }
    let (status, _) = send_as(
        &s.app,
        kmc,
        "GET",
        &format!("/TopCA/admin/ra/accounts/{}/server-policy", s.account),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Malformed, oversized-limit and whole-TLD policies are refused with a reason.
    for (body, expected) in [
        ("{not json".to_owned(), None),
        (
            r#"{"allowed_domains": ["com"], "allow_wildcards": false, "allow_ip_addresses": false}"#
                .to_owned(),
            Some("top-level domain"),
        ),
        (
            r#"{"allowed_domains": ["example.cn"], "allow_wildcards": false, "allow_ip_addresses": false, "max_names": 100000}"#
                .to_owned(),
            Some("between 1 and 1000"),
        ),
        (
            r#"{"allowed_domains": ["*.example.cn"], "allow_wildcards": true, "allow_ip_addresses": false}"#
                .to_owned(),
            Some("not a domain name"),
        ),
    ] {
        let (status, answer) = send_as(&s.app, &s.ra, "PUT", &uri, Some(body.clone())).await;
        assert!(status.is_client_error(), "{body}: {status}");
        if let Some(expected) = expected {
            assert!(error_of(&answer).contains(expected), "{body}: {answer}");
        }
    }
    let before = s.state.store.audit_entries().unwrap().len();
    let (status, saved) = send_as(&s.app, &s.ra, "PUT", &uri, Some(policy)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["allow_wildcards"], true);

    // And through the console page, with the session cookie and the form token.
    let (status, body, _) = send(
        &s.app,
        Request::post(format!(
            "/TopCA/admin/ra/accounts/{}/server-policy",
            s.account
        ))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Bearer {}", s.ra))
        .body(Body::from(format!(
            "csrf={CSRF}&domains=example.cn%0D%0Aexample.com&ip_addresses=1&max_names=20"
        )))
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let (_, now) = send_as(&s.app, &s.ra, "GET", &uri, None).await;
    assert_eq!(
        now,
        serde_json::json!({"allowed_domains": ["example.cn", "example.com"],
            "allow_wildcards": false, "allow_ip_addresses": true, "max_names": 20})
    );

    let changes: Vec<_> = s.state.store.audit_entries().unwrap()[before..]
        .iter()
        .filter(|e| e.record.action == AuditAction::AccountUpdated)
        .map(|e| (e.record.actor.clone(), e.record.detail.clone()))
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    for (actor, detail) in &changes {
        assert_eq!(actor, &Actor::Admin("ra-审核员".into()));
        assert!(detail.starts_with("server policy domains ["), "{detail}");
    }
    assert!(
        changes[1]
            .1
            .contains("was domains [example.cn], wildcards allowed"),
        "{changes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_approvals_issue_one_certificate_and_others_cannot_review() {
    let s = server().await;
    s.allow_example_cn().await;
    let request = csr(s.work.path(), "race", P256, "/CN=race.example.cn", None);
    let (status, applied) = s.apply(&request).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let id = common::request_number(&s.state, &applied["request"]);

    // Only RA administrators see the review; guessed numbers find nothing.
    let (_, kmc) = log_in(&s.app, "kmc-only", ADMIN_PASSWORD).await;
    let review = format!("/api/v1/admin/requests/{id}");
    let (status, _) = send_as(&s.app, kmc["token"].as_str().unwrap(), "GET", &review, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send_as(&s.app, "", "GET", &review, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send_as(&s.app, &s.ra, "GET", "/api/v1/admin/requests/999999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let approvals = (0..50).map(|_| {
        let (app, token) = (s.app.clone(), s.ra.clone());
        let uri = format!("/api/v1/admin/requests/{id}/approve");
        tokio::spawn(async move { send_as(&app, &token, "POST", &uri, None).await.0 })
    });
    let mut approved = 0;
    for approval in approvals.collect::<Vec<_>>() {
        let status = approval.await.unwrap();
        if status == StatusCode::OK {
            approved += 1;
        } else {
            assert!(status.is_client_error(), "{status}");
        }
    }
    assert_eq!(approved, 1);
    let issued = s
        .state
        .store
        .certificates_by_holder_name("race.example.cn")
        .unwrap();
    assert_eq!(issued.len(), 1, "one certificate for one application");
}
