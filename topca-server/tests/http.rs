//! The server over HTTP (the router driven in-process): first start, the user
//! centre's pages and API, a certificate applied for, retrieved with the PIN from
//! the mail outbox, checked and revoked with OpenSSL, the CRL and OCSP answers
//! following; and the errors a user meets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, process::Command, sync::Arc};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{
    ADMIN_PASSWORD, CSRF, admins, form, https_get, https_options, log_in, openssl_outcome, options,
    options_on_free_port, post_json, send, serve_https,
};
use topca_core::ra::AdminRole;
use topca_server::{
    setup::{Options, start},
    url_encode,
};

const DECODER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../topca-mail/tests/smtp_sink.py"
);

async fn get(app: &Router, uri: &str) -> (StatusCode, Vec<u8>) {
    let (status, body, _) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    (status, body)
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

/// A P-256 key made by OpenSSL in `dir` (`NAME.key`) and its CSR (PEM).
fn ec_csr(dir: &Path, name: &str) -> String {
    let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
    let (ok, out) = openssl_outcome(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=user",
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    assert!(ok, "{out}");
    std::fs::read_to_string(dir.join(csr)).unwrap()
}

/// The body of the newest outbox mail containing `needle` (decoded by Python).
fn mail_containing(dir: &Path, needle: &str) -> String {
    let mut mails: Vec<_> = std::fs::read_dir(dir.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    mails.sort();
    for mail in mails.iter().rev() {
        let out = Command::new("python3")
            .args([DECODER, "decode"])
            .arg(mail)
            .output()
            .unwrap();
        use base64::Engine;
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let (key, value) = line.split_once('\t').unwrap();
            let value = String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .unwrap(),
            )
            .unwrap();
            if key == "body" && value.contains(needle) {
                return value;
            }
        }
    }
    panic!("no mail with {needle:?} in the outbox");
}

/// The PIN in the newest approval mail of the outbox (decoded by Python's email package).
fn pin_from_outbox(dir: &Path) -> String {
    mail_containing(dir, "PIN")
        .lines()
        .find(|l| l.starts_with("    "))
        .expect("the PIN line")
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_applies_retrieves_and_revokes_and_crl_and_ocsp_follow() {
    let data = tempfile::tempdir().unwrap();
    let (state, report) = start(&options(data.path())).unwrap();
    assert!(
        report.iter().any(|l| l.contains("created now")),
        "{report:?}"
    );
    let app = topca_server::router(Arc::new(state));

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
    let pin = pin_from_outbox(data.path());
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
        wrong["error"].as_str().unwrap().contains("4 attempts left"),
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
        again["error"].as_str().unwrap().contains("already revoked"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_centre_shows_the_csr_and_needs_the_agreement() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    let (_, body) = get(&app, "/api/v1/accounts?keyword=%E6%9C%8D%E5%8A%A1%E5%99%A8").await;
    let accounts: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let account = accounts[0]["id"].as_u64().unwrap();
    let (status, body) = get(&app, &format!("/TopCA/serverEnroll/home?account={account}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&body).contains("certChain.p7b"));

    let work = tempfile::tempdir().unwrap();
    assert!(
        openssl_outcome(
            work.path(),
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "www.key",
                "-out",
                "www.csr",
                "-subj",
                "/C=CN/ST=北京/O=天诚安信/CN=www.example.cn/emailAddress=old@example.cn",
                "-utf8",
                "-addext",
                "subjectAltName=DNS:www.example.cn,DNS:example.cn"
            ]
        )
        .0
    );
    let csr = std::fs::read_to_string(work.path().join("www.csr")).unwrap();
    let (status, body, _) = send(
        &app,
        form(
            "/TopCA/serverEnroll/review",
            format!("csrf={CSRF}&account={account}&csr={}", url_encode(&csr)),
        ),
    )
    .await;
    let page = text(&body);
    assert_eq!(status, StatusCode::OK, "{page}");
    for shown in [
        "www.example.cn",
        "天诚安信",
        "北京",
        "example.cn",
        "RSA",
        "old@example.cn",
    ] {
        assert!(page.contains(shown), "{shown} not shown");
    }
    assert!(
        page.contains(r#"id="submit" hidden"#),
        "the button waits for the agreement"
    );

    let apply = |agree: bool| {
        format!(
            "csrf={CSRF}&account={account}&csr={}&email=ops%40example.cn&password=server-pass-1{}",
            url_encode(&csr),
            if agree { "&agree=1" } else { "" }
        )
    };
    let (status, body, _) = send(&app, form("/TopCA/serverEnroll/apply", apply(false))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text(&body).contains("subscriber agreement"),
        "{}",
        text(&body)
    );
    let (status, body, _) = send(&app, form("/TopCA/serverEnroll/apply", apply(true))).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert!(text(&body).contains("申请已注册"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_ocsp_over_http_sees_good_then_revoked_for_rsa_ecdsa_and_sm2() {
    use topca_core::KeyAlgorithm;
    for algorithm in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Sm2,
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut opts = options_on_free_port(data.path());
        let port = opts.listen.port();
        opts.algorithm = algorithm;
        opts.delta_crl = algorithm == KeyAlgorithm::EcdsaP256;
        let (state, _) = start(&opts).unwrap();
        let account = state.demo_account.unwrap().0;
        let app = topca_server::router(Arc::new(state));
        let listener = tokio::net::TcpListener::bind(opts.listen).await.unwrap();
        let server = tokio::spawn(axum::serve(listener, app.clone()).into_future());

        let (status, _) = post_json(&app, &format!("/api/v1/accounts/{account}/applications"),
            serde_json::json!({"name": "OCSP 用户", "email": "ocsp@example.cn", "password": "ocsp-password-1"})).await;
        assert_eq!(status, StatusCode::OK);
        let work = tempfile::tempdir().unwrap();
        let w = work.path().to_owned();
        let csr = ec_csr(&w, "user");
        let (status, retrieved) = post_json(
            &app,
            "/api/v1/retrievals",
            serde_json::json!({
            "pin": pin_from_outbox(data.path()), "password": "ocsp-password-1", "csr": csr}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{retrieved}");
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
                &w,
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

        // The URL the certificate names, asked by OpenSSL with a nonce it checks.
        let (_, text) = openssl_outcome(&w, &["x509", "-in", "user.pem", "-noout", "-ocsp_uri"]);
        let url = text.trim().to_owned();
        assert_eq!(url, format!("http://127.0.0.1:{port}/TopCA/ocsp"));
        // OpenSSL 3.0 checks SM2 signatures with the empty signer ID (README):
        // SM2 answers are read without signature verification.
        let verify: &[&str] = if algorithm == KeyAlgorithm::Sm2 {
            &["-noverify"]
        } else {
            &["-CAfile", "chain.pem"]
        };
        let ask = move |w: &Path| {
            let mut args = vec![
                "ocsp",
                "-issuer",
                "issuing.pem",
                "-cert",
                "user.pem",
                "-url",
                url.as_str(),
            ];
            args.extend_from_slice(verify);
            openssl_outcome(w, &args)
        };
        let w2 = w.clone();
        let ask2 = ask.clone();
        let (ok, out) = tokio::task::spawn_blocking(move || ask2(&w2))
            .await
            .unwrap();
        assert!(ok && out.contains("user.pem: good"), "{algorithm:?}: {out}");
        assert!(
            !out.contains("WARNING: no nonce"),
            "{algorithm:?}: nonce echoed: {out}"
        );
        if verify.len() == 2 {
            assert!(out.contains("Response verify OK"), "{algorithm:?}: {out}");
        }

        if opts.delta_crl {
            // The full CRL is published before the revocation: the delta carries it.
            let (status, _) = get(&app, "/TopCA/crl/current.crl").await;
            assert_eq!(status, StatusCode::OK);
        }
        let serial = retrieved["certificate"]["serial"].as_str().unwrap();
        let (status, _) = post_json(
            &app,
            &format!("/api/v1/accounts/{account}/revocations"),
            serde_json::json!({"serial": serial, "password": "ocsp-password-1", "reason": 4}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let w2 = w.clone();
        let ask2 = ask.clone();
        let (ok, out) = tokio::task::spawn_blocking(move || ask2(&w2))
            .await
            .unwrap();
        assert!(
            ok && out.contains("user.pem: revoked") && out.contains("superseded"),
            "{algorithm:?}: {out}"
        );

        if opts.delta_crl {
            let (_, cert_text) =
                openssl_outcome(&w, &["x509", "-in", "user.pem", "-noout", "-text"]);
            assert!(cert_text.contains("X509v3 Freshest CRL"), "{cert_text}");
            let (status, delta) = get(&app, "/TopCA/crl/delta.crl").await;
            assert_eq!(status, StatusCode::OK);
            std::fs::write(w.join("delta.crl"), &delta).unwrap();
            let (ok, out) = openssl_outcome(
                &w,
                &[
                    "crl",
                    "-inform",
                    "DER",
                    "-in",
                    "delta.crl",
                    "-noout",
                    "-text",
                ],
            );
            assert!(
                ok && out.contains("Delta CRL Indicator") && out.contains(serial),
                "{out}"
            );
        } else {
            let (status, _) = get(&app, "/TopCA/crl/delta.crl").await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
        server.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_replacement_and_preview_pages_work() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let account = state.demo_account.unwrap().0;
    let app = topca_server::router(Arc::new(state));
    let (status, _) = post_json(&app, &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "赵六", "email": "zhaoliu@example.cn", "password": "zhaoliu-password-1"})).await;
    assert_eq!(status, StatusCode::OK);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let new_csr = |name: &str| ec_csr(w, name);
    let (_, retrieved) = post_json(&app, "/api/v1/retrievals", serde_json::json!({
        "pin": pin_from_outbox(data.path()), "password": "zhaoliu-password-1", "csr": new_csr("first")})).await;
    let original = retrieved["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned();

    // Renewal: a one-year certificate is not in the 30-day window.
    let (status, body) = get(
        &app,
        &format!("/TopCA/userEnroll/renew?account={account}&email=zhaoliu%40example.cn"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&body).contains("没有 30 天内到期"), "{}", text(&body));

    // Replacement: link mailed, opened, original revoked and replaced at once.
    let (status, body, _) = send(
        &app,
        form(
            "/TopCA/userEnroll/replace",
            format!(
                "csrf={CSRF}&account={account}&name=%E8%B5%B5%E5%85%AD&email=zhaoliu%40example.cn"
            ),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let mail = mail_containing(data.path(), "token=");
    let link = mail
        .lines()
        .find(|l| l.contains("token="))
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        link.starts_with("http://127.0.0.1:8080/TopCA/userEnroll/replace/confirm?token="),
        "{link}"
    );
    let path = link.trim_start_matches("http://127.0.0.1:8080");
    let (status, body) = get(&app, path).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert!(text(&body).contains(&original));
    let replacement_token = link.split("token=").nth(1).unwrap();
    let csr = url_encode(&new_csr("second"));
    let (status, body, _) = send(&app, form("/TopCA/userEnroll/replace/confirm", format!(
        "csrf={CSRF}&token={replacement_token}&serial={original}&password=zhaoliu-password-1&reason=1&csr={csr}"))).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let page = text(&body);
    assert!(page.contains("替换证书已签发"), "{page}");
    let (_, found) = get(
        &app,
        &format!("/api/v1/accounts/{account}/certificates?email=zhaoliu%40example.cn"),
    )
    .await;
    let found: serde_json::Value = serde_json::from_slice(&found).unwrap();
    let statuses: Vec<(String, String)> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["serial"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&(original.clone(), "revoked".into())),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|(_, s)| s == "valid").count(),
        1,
        "{statuses:?}"
    );
    // The link works once.
    let (status, _) = get(&app, path).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Preview: the list, and every field of one certificate.
    let (_, body) = get(
        &app,
        &format!("/TopCA/userEnroll/preview?account={account}&email=zhaoliu%40example.cn"),
    )
    .await;
    assert!(text(&body).contains(&original));
    let (status, body) = get(&app, &format!("/TopCA/userEnroll/preview/{original}")).await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&body);
    assert!(
        page.contains("详细信息") && page.contains("赵六") && page.contains("TopCA Issuing CA"),
        "{page}"
    );
    let (status, _) = get(&app, "/TopCA/userEnroll/preview/FFFF").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn options_come_from_the_config_file_then_variables_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("topca.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:9443\"\nalgorithm = \"p384\"\ndelta_crl = true\n[mail]\nfrom = \"CA <ca@example.cn>\"\n",
    )
    .unwrap();
    let args = |extra: &[&str]| {
        let mut all = vec!["--data-dir".to_owned(), dir.path().display().to_string()];
        all.extend(extra.iter().map(|s| (*s).to_owned()));
        all
    };
    let from_file = Options::parse(args(&[])).unwrap();
    assert_eq!(from_file.listen.port(), 9443);
    assert_eq!(from_file.algorithm, topca_core::KeyAlgorithm::EcdsaP384);
    assert!(from_file.delta_crl);
    assert_eq!(from_file.crl_refresh, std::time::Duration::from_secs(600));
    assert_eq!(from_file.mail_from, "CA <ca@example.cn>");
    let flagged =
        Options::parse(args(&["--algorithm", "sm2", "--listen", "127.0.0.1:9000"])).unwrap();
    assert_eq!(flagged.algorithm, topca_core::KeyAlgorithm::Sm2);
    assert_eq!(flagged.listen.port(), 9000);

    std::fs::write(&config, "listen = \"127.0.0.1:1\"\ncolour = \"red\"\n").unwrap();
    let err = Options::parse(args(&[])).unwrap_err().to_string();
    assert!(
        err.contains("topca.toml") && err.contains("colour"),
        "{err}"
    );
    std::fs::remove_file(&config).unwrap();
    let err = Options::parse(args(&["--algorithm", "dsa"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not one of"), "{err}");
    let err = Options::parse(args(&["--bogus"])).unwrap_err().to_string();
    assert!(err.contains("unknown option --bogus"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_certificate_from_its_own_ca() {
    let data = tempfile::tempdir().unwrap();
    let opts = https_options(data.path());
    let port = opts.listen.port();
    let (state, report) = start(&opts).unwrap();
    assert!(
        report
            .iter()
            .any(|l| l.contains(&format!("https://127.0.0.1:{port}/TopCA/userEnroll"))),
        "{report:?}"
    );
    let root = state.root.to_pem();
    let server = serve_https(&opts, Arc::new(state)).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("root.pem"), root).unwrap();
    let dir = work.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let verify = [
            "-CAfile",
            "root.pem",
            "-verify_return_error",
            "-verify_ip",
            "127.0.0.1",
        ];
        https_get(&dir, port, "/TopCA/ca/chain.pem", &verify)
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("HTTP/1.1 200") && text.contains("BEGIN CERTIFICATE"),
        "{text}"
    );
    assert!(text.contains("verify return:1"), "{text}");
    server.abort();
}

async fn send_as(
    app: &Router,
    token: &str,
    method: &str,
    uri: &str,
    json: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json");
    let body = json.map_or_else(Body::empty, |j| Body::from(j.to_string()));
    let (status, body, _) = send(app, builder.body(body).unwrap()).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_approve_through_the_api_and_recover_keys_in_pairs() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    admins(
        &state,
        &[
            ("ra-甲", AdminRole::RaAdmin),
            ("kmc-甲", AdminRole::KmcAdmin),
            ("kmc-乙", AdminRole::KmcAdmin),
        ],
    );
    let app = topca_server::router(Arc::new(state));
    let login = |name: &'static str, password: &'static str| log_in(&app, name, password);

    // Anonymous: nothing.
    let (status, _) = get(&app, "/api/v1/admin/requests").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, headers) = send(
        &app,
        Request::get("/TopCA/admin").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/TopCA/admin/login");

    // A server certificate application waits for the RA; the RA approves it via the API.
    let (_, body) = get(&app, "/api/v1/accounts?keyword=%E6%9C%8D%E5%8A%A1%E5%99%A8").await;
    let accounts: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let server_account = accounts[0]["id"].as_u64().unwrap();
    let (status, ra) = login("ra-甲", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{ra}");
    let ra = ra["token"].as_str().unwrap().to_owned();
    let (status, pending) = send_as(&app, &ra, "GET", "/api/v1/admin/requests", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending, serde_json::json!([]));
    let account = {
        let (_, body) = get(
            &app,
            "/api/v1/accounts?keyword=%E6%BC%94%E7%A4%BA%E9%83%A8%E9%97%A8",
        )
        .await;
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()[0]["id"]
            .as_u64()
            .unwrap()
    };
    let _ = account;
    let work = tempfile::tempdir().unwrap();
    assert!(
        openssl_outcome(
            work.path(),
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "www.key",
                "-out",
                "www.csr",
                "-subj",
                "/C=CN/O=TopCA/CN=www.example.cn"
            ]
        )
        .0
    );
    let csr = url_encode(&std::fs::read_to_string(work.path().join("www.csr")).unwrap());
    let (status, body, _) = send(&app, form("/TopCA/serverEnroll/apply", format!(
        "csrf={CSRF}&account={server_account}&csr={csr}&email=ops%40example.cn&password=server-pass-1&agree=1"))).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let (_, pending) = send_as(&app, &ra, "GET", "/api/v1/admin/requests", None).await;
    let id = pending[0]["request"].as_u64().unwrap();
    assert_eq!(pending[0]["holder"], "www.example.cn");
    let (status, decided) = send_as(
        &app,
        &ra,
        "POST",
        &format!("/api/v1/admin/requests/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["state"], "already issued");
    assert!(mail_containing(data.path(), "www.example.cn").contains("certificate.pem"));
    let (status, again) = send_as(
        &app,
        &ra,
        "POST",
        &format!("/api/v1/admin/requests/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{again}");

    // Roles are kept apart: the RA administrator cannot touch the KMC, and back.
    let (status, err) = send_as(
        &app,
        &ra,
        "POST",
        "/api/v1/admin/recoveries",
        Some(serde_json::json!({"encryption_serial": "00", "reason": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    let (_, kmc1) = login("kmc-甲", ADMIN_PASSWORD).await;
    let kmc1 = kmc1["token"].as_str().unwrap().to_owned();
    let (status, _) = send_as(&app, &kmc1, "GET", "/api/v1/admin/requests", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Dual certificate retrieved, then recovered by two KMC administrators.
    let (_, body) = get(&app, "/api/v1/accounts?keyword=%E5%8F%8C%E8%AF%81%E4%B9%A6").await;
    let dual = serde_json::from_slice::<serde_json::Value>(&body).unwrap()[0]["id"]
        .as_u64()
        .unwrap();
    let (status, _) = post_json(&app, &format!("/api/v1/accounts/{dual}/applications"),
        serde_json::json!({"name": "孙七", "email": "sunqi@example.cn", "password": "sunqi-password-1"})).await;
    assert_eq!(status, StatusCode::OK);
    let work = tempfile::tempdir().unwrap();
    let csr = ec_csr(work.path(), "user");
    let (status, retrieved) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({
        "pin": pin_from_outbox(data.path()), "password": "sunqi-password-1", "csr": csr}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    let encryption = retrieved["encryption"]["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let signing = retrieved["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, asked) = send_as(
        &app,
        &kmc1,
        "POST",
        "/api/v1/admin/recoveries",
        Some(serde_json::json!({"encryption_serial": encryption, "reason": "换电脑"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{asked}");
    let recovery = asked["recovery"].as_str().unwrap().to_owned();
    let (status, err) = send_as(
        &app,
        &kmc1,
        "POST",
        &format!("/api/v1/admin/recoveries/{recovery}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("different KMC administrator"),
        "{err}"
    );
    let (_, kmc2) = login("kmc-乙", ADMIN_PASSWORD).await;
    let kmc2 = kmc2["token"].as_str().unwrap().to_owned();
    let (status, approved) = send_as(
        &app,
        &kmc2,
        "POST",
        &format!("/api/v1/admin/recoveries/{recovery}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert!(
        approved.get("code").is_none(),
        "only the holder gets the code"
    );
    let code = mail_containing(data.path(), "授权码是")
        .lines()
        .find(|l| l.starts_with("    "))
        .expect("the code line")
        .trim()
        .to_owned();
    // The holder recovers on the page, for their signing certificate.
    let (status, body, _) = send(
        &app,
        form(
            "/TopCA/userEnroll/recover",
            format!("csrf={CSRF}&serial={signing}&code={code}"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert!(text(&body).contains(&encryption));

    // The RA administrator creates and edits an account with a Chinese O/OU; the
    // live search finds it; bad settings are refused with a message.
    let account_json = |mode: &str, days: u32| {
        serde_json::json!({
        "organization": "新华书店", "unit": "信息中心", "certificate_type": "single",
        "verification": mode, "algorithm": "sm2", "validity_days": days,
        "service_url": "https://ca.example.cn/TopCA/userEnroll", "language": "zh"})
    };
    let (status, created) = send_as(
        &app,
        &ra,
        "POST",
        "/api/v1/admin/accounts",
        Some(account_json("manual", 365)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let new_id = created["id"].as_u64().unwrap();
    let (_, found) = get(
        &app,
        "/api/v1/accounts?keyword=%E4%BF%A1%E6%81%AF%E4%B8%AD%E5%BF%83",
    )
    .await;
    let found: serde_json::Value = serde_json::from_slice(&found).unwrap();
    assert_eq!(found[0]["id"].as_u64(), Some(new_id));
    let (status, _) = send_as(
        &app,
        &ra,
        "PUT",
        &format!("/api/v1/admin/accounts/{new_id}"),
        Some(account_json("automatic", 730)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, bad) = send_as(
        &app,
        &ra,
        "POST",
        "/api/v1/admin/accounts",
        Some(account_json("sometimes", 365)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["error"].as_str().unwrap().contains("verification"),
        "{bad}"
    );
    let (status, bad) = send_as(
        &app,
        &ra,
        "POST",
        "/api/v1/admin/accounts",
        Some(account_json("manual", 99_999)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (status, _) = send_as(
        &app,
        &kmc1,
        "POST",
        "/api/v1/admin/accounts",
        Some(account_json("manual", 365)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "KMC administrators do not manage accounts"
    );

    // The RA administrator finds the holder's certificates and revokes one without
    // the user password; the KMC administrator may not.
    let (status, certificates) = send_as(
        &app,
        &ra,
        "GET",
        "/api/v1/admin/certificates?email=sunqi%40example.cn",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        certificates.as_array().unwrap().len(),
        2,
        "signing and encryption: {certificates}"
    );
    let (status, _) = send_as(
        &app,
        &kmc1,
        "POST",
        &format!("/api/v1/admin/certificates/{signing}/revoke"),
        Some(serde_json::json!({"reason": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, revoked) = send_as(
        &app,
        &ra,
        "POST",
        &format!("/api/v1/admin/certificates/{signing}/revoke"),
        Some(serde_json::json!({"reason": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    let (status, again) = send_as(
        &app,
        &ra,
        "POST",
        &format!("/api/v1/admin/certificates/{signing}/revoke"),
        Some(serde_json::json!({"reason": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{again}");
    assert!(
        mail_containing(data.path(), &signing).contains("隶属关系改变"),
        "holder told why"
    );

    // The audit log shows every step with who did it, and its chain verifies.
    let (status, body, _) = send(
        &app,
        Request::get("/TopCA/admin/audit?actor=kmc")
            .header(header::AUTHORIZATION, format!("Bearer {kmc1}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&body);
    assert!(
        page.contains("审计链完整") && page.contains("RecoveryApproved") && page.contains("kmc-乙"),
        "{page}"
    );
    assert!(!page.contains("AccountCreated"), "filtered by actor");

    // Five wrong passwords lock an administrator out, even with the right one after.
    for _ in 0..5 {
        let (status, _) = login("ra-甲", "wrong").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, locked) = login("ra-甲", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        locked["error"].as_str().unwrap().contains("locked out"),
        "{locked}"
    );
    let (status, unknown) = login("nobody", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("name or password is wrong")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_covers_server_applications_renewal_replacement_and_preview() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let account = state.demo_account.unwrap().0;
    let app = topca_server::router(Arc::new(state));
    let work = tempfile::tempdir().unwrap();
    let w = work.path();

    let (_, body) = get(&app, "/api/v1/accounts?keyword=%E6%9C%8D%E5%8A%A1%E5%99%A8").await;
    let server_account = serde_json::from_slice::<serde_json::Value>(&body).unwrap()[0]["id"]
        .as_u64()
        .unwrap();
    let (ok, _) = openssl_outcome(
        w,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "www.key",
            "-out",
            "www.csr",
            "-subj",
            "/C=CN/O=TopCA/CN=api.example.cn",
        ],
    );
    assert!(ok);
    let www = std::fs::read_to_string(w.join("www.csr")).unwrap();
    let server = |agree: bool| serde_json::json!({"csr": www, "email": "ops@example.cn", "password": "server-pass-1", "agreement_accepted": agree});
    let (status, refused) = post_json(
        &app,
        &format!("/api/v1/accounts/{server_account}/server-applications"),
        server(false),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["error"].as_str().unwrap().contains("agreement"),
        "{refused}"
    );
    let (status, applied) = post_json(
        &app,
        &format!("/api/v1/accounts/{server_account}/server-applications"),
        server(true),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["state"], "waiting for approval");
    let (status, refused) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/server-applications"),
        server(true),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "automatic accounts issue no server certificates: {refused}"
    );

    // A user certificate, then renewal list, replacement and preview by API.
    let (status, _) = post_json(&app, &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "周八", "email": "zhouba@example.cn", "password": "zhouba-password-1"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, retrieved) = post_json(&app, "/api/v1/retrievals", serde_json::json!({
        "pin": pin_from_outbox(data.path()), "password": "zhouba-password-1", "csr": ec_csr(w, "first")})).await;
    let serial = retrieved["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, renewable) = get(
        &app,
        &format!("/api/v1/accounts/{account}/renewable?email=zhouba%40example.cn"),
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&renewable).unwrap(),
        serde_json::json!([])
    );
    let (status, renewal) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/renewals"),
        serde_json::json!({"serial": serial, "password": "zhouba-password-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        renewal["error"].as_str().unwrap().contains("30 days"),
        "{renewal}"
    );

    let (status, _) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/replacements"),
        serde_json::json!({"name": "周八", "email": "zhouba@example.cn"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let link = mail_containing(data.path(), "token=");
    let token = link
        .lines()
        .find_map(|l| l.split("token=").nth(1))
        .unwrap()
        .trim()
        .to_owned();
    let (status, candidates) = get(&app, &format!("/api/v1/replacements?token={token}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&candidates).contains(&serial));
    let (status, replaced) = post_json(&app, "/api/v1/replacements", serde_json::json!({
        "token": token, "serial": serial, "password": "zhouba-password-1", "reason": 1, "csr": ec_csr(w, "second")})).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    let new_serial = replaced["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_serial, serial);

    let (status, preview) = get(&app, &format!("/api/v1/certificates/{new_serial}/preview")).await;
    assert_eq!(status, StatusCode::OK);
    let preview: serde_json::Value = serde_json::from_slice(&preview).unwrap();
    assert!(
        preview["subject"].as_str().unwrap().contains("周八"),
        "{preview}"
    );
    assert!(preview["fields"].as_array().unwrap().len() > 8);

    // Downloads: PEM and DER of the certificate, the install page.
    let (status, pem) = get(&app, &format!("/TopCA/certificates/{new_serial}.pem")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&pem).starts_with("-----BEGIN CERTIFICATE-----"));
    let (status, der) = get(&app, &format!("/TopCA/certificates/{new_serial}.cer")).await;
    assert_eq!(status, StatusCode::OK);
    std::fs::write(w.join("new.cer"), &der).unwrap();
    let (ok, out) = openssl_outcome(
        w,
        &[
            "x509", "-inform", "DER", "-in", "new.cer", "-noout", "-serial",
        ],
    );
    assert!(ok && out.contains(&new_serial), "{out}");
    let (status, _) = get(&app, "/TopCA/certificates/nothing.txt").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, page) = get(&app, "/TopCA/ca").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&page).contains("certChain.p7b") && text(&page).contains("root.cer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passcode_csv_and_central_issuance_through_the_admin_api() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    admins(
        &state,
        &[("ra", AdminRole::RaAdmin), ("kmc", AdminRole::KmcAdmin)],
    );
    let app = topca_server::router(Arc::new(state));
    let token = |name: &'static str| {
        let app = app.clone();
        async move {
            let (_, t) = log_in(&app, name, ADMIN_PASSWORD).await;
            t["token"].as_str().unwrap().to_owned()
        }
    };
    let ra = token("ra").await;
    let (status, created) = send_as(&app, &ra, "POST", "/api/v1/admin/accounts", Some(serde_json::json!({
        "organization": "天诚安信", "unit": "授权码部门", "certificate_type": "single", "verification": "passcode",
        "algorithm": "p256", "validity_days": 365, "service_url": "http://127.0.0.1:8080/TopCA/userEnroll"}))).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let passcode_account = created["id"].as_u64().unwrap();

    // A CSV of holders: good rows registered, the bad one reported by line.
    let csv =
        "姓名,电子邮件\n吴九,wujiu@example.cn\n郑十,not-an-address\n王十一,wangshiyi@example.cn\n";
    let (status, body, _) = send(
        &app,
        Request::post(format!(
            "/api/v1/admin/accounts/{passcode_account}/preregistrations/csv"
        ))
        .header(header::AUTHORIZATION, format!("Bearer {ra}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(csv))
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        report["registered"].as_array().unwrap().len(),
        2,
        "{report}"
    );
    assert_eq!(report["rejected"][0]["line"], 3, "{report}");

    // The holder retrieves with the mailed reference number and code, no approval.
    let mail = mail_containing(data.path(), "王十一");
    let code = mail
        .lines()
        .find(|l| l.starts_with("    "))
        .unwrap()
        .trim()
        .to_owned();
    let reference = report["registered"][1].as_str().unwrap().to_owned();
    let work = tempfile::tempdir().unwrap();
    let (status, retrieved) = post_json(&app, "/api/v1/passcode-retrievals", serde_json::json!({
        "reference": reference, "code": code, "password": "wangshiyi-password-1", "csr": ec_csr(work.path(), "p")})).await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    assert!(
        retrieved["certificate"]["subject"]
            .as_str()
            .unwrap()
            .contains("王十一")
    );

    // The passcode mail links to the passcode page.
    assert!(
        mail.contains("http://127.0.0.1:8080/TopCA/userEnroll/passcode"),
        "{mail}"
    );
    let (status, page) = get(&app, "/TopCA/userEnroll/passcode").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&page).contains("参考号") && text(&page).contains("generate-key"));

    // Central issuance: a PKCS#12 file OpenSSL opens with the given password.
    let (status, central) = send_as(&app, &ra, "POST", &format!("/api/v1/admin/accounts/{passcode_account}/central-issuance"),
        Some(serde_json::json!({"name": "冯十二", "email": "feng@example.cn", "password": "feng-password-12"}))).await;
    assert_eq!(status, StatusCode::OK, "{central}");
    use base64::Engine;
    let p12 = base64::engine::general_purpose::STANDARD
        .decode(central["pkcs12"].as_str().unwrap())
        .unwrap();
    std::fs::write(work.path().join("central.p12"), p12).unwrap();
    let (ok, out) = openssl_outcome(
        work.path(),
        &[
            "pkcs12",
            "-in",
            "central.p12",
            "-passin",
            "pass:feng-password-12",
            "-nokeys",
            "-clcerts",
        ],
    );
    assert!(ok && out.contains("BEGIN CERTIFICATE"), "{out}");

    // The KMC administrator lists a holder's escrowed keys; the RA administrator may not.
    let kmc = token("kmc").await;
    let (status, keys) = send_as(
        &app,
        &kmc,
        "GET",
        "/api/v1/admin/escrowed-keys?email=nobody%40example.cn",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys, serde_json::json!([]));
    let (status, _) = send_as(
        &app,
        &ra,
        "GET",
        "/api/v1/admin/escrowed-keys?email=x%40example.cn",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
