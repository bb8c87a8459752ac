//! The user centre over HTTP (the router driven in-process): first start, a
//! certificate applied for, retrieved with the PIN from the mail outbox, checked
//! and revoked with OpenSSL, the CRL and OCSP answers following; the forms' CSRF
//! token and the error pages a user meets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, sync::Arc};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{ec_csr, get, openssl_outcome, options, outbox_pin, post_json, send, text};
use topca_server::setup::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_applies_retrieves_and_revokes_and_crl_and_ocsp_follow() {
    let data = tempfile::tempdir().unwrap();
    let (state, report) = start(&options(data.path())).unwrap();
    assert!(
        report.iter().any(|l| l.contains("created now")),
        "{report:?}"
    );
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));

    // Login page, and the live account search with a Chinese keyword.
    let (status, body) = get(&app, "/TopCA/userEnroll").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&body).contains("用户证书服务中心"));
    let (status, body) = get(&app, "/api/v1/accounts?keyword=%E6%BC%94%E7%A4%BA").await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let accounts: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let account = accounts[0]["id"].as_u64().unwrap();
    assert_eq!(accounts[0]["organization"], "TopCA 演示单位");
    let (_, body) = get(&app, &format!("/TopCA/userEnroll/home?account={account}")).await;
    assert!(text(&body).contains("申请用户证书") && !text(&body).contains("恢复加密证书"));

    // Apply (automatic account: the PIN is mailed at once), retrieve for an OpenSSL key.
    let (status, applied) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "张三", "email": "zhangsan@example.cn", "password": "张三的口令-2026"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let pin = outbox_pin(data.path());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let csr = ec_csr(w, "user");

    let (status, wrong) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": pin, "password": "wrong password", "csr": csr}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        wrong["detail"]
            .as_str()
            .unwrap()
            .contains("4 attempts left"),
        "{wrong}"
    );
    let (status, bad) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": pin, "password": "张三的口令-2026", "csr": "not a request"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");

    let (status, retrieved) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": pin, "password": "张三的口令-2026", "csr": csr}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    let serial = retrieved["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(
        w.join("user.pem"),
        retrieved["certificate"]["pem"].as_str().unwrap(),
    )
    .unwrap();
    let (_, chain) = get(&app, "/TopCA/ca/chain.pem").await;
    std::fs::write(w.join("chain.pem"), &chain).unwrap();
    let (_, issuing) = get(&app, "/TopCA/ca/issuing.cer").await;
    std::fs::write(w.join("issuing.der"), &issuing).unwrap();
    assert!(
        openssl_outcome(
            w,
            &[
                "x509",
                "-inform",
                "DER",
                "-in",
                "issuing.der",
                "-out",
                "issuing.pem"
            ]
        )
        .0
    );
    let (ok, out) = openssl_outcome(w, &["verify", "-CAfile", "chain.pem", "user.pem"]);
    assert!(ok, "{out}");
    let (status, p7b) = get(&app, "/TopCA/ca/certChain.p7b").await;
    assert_eq!(status, StatusCode::OK);
    std::fs::write(w.join("chain.p7b"), &p7b).unwrap();
    let (ok, out) = openssl_outcome(
        w,
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "chain.p7b",
            "-print_certs",
            "-noout",
        ],
    );
    assert!(ok && out.contains("TopCA Issuing CA"), "{out}");

    // OCSP over HTTP POST: good.
    let ocsp = |w: &Path| {
        assert!(
            openssl_outcome(
                w,
                &[
                    "ocsp",
                    "-issuer",
                    "issuing.pem",
                    "-cert",
                    "user.pem",
                    "-reqout",
                    "req.der"
                ]
            )
            .0
        );
        std::fs::read(w.join("req.der")).unwrap()
    };
    let (status, response, headers) = send(
        &app,
        Request::post("/TopCA/ocsp")
            .header(header::CONTENT_TYPE, "application/ocsp-request")
            .body(Body::from(ocsp(w)))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/ocsp-response");
    std::fs::write(w.join("resp.der"), &response).unwrap();
    let (ok, out) = openssl_outcome(
        w,
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "user.pem",
            "-respin",
            "resp.der",
            "-CAfile",
            "chain.pem",
            "-no_nonce",
        ],
    );
    assert!(ok && out.contains("user.pem: good"), "{out}");

    // Query, then revoke (wrong password first), then the CRL and OCSP say revoked.
    let (_, found) = get(
        &app,
        &format!("/api/v1/accounts/{account}/certificates?email=ZhangSan@example.cn"),
    )
    .await;
    let found: serde_json::Value = serde_json::from_slice(&found).unwrap();
    assert_eq!(found[0]["serial"], serial.as_str());
    assert_eq!(found[0]["status"], "valid");
    let (status, _) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/revocations"),
        serde_json::json!({"serial": serial, "password": "nope", "reason": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, revoked) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/revocations"),
        serde_json::json!({"serial": serial, "password": "张三的口令-2026", "reason": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    let (status, again) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/revocations"),
        serde_json::json!({"serial": serial, "password": "张三的口令-2026", "reason": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        again["detail"]
            .as_str()
            .unwrap()
            .contains("already revoked"),
        "{again}"
    );

    let (status, crl) = get(&app, "/TopCA/crl/current.crl").await;
    assert_eq!(status, StatusCode::OK);
    std::fs::write(w.join("current.crl"), &crl).unwrap();
    assert!(
        openssl_outcome(
            w,
            &[
                "crl",
                "-inform",
                "DER",
                "-in",
                "current.crl",
                "-out",
                "current.pem"
            ]
        )
        .0
    );
    let (ok, out) = openssl_outcome(
        w,
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            "current.pem",
            "-CAfile",
            "chain.pem",
            "user.pem",
        ],
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let (_, page) = get(&app, "/TopCA/crl").await;
    assert!(text(&page).contains(&serial), "the CRL page lists it");

    use base64::Engine;
    let request = base64::engine::general_purpose::STANDARD.encode(ocsp(w));
    let encoded: String = request
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let (status, response) = get(&app, &format!("/TopCA/ocsp/{encoded}")).await;
    assert_eq!(status, StatusCode::OK);
    std::fs::write(w.join("resp.der"), &response).unwrap();
    let (ok, out) = openssl_outcome(
        w,
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "user.pem",
            "-respin",
            "resp.der",
            "-CAfile",
            "chain.pem",
            "-no_nonce",
        ],
    );
    assert!(ok && out.contains("user.pem: revoked"), "{out}");
    let (status, junk) = send(
        &app,
        Request::post("/TopCA/ocsp")
            .body(Body::from("junk"))
            .unwrap(),
    )
    .await
    .into_parts2();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(junk, [0x30, 0x03, 0x0A, 0x01, 0x01], "malformedRequest");

    // A second start loads the same CA and database.
    let (_, report) = start(&options(data.path())).unwrap();
    assert!(report.iter().any(|l| l.contains("loaded")), "{report:?}");
    // Record before sign held for every certificate issued here (the user's, the OCSP responder's).
    common::assert_every_certificate_recorded(&state, 0);
}

trait Parts2 {
    fn into_parts2(self) -> (StatusCode, Vec<u8>);
}

impl Parts2 for (StatusCode, Vec<u8>, axum::http::HeaderMap) {
    fn into_parts2(self) -> (StatusCode, Vec<u8>) {
        (self.0, self.1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_their_csrf_token_and_errors_are_pages() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let account = state.demo_account.unwrap().0;
    let app = topca_server::router(Arc::new(state));
    let (status, body, headers) = send(
        &app,
        Request::get(format!("/TopCA/userEnroll/apply?account={account}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("topca_csrf=")
        .to_owned();
    assert!(text(&body).contains(&token));

    let form = |csrf: &str, name: &str| {
        format!(
            "csrf={csrf}&account={account}&name={name}&email=lisi%40example.cn&password=lisi-password-1&password2=lisi-password-1"
        )
    };
    let post = |body: String, with_cookie: bool| {
        let mut request = Request::post("/TopCA/userEnroll/apply")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if with_cookie {
            request = request.header(header::COOKIE, format!("topca_csrf={token}"));
        }
        request.body(Body::from(body)).unwrap()
    };
    let (status, body, _) = send(&app, post(form(&token, "%E6%9D%8E%E5%9B%9B"), false)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no cookie: refused");
    assert!(text(&body).contains("表单已过期"));
    let (status, body, _) = send(&app, post(form(&token, "%E6%9D%8E%E5%9B%9B"), true)).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert!(text(&body).contains("申请已注册"));
    // A missing required field: a clear message on a page, not a blank 500.
    let (status, body, _) = send(&app, post(form(&token, ""), true)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body).contains("id=\"error\""), "{}", text(&body));
    // Unknown account: 404 page; English on request.
    let (status, body, _) = send(
        &app,
        Request::get("/TopCA/userEnroll/home?account=999")
            .header(header::COOKIE, "topca_lang=en")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        text(&body).contains("the account does not exist"),
        "{}",
        text(&body)
    );
    let (status, _) = get(&app, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
}
