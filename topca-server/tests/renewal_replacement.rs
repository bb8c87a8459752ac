//! Renewal, replacement and preview, on the user centre's pages and through the
//! API, and server applications through the API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{
    CSRF, ec_csr, form, get, openssl_outcome, options, outbox_mail_containing, outbox_pin,
    post_json, send, text,
};
use topca_server::{setup::start, url_encode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_replacement_and_preview_pages_work() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let account = state.demo_account.unwrap().0;
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let (status, _) = post_json(&app, &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "赵六", "email": "zhaoliu@example.cn", "password": "zhaoliu-password-1"})).await;
    assert_eq!(status, StatusCode::OK);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let new_csr = |name: &str| ec_csr(w, name);
    let (_, retrieved) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({
        "pin": outbox_pin(data.path()), "password": "zhaoliu-password-1", "csr": new_csr("first")}),
    )
    .await;
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
    let mail = outbox_mail_containing(data.path(), "token=");
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
    // The replacement page offers the browser key generator (SM2 included).
    assert!(text(&body).contains(r#"id="generate-key""#));
    assert!(text(&body).contains(r#"<option value="sm2""#));
    assert!(text(&body).contains("/TopCA/assets/csr.js"));
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
    // Record before sign held for every certificate issued here.
    common::assert_every_certificate_recorded(&state, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_covers_server_applications_renewal_replacement_and_preview() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let account = state.demo_account.unwrap().0;
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
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
        refused["detail"].as_str().unwrap().contains("agreement"),
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
        "pin": outbox_pin(data.path()), "password": "zhouba-password-1", "csr": ec_csr(w, "first")})).await;
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
        renewal["detail"].as_str().unwrap().contains("30 days"),
        "{renewal}"
    );

    let (status, _) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/replacements"),
        serde_json::json!({"name": "周八", "email": "zhouba@example.cn"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let link = outbox_mail_containing(data.path(), "token=");
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
    // Record before sign held for every certificate issued here (renewal, replacement).
    common::assert_every_certificate_recorded(&state, 0);
}
