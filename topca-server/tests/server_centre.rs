//! The server centre over HTTP: what the certificate would carry shown back
//! before a server certificate is applied for, the subscriber agreement it
//! needs, accounts refused before the form, and the query with its filters and
//! the revocation of a certificate picked from the results.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
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
    // What the certificate would carry: C and the account's O and OU (not the
    // CSR's), the CSR's province, the server name, every SAN, the key.
    for shown in [
        r#"id="country" translate="no">CN<"#,
        r#"id="organization" translate="no">TopCA 演示单位<"#,
        r#"id="unit" translate="no">服务器证书<"#,
        r#"id="state" translate="no">北京<"#,
        r#"id="common-name" translate="no">www.example.cn<"#,
        "<li>DNS:www.example.cn</li><li>DNS:example.cn</li>",
        "RSA-2048",
        "old@example.cn",
        r#"<details id="agreement">"#,
    ] {
        assert!(page.contains(shown), "{shown} not shown: {page}");
    }
    assert!(
        !page.contains("天诚安信"),
        "the CSR's O is not what is signed"
    );
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
    assert!(text(&body).contains("必须接受用户协议"), "{}", text(&body));
    let (status, body, _) = send(&app, form("/TopCA/serverEnroll/apply", apply(true))).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert!(text(&body).contains("申请已注册"));
}

/// The id of the demonstration account whose unit is `unit`.
async fn demo_account(app: &axum::Router, unit: &str) -> u64 {
    let (_, body) = get(
        app,
        &format!("/api/v1/accounts?keyword={}", url_encode(unit)),
    )
    .await;
    let accounts: serde_json::Value = serde_json::from_slice(&body).unwrap();
    accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["unit"] == unit)
        .unwrap()["id"]
        .as_u64()
        .unwrap()
}

/// A GET with the English language cookie.
async fn get_english(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let (status, body, _) = send(
        app,
        Request::get(uri)
            .header(header::COOKIE, "topca_lang=en")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    (status, text(&body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_without_approval_is_refused_before_the_form_is_filled_in() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    let automatic = demo_account(&app, "演示部门").await;
    let server = demo_account(&app, "服务器证书").await;

    let (status, body) = get(
        &app,
        &format!("/TopCA/serverEnroll/home?account={automatic}"),
    )
    .await;
    let home = text(&body);
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains(r#"id="not-manual""#), "{home}");
    assert!(
        !home.contains("/TopCA/serverEnroll/apply?"),
        "no apply link"
    );

    let apply = format!("/TopCA/serverEnroll/apply?account={automatic}");
    let (status, body) = get(&app, &apply).await;
    let refused = text(&body);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(refused.contains("不能申请服务器证书"), "{refused}");
    assert!(!refused.contains(r#"id="csr""#), "no form to fill in");
    assert!(refused.contains(&format!("/TopCA/serverEnroll/home?account={automatic}")));
    let (status, english) = get_english(&app, &apply).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        english.contains("cannot apply for server certificates"),
        "{english}"
    );
    // Posting straight to the review is refused the same way.
    let (status, _, _) = send(
        &app,
        form(
            "/TopCA/serverEnroll/review",
            format!("csrf={CSRF}&account={automatic}&csr=x"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Bad and unknown accounts get a readable page.
    let (status, body) = get(&app, "/TopCA/serverEnroll/apply?account=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body).contains("请从服务器证书服务中心的登录页选择帐户"));
    let (status, body) = get(&app, "/TopCA/serverEnroll/home").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", text(&body));
    let (status, _) = get(&app, "/TopCA/serverEnroll/apply?account=999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The account that may apply: the form links the agreement, readable alone.
    let (status, body) = get(&app, &format!("/TopCA/serverEnroll/apply?account={server}")).await;
    let form_page = text(&body);
    assert_eq!(status, StatusCode::OK);
    assert!(form_page.contains(r#"id="csr""#));
    assert!(form_page.contains(r#"href="/TopCA/serverEnroll/agreement""#));
    assert!(form_page.contains(r#"<h2 id="title">申请服务器证书</h2>"#));
    let (status, body) = get(&app, "/TopCA/serverEnroll/agreement").await;
    let agreement = text(&body);
    assert_eq!(status, StatusCode::OK);
    assert!(agreement.contains("数字证书订户协议") && agreement.contains("私钥"));
}

/// The demo server account, an RA administrator's token and an issued
/// certificate for www.example.cn (password `server-pass-1`): (account, serial).
async fn issued_server_certificate(
    app: &axum::Router,
    state: &topca_server::AppState,
    work: &std::path::Path,
) -> (u64, String) {
    let account = demo_account(app, "服务器证书").await;
    let csr = common::ec_csr_for(work, "www", "/CN=www.example.cn");
    let (status, applied) = common::post_json(
        app,
        &format!("/api/v1/accounts/{account}/server-applications"),
        serde_json::json!({
            "csr": csr, "email": "ops@example.cn", "password": "server-pass-1",
            "agreement_accepted": true,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let id = common::request_number(state, &applied["request"]);
    let token = common::token(app, "ra", common::ADMIN_PASSWORD).await;
    let (status, body, _) = send(
        app,
        Request::post(format!("/api/v1/admin/requests/{id}/approve"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let record = topca_core::store::CertificateStore::certificates_by_holder_name(
        &state.store,
        "www.example.cn",
    )
    .unwrap()
    .pop()
    .unwrap();
    (account, record.serial)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_certificates_are_found_filtered_and_revoked_by_picking_them() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    common::admins(&state, &[("ra", topca_core::ra::AdminRole::RaAdmin)]);
    let app = topca_server::router(Arc::clone(&state));
    let work = tempfile::tempdir().unwrap();
    let (account, serial) = issued_server_certificate(&app, &state, work.path()).await;
    let query = |params: &str| format!("/TopCA/serverEnroll/query?account={account}&{params}");

    let (status, body) = get(&app, &query("name=www.example.cn")).await;
    let found = text(&body);
    assert_eq!(status, StatusCode::OK);
    assert!(
        found.contains(r#"<h2 id="title">查询服务器证书</h2>"#),
        "{found}"
    );
    assert!(!found.contains("查询用户证书") && !found.contains("吊销用户证书"));
    assert!(found.contains(&serial) && found.contains("有效"));
    let pick = format!("/TopCA/serverEnroll/revoke?account={account}&#38;serial={serial}");
    assert!(
        found.contains(&pick),
        "a revoke link picks the certificate: {found}"
    );
    let (_, body) = get(&app, &query("email=OPS%40example.cn&revoke=1")).await;
    let by_email = text(&body);
    assert!(by_email.contains(r#"<h2 id="title">吊销服务器证书</h2>"#));
    assert!(by_email.contains(&serial));

    // Filters, good and bad.
    for (params, count) in [
        ("name=www.example.cn&status=valid", 1),
        ("name=www.example.cn&status=revoked", 0),
        ("name=www.example.cn&status=expired", 0),
        ("name=www.example.cn&from=2000-01-01&until=2000-01-02", 0),
        ("name=www.example.cn&until=9999-12-31", 1),
        ("name=www.example.cn&page=0", 1),
        ("name=www.example.cn&page=999999", 1),
        ("name=nobody.example.cn", 0),
    ] {
        let (status, body) = get(&app, &query(params)).await;
        let page = text(&body);
        assert_eq!(status, StatusCode::OK, "{params}");
        assert!(
            page.contains(&format!("共找到 {count} 张")),
            "{params}: {page}"
        );
    }
    for (params, message) in [
        ("name=x&status=bogus", "请从列表中选择证书状态"),
        ("name=x&from=2020-13-01", "日期格式不正确"),
        ("name=x&until=2021-02-29", "日期格式不正确"),
        ("name=x&from=%3Cb%3E", "日期格式不正确"),
        ("name=x&page=abc", "页码不正确"),
    ] {
        let (status, body) = get(&app, &query(params)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params}");
        assert!(text(&body).contains(message), "{params}");
    }
    let long = "a".repeat(300);
    let (status, _) = get(&app, &query(&format!("name={long}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, body) = get(
        &app,
        &query("name=%3Cscript%3Ealert(1)%3C%2Fscript%3E%27--"),
    )
    .await;
    let hostile = text(&body);
    assert!(
        hostile.contains("&#60;script&#62;alert(1)&#60;/script&#62;&#39;--"),
        "{hostile}"
    );
    assert!(!hostile.contains("<script>alert"));

    // Another account cannot pick it; neither can a made-up serial.
    let other = demo_account(&app, "演示部门").await;
    for uri in [
        format!("/TopCA/serverEnroll/revoke?account={other}&serial={serial}"),
        format!("/TopCA/serverEnroll/revoke?account={account}&serial=00FF"),
        format!("/TopCA/serverEnroll/revoke?account={account}&serial=%3Cb%3E"),
    ] {
        let (status, _) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
    let (status, body) = get(
        &app,
        &format!("/TopCA/serverEnroll/revoke?account={account}&serial={serial}"),
    )
    .await;
    let picked = text(&body);
    assert_eq!(status, StatusCode::OK);
    assert!(picked.contains("CN=www.example.cn") && picked.contains("密钥泄露"));

    let revoke = |csrf: &str, password: &str, reason: &str| {
        format!("csrf={csrf}&account={account}&serial={serial}&password={password}&reason={reason}")
    };
    let post = |body: String, cookie: bool| {
        let mut request = form("/TopCA/serverEnroll/revoke", body);
        if !cookie {
            request.headers_mut().remove(header::COOKIE);
        }
        request
    };
    let (status, body, _) = send(&app, post(revoke(CSRF, "server-pass-1", "1"), false)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no CSRF cookie");
    assert!(text(&body).contains("表单已过期"));
    let (status, body, _) = send(&app, post(revoke(CSRF, "server-pass-1", "99"), true)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body).contains("请选择吊销原因"));
    let (status, body, _) = send(&app, post(revoke(CSRF, "wrong-pass-1", "1"), true)).await;
    assert!(status.is_client_error(), "{status}");
    let wrong = text(&body);
    assert!(wrong.contains("口令"), "a Chinese message: {wrong}");
    // Another account's id with the right password revokes nothing.
    let (status, _, _) = send(
        &app,
        form(
            "/TopCA/serverEnroll/revoke",
            format!("csrf={CSRF}&account={other}&serial={serial}&password=server-pass-1&reason=1"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Ten at once with the right password: one revokes, the others are told.
    let mut calls = Vec::new();
    for _ in 0..10 {
        let app = app.clone();
        let body = revoke(CSRF, "server-pass-1", "1");
        calls.push(tokio::spawn(async move {
            send(&app, form("/TopCA/serverEnroll/revoke", body)).await.0
        }));
    }
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || s.is_client_error())
    );
    let (_, body) = get(&app, &query("name=www.example.cn&status=revoked")).await;
    let revoked = text(&body);
    assert!(revoked.contains("共找到 1 张") && revoked.contains("已吊销"));
    assert!(
        !revoked.contains(&pick),
        "no revoke link for a revoked certificate"
    );
}
