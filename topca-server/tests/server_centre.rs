//! The server centre over HTTP: the CSR shown back before a server certificate
//! is applied for, and the subscriber agreement the application needs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{CSRF, form, get, openssl_outcome, options, send, text};
use topca_server::{setup::start, url_encode};

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
        text(&body).contains("必须接受用户协议"),
        "{}",
        text(&body)
    );
    let (status, body, _) = send(&app, form("/TopCA/serverEnroll/apply", apply(true))).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert!(text(&body).contains("申请已注册"));
}
