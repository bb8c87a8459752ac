//! After every download the user centre shows what was delivered and how to
//! install it; the OpenSSL commands the page gives are run here on the files the
//! server delivered. The recovery page lists the holder's signing certificates
//! to pick from.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, sync::Arc};

use axum::{Router, http::StatusCode};
use base64::Engine;
use common::{CSRF, ec_csr, form, get, openssl, options, outbox_pin, post_json, send, text};
use topca_server::setup::start;

const PASSWORD: &str = "holder-password-1";

/// The text of `<pre id="ID">` in `page`, unescaped, one command a line.
fn commands(page: &str, id: &str) -> Vec<String> {
    let start = page
        .find(&format!("<pre id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no {id}: {page}"));
    let rest = &page[start..];
    let body = &rest[rest.find('>').unwrap() + 1..rest.find("</pre>").unwrap()];
    body.replace("&amp;", "&")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs one command the page shows (`openssl …`) with `extra` arguments in `dir`.
fn run(dir: &Path, command: &str, extra: &[&str]) -> String {
    let mut args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(args.remove(0), "openssl", "{command}");
    args.extend_from_slice(extra);
    openssl(dir, &args)
}

/// `text` encoded for a form body.
fn form_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn save(app: &Router, dir: &Path, uri: &str, name: &str) {
    let (status, body) = get(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}");
    std::fs::write(dir.join(name), body).unwrap();
}

async fn apply(app: &Router, account: u64, email: &str) {
    let (status, body) = post_json(
        app,
        &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "吴十一", "email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The demo account whose unit is `unit`.
async fn demo(app: &Router, unit: &str) -> u64 {
    let (_, body) = get(app, "/api/v1/accounts?keyword=%E6%BC%94%E7%A4%BA").await;
    let accounts: serde_json::Value = serde_json::from_slice(&body).unwrap();
    accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["unit"] == unit)
        .unwrap_or_else(|| panic!("{unit}: {accounts}"))["id"]
        .as_u64()
        .unwrap()
}

/// The result page of a retrieval on the page, for a request whose key is saved
/// in `w` as the browser generator names it (P-256: unencrypted PKCS#8), by a
/// holder of the demo account `unit`: the page and its headers.
async fn retrieved_page(
    app: &Router,
    data: &Path,
    w: &Path,
    unit: &str,
    email: &str,
) -> (String, axum::http::HeaderMap) {
    let account = demo(app, unit).await;
    apply(app, account, email).await;
    let pin = outbox_pin(data);
    let csr = ec_csr(w, "browser");
    std::fs::rename(w.join("browser.key"), w.join("topca-private-key.pem")).unwrap();
    let csr = form_value(&csr);
    let (status, body, headers) = send(
        app,
        form(
            "/TopCA/userEnroll/retrieve",
            format!("csrf={CSRF}&pin={pin}&password={PASSWORD}&csr={csr}"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    (text(&body), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pkcs12_retrieval_is_confirmed_with_install_steps_whose_openssl_commands_work() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    let account = demo(&app, "演示部门").await;
    apply(&app, account, "wushiyi@example.cn").await;
    let pin = outbox_pin(data.path());
    let (status, body, headers) = send(
        &app,
        form(
            "/TopCA/userEnroll/retrieve",
            format!("csrf={CSRF}&pin={pin}&password={PASSWORD}&generate=1"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert_eq!(
        headers["cache-control"], "no-store",
        "a page holding a key is not cached"
    );
    let page = text(&body);
    assert!(
        page.contains("id=\"issued\"") && page.contains("PKCS#12"),
        "{page}"
    );
    for section in [
        "install-windows",
        "install-macos",
        "install-firefox",
        "install-openssl",
    ] {
        assert!(page.contains(&format!("id=\"{section}\"")), "{section}");
    }
    let serial = page
        .split("<td id=\"serial\" class=\"serial\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_owned();
    assert!(page.contains(&format!("certutil -user -importPFX {serial}.p12")));
    assert!(page.contains(&format!("security import {serial}.p12")));
    // The file from the page's link, and the commands the page gives for it.
    let link = page
        .split("href=\"data:application/x-pkcs12;base64,")
        .nth(1)
        .unwrap();
    let p12 = base64::engine::general_purpose::STANDARD
        .decode(&link[..link.find('"').unwrap()])
        .unwrap();
    std::fs::write(w.join(format!("{serial}.p12")), p12).unwrap();
    save(
        &app,
        w,
        &format!("/TopCA/certificates/{serial}.pem"),
        &format!("{serial}.pem"),
    )
    .await;
    save(&app, w, "/TopCA/ca/chain.pem", "chain.pem").await;
    let pass = format!("pass:{PASSWORD}");
    let shown = commands(&page, "cmd-p12");
    let out = run(w, &shown[0], &["-passin", &pass]);
    assert!(out.contains("BEGIN CERTIFICATE"), "{out}");
    run(
        w,
        &shown[1],
        &["-passin", &pass, "-passout", "pass:key-file-password"],
    );
    let verified = run(w, &commands(&page, "cmd-verify")[0], &[]);
    assert!(
        verified.contains(&format!("{serial}.pem: OK")),
        "{verified}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_retrieval_shows_commands_that_match_the_key_and_make_a_pkcs12_file() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    let (page, _) = retrieved_page(&app, data.path(), w, "演示部门", "wushier@example.cn").await;
    assert!(page.contains("id=\"download-pem\"") && page.contains("id=\"download-chain\""));
    assert!(!page.contains("download-p12"));
    let serial = page
        .split("<td id=\"serial\" class=\"serial\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_owned();
    save(
        &app,
        w,
        &format!("/TopCA/certificates/{serial}.pem"),
        &format!("{serial}.pem"),
    )
    .await;
    save(&app, w, "/TopCA/ca/chain.pem", "chain.pem").await;
    let matching = commands(&page, "cmd-key-match");
    assert_eq!(
        run(w, &matching[0], &[]),
        run(w, &matching[1], &[]),
        "the key matches"
    );
    let make = &commands(&page, "cmd-make-p12")[0];
    run(w, make, &["-passout", "pass:p12-password"]);
    let out = run(
        w,
        &format!("openssl pkcs12 -in {serial}.p12 -nokeys"),
        &["-passin", "pass:p12-password"],
    );
    assert!(out.contains("BEGIN CERTIFICATE"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_page_lists_the_holders_signing_certificates_to_pick_from() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    let dual = demo(&app, "双证书部门").await;
    apply(&app, dual, "wushisan@example.cn").await;
    let csr = ec_csr(work.path(), "signing");
    let (status, retrieved) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": outbox_pin(data.path()), "password": PASSWORD, "csr": csr}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    let signing = retrieved["certificate"]["serial"].as_str().unwrap();
    let encryption = retrieved["encryption"]["certificate"]["serial"]
        .as_str()
        .unwrap();

    let (status, body) = get(
        &app,
        &format!("/TopCA/userEnroll/recover?account={dual}&email=wushisan%40example.cn"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&body);
    assert!(
        page.contains(&format!(
            r#"<input type="radio" name="serial" value="{signing}""#
        )),
        "{page}"
    );
    assert!(
        !page.contains(encryption),
        "only signing certificates receive a key: {page}"
    );
    assert!(!page.contains(r#"<input id="serial""#), "no typed serial");
    // Another account, or an unknown e-mail, lists nothing.
    let other = demo(&app, "演示部门").await;
    for uri in [
        format!("/TopCA/userEnroll/recover?account={other}&email=wushisan%40example.cn"),
        "/TopCA/userEnroll/recover?email=nobody%40example.cn".to_owned(),
    ] {
        let (status, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            text(&body).contains("id=\"none\"") && !text(&body).contains(signing),
            "{uri}"
        );
    }
    // A wrong code is refused in Chinese, and the form needs its token.
    let (status, body, _) = send(
        &app,
        form(
            "/TopCA/userEnroll/recover",
            format!("csrf={CSRF}&serial={signing}&code=bad"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", text(&body));
    assert!(text(&body).contains("授权码"), "{}", text(&body));
    let (status, _, _) = send(
        &app,
        form(
            "/TopCA/userEnroll/recover",
            format!("csrf=00&serial={signing}&code=bad"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cms_envelope_commands_of_a_dual_retrieval_open_the_encryption_key() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    let (page, headers) =
        retrieved_page(&app, data.path(), w, "双证书部门", "wushisi@example.cn").await;
    assert_eq!(headers["cache-control"], "no-store");
    let encryption = page
        .split("<span id=\"encryption-serial\" class=\"serial\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_owned();
    // The envelope from the page's link, saved under the name it gives.
    let link = page
        .split("download=\"encryptionKey.p7m\" href=\"data:application/octet-stream;base64,")
        .nth(1)
        .unwrap_or_else(|| panic!("a CMS envelope link: {page}"));
    let envelope = base64::engine::general_purpose::STANDARD
        .decode(&link[..link.find('"').unwrap()])
        .unwrap();
    std::fs::write(w.join("encryptionKey.p7m"), envelope).unwrap();
    save(
        &app,
        w,
        &format!("/TopCA/certificates/{encryption}.pem"),
        &format!("{encryption}.pem"),
    )
    .await;
    let shown = commands(&page, "cmd-envelope");
    assert_eq!(shown.len(), 3, "{shown:?}");
    run(w, &shown[0], &[]);
    run(w, &shown[1], &["-passout", "pass:key-file-password"]);
    let from_certificate = run(w, &shown[2], &[]);
    let from_key = run(
        w,
        "openssl pkey -in encryption-key.pem -pubout",
        &["-passin", "pass:key-file-password"],
    );
    assert_eq!(
        from_key, from_certificate,
        "the opened key is the encryption certificate's"
    );
}
