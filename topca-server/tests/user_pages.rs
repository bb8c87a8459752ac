//! The user centre's pages: the query's status and validity filters with page
//! links, the revocation page a listed certificate opens, the account home's
//! links, breadcrumbs, the renewal page's key generator and the preview's field
//! names; each with the refusals a stranger or a bad value meets, in Chinese.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, sync::Arc};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{CSRF, ec_csr, form, get, options, outbox_pin, post_json, send, text};
use topca_core::{
    KeyAlgorithm,
    lifecycle::{CertificateType, VerificationMode},
    ra::{AccountSettings, Language},
    store::AccountStore,
};
use topca_server::{AppState, setup::start};

const PASSWORD: &str = "holder-password-1";

/// A certificate of `email` under `account`, applied for and retrieved through the API.
async fn issued(app: &Router, dir: &Path, work: &Path, account: u64, email: &str) -> String {
    let (status, body) = post_json(
        app,
        &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "钱九", "email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let csr = ec_csr(work, &format!("k{}", email.len()));
    let (status, body) = post_json(
        app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": outbox_pin(dir), "password": PASSWORD, "csr": csr}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["certificate"]["serial"].as_str().unwrap().to_owned()
}

fn account(
    state: &AppState,
    unit: &str,
    kind: CertificateType,
    mode: VerificationMode,
    days: u32,
) -> u64 {
    state
        .store
        .create_account(AccountSettings {
            organization: "页面测试单位".into(),
            unit: unit.into(),
            certificate_type: kind,
            verification: mode,
            algorithm: KeyAlgorithm::EcdsaP256,
            validity_days: days,
            service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
            language: Language::Chinese,
        })
        .unwrap()
        .id
        .0
}

async fn english(app: &Router, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri)
        .header(header::COOKIE, "topca_lang=en")
        .body(Body::empty())
        .unwrap();
    let (status, body, _) = send(app, request).await;
    (status, text(&body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_filters_by_status_and_end_of_validity_and_refuses_bad_values_in_chinese() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let id = account(
        &state,
        "查询部",
        CertificateType::Single,
        VerificationMode::Automatic,
        365,
    );
    let kept = issued(&app, data.path(), work.path(), id, "qianjiu@example.cn").await;
    let revoked = issued(&app, data.path(), work.path(), id, "qianjiu@example.cn").await;

    // The list links each valid certificate to its revocation page (no typed serial).
    let base = format!("/TopCA/userEnroll/query?account={id}&email=qianjiu%40example.cn");
    let (status, body) = get(&app, &base).await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&body);
    let revoke_link = format!("/TopCA/userEnroll/revoke?account={id}&amp;serial={revoked}");
    assert!(page.contains(&revoke_link), "{page}");
    assert!(
        page.contains(&format!("href=\"/TopCA/userEnroll/home?account={id}\"")),
        "a way home: {page}"
    );
    let (status, body) = get(
        &app,
        &format!("/TopCA/userEnroll/revoke?account={id}&serial={revoked}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&body);
    assert!(
        page.contains(&revoked) && page.contains("密钥泄露") && page.contains("id=\"revoke-form\""),
        "{page}"
    );
    // A holder may not give a CA's reasons, and the form needs its token.
    let post = |reason: u8, csrf: &str| {
        form(
            "/TopCA/userEnroll/revoke",
            format!(
                "csrf={csrf}&account={id}&serial={revoked}&password={PASSWORD}&reason={reason}"
            ),
        )
    };
    let (status, body, _) = send(&app, post(2, CSRF)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body).contains("请选择吊销原因"), "{}", text(&body));
    let (status, body, _) = send(&app, post(1, "fedcba9876543210fedcba9876543210")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body).contains("表单已过期"));
    let (status, body, _) = send(&app, post(1, CSRF)).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert!(text(&body).contains("证书已吊销"));
    // Revoked now: its page offers no form.
    let (_, body) = get(
        &app,
        &format!("/TopCA/userEnroll/revoke?account={id}&serial={revoked}"),
    )
    .await;
    assert!(!text(&body).contains("revoke-form") && text(&body).contains("id=\"not-active\""));

    let serials = |page: &str| -> (bool, bool) { (page.contains(&kept), page.contains(&revoked)) };
    for (filter, expected) in [
        ("", (true, true)),
        ("&status=all", (true, true)),
        ("&status=valid", (true, false)),
        ("&status=revoked", (false, true)),
        ("&status=expired", (false, false)),
        ("&within=30", (false, false)),
        ("&within=400", (true, true)),
        ("&from=2099-01-01", (false, false)),
        ("&until=2099-12-31&status=valid", (true, false)),
        ("&page=0", (true, true)),
        ("&page=999999999", (true, true)),
    ] {
        let (status, body) = get(&app, &format!("{base}{filter}")).await;
        assert_eq!(status, StatusCode::OK, "{filter}");
        assert_eq!(serials(&text(&body)), expected, "{filter}");
    }
    let (_, body) = get(&app, &format!("{base}&status=revoked")).await;
    assert!(
        text(&body).contains("已吊销")
            && text(&body).contains(r#"<option value="revoked" selected>"#)
    );

    // Bad filter values: 400 with a sentence in the page's language.
    for (filter, zh, en) in [
        ("&status=bogus", "请选择证书状态", "Choose a status"),
        ("&within=0", "到期天数", "number of days"),
        ("&within=99999", "到期天数", "number of days"),
        ("&within=abc", "到期天数", "number of days"),
        ("&from=2026-02-30", "日期须为", "A date must be"),
        ("&until=31%2F12%2F2026", "日期须为", "A date must be"),
        (
            "&from=2027-01-01&until=2026-01-01",
            "起始日期晚于截止日期",
            "first date is after",
        ),
    ] {
        let (status, body) = get(&app, &format!("{base}{filter}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filter}");
        assert!(text(&body).contains(zh), "{filter}: {}", text(&body));
        let (status, page) = english(&app, &format!("{base}{filter}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filter}");
        assert!(page.contains(en), "{filter}: {page}");
    }
    // Searches with markup or SQL come back escaped and find nothing.
    let (status, body) = get(
        &app,
        &format!("/TopCA/userEnroll/query?account={id}&name=%3Cscript%3Ealert(1)%3C%2Fscript%3E%27%20OR%201%3D1--"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&body);
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        page.contains("&#60;script&#62;alert(1)") || page.contains("&lt;script&gt;alert(1)"),
        "{page}"
    );
    assert!(page.contains("id=\"none\""), "{page}");

    // Another account's certificate and a guessed serial open no revocation page.
    let other = account(
        &state,
        "他人部",
        CertificateType::Single,
        VerificationMode::Automatic,
        365,
    );
    for uri in [
        format!("/TopCA/userEnroll/revoke?account={other}&serial={kept}"),
        format!("/TopCA/userEnroll/revoke?account={id}&serial=00FF"),
        format!("/TopCA/userEnroll/revoke?account={id}&serial=%3Cb%3E"),
    ] {
        let (status, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {}", text(&body));
        assert!(!text(&body).contains("<b>"));
    }
    // Nor does another account's query list it.
    let (_, body) = get(
        &app,
        &format!("/TopCA/userEnroll/query?account={other}&email=qianjiu%40example.cn"),
    )
    .await;
    assert!(!text(&body).contains(&kept));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homes_link_every_function_and_pages_lead_back_home() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let passcode = account(
        &state,
        "授权码部",
        CertificateType::Single,
        VerificationMode::Passcode,
        365,
    );
    let dual = account(
        &state,
        "双证部",
        CertificateType::Dual,
        VerificationMode::Automatic,
        365,
    );

    let (status, body) = get(&app, &format!("/TopCA/userEnroll/home?account={passcode}")).await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&body);
    assert!(
        page.contains(&format!(
            "href=\"/TopCA/userEnroll/passcode?account={passcode}\""
        )),
        "{page}"
    );
    assert!(page.contains("授权码") && page.contains("页面测试单位 / 授权码部"));
    assert!(!page.contains("/TopCA/userEnroll/recover"));
    let (_, body) = get(&app, &format!("/TopCA/userEnroll/home?account={dual}")).await;
    let page = text(&body);
    assert!(
        page.contains(&format!(
            "href=\"/TopCA/userEnroll/recover?account={dual}\""
        )),
        "{page}"
    );
    assert!(!page.contains("/TopCA/userEnroll/passcode"));

    // Every page of the centre leads back to the centre, and those of an account to its home.
    let home = format!("href=\"/TopCA/userEnroll/home?account={dual}\"");
    for path in [
        "apply", "retrieve", "passcode", "query", "renew", "replace", "preview", "recover",
    ] {
        let (status, body) = get(&app, &format!("/TopCA/userEnroll/{path}?account={dual}")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let page = text(&body);
        assert!(page.contains("<nav class=\"crumbs\""), "{path}");
        assert!(page.contains("href=\"/TopCA/userEnroll\""), "{path}");
        assert!(page.contains(&home), "{path}: {page}");
    }
    // An unknown account is refused in Chinese, with the way back.
    let (status, body) = get(&app, "/TopCA/userEnroll/apply?account=999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text(&body).contains("href=\"/TopCA/userEnroll\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_picks_from_the_list_and_offers_the_browser_key_generator() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut options = options(data.path());
    options.algorithm = KeyAlgorithm::Sm2;
    let (state, _) = start(&options).unwrap();
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    // Twenty-day certificates are in the 30-day renewal window at once.
    let id_auto = account(
        &state,
        "自动更新部",
        CertificateType::Single,
        VerificationMode::Automatic,
        20,
    );
    // An SM2 CA signs P-256 requests too; the page offers SM2 first.
    let serial = issued(&app, data.path(), work.path(), id_auto, "sunshi@example.cn").await;
    let (status, body) = get(
        &app,
        &format!("/TopCA/userEnroll/renew?account={id_auto}&email=sunshi%40example.cn"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&body);
    assert!(
        page.contains(&format!(
            r#"<input type="radio" name="serial" value="{serial}""#
        )),
        "{page}"
    );
    assert!(
        page.contains(r#"id="generate-key""#) && page.contains(r#"<option value="sm2" selected>"#),
        "{page}"
    );
    assert!(
        page.contains("data-keep-request") && page.contains("/TopCA/assets/csr.js"),
        "{page}"
    );
    let (status, body, _) = send(
        &app,
        form(
            "/TopCA/userEnroll/renew",
            format!("csrf={CSRF}&account={id_auto}&serial={serial}&password={PASSWORD}"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert!(text(&body).contains("更新申请已注册"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_names_fields_and_purposes_in_the_page_language() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let id = account(
        &state,
        "预览部",
        CertificateType::Single,
        VerificationMode::Automatic,
        365,
    );
    let serial = issued(&app, data.path(), work.path(), id, "zhoujiu@example.cn").await;
    let (status, body) = get(
        &app,
        &format!("/TopCA/userEnroll/preview/{serial}?account={id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&body);
    for name in [
        "密钥用法",
        "序列号",
        "签名算法",
        "颁发机构密钥标识符",
        "SHA-256 指纹",
        "数字签名",
    ] {
        assert!(page.contains(name), "{name}: {page}");
    }
    assert!(
        !page.contains("Key usage") && !page.contains("Digital signature"),
        "{page}"
    );
    assert!(
        page.contains(&format!("href=\"/TopCA/userEnroll/preview?account={id}\"")),
        "{page}"
    );
    let (_, page) = english(&app, &format!("/TopCA/userEnroll/preview/{serial}")).await;
    assert!(
        page.contains("Key usage") && page.contains("Digital signature"),
        "{page}"
    );
    let (status, _) = get(&app, "/TopCA/userEnroll/preview/%3Cscript%3E").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_links_and_malformed_forms_are_refused_as_pages_in_chinese() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    for uri in [
        "/TopCA/userEnroll/home?account=abc",
        "/TopCA/userEnroll/home",
        "/TopCA/userEnroll/query?account=1&page=-1",
        "/TopCA/userEnroll/renew?account=99999999999999999999999",
        "/TopCA/userEnroll/revoke?account=1",
        "/TopCA/userEnroll/preview/AA?account=%3Cb%3E",
    ] {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let page = text(&body);
        assert!(
            page.contains("链接有误") && page.contains("href=\"/TopCA/userEnroll\" class=\"back\""),
            "{uri}: {page}"
        );
        let (_, page) = english(&app, uri).await;
        assert!(page.contains("The link is wrong"), "{uri}: {page}");
    }
    for (uri, body) in [
        (
            "/TopCA/userEnroll/revoke",
            format!("csrf={CSRF}&account=1&serial=AA&password=x&reason=abc"),
        ),
        ("/TopCA/userEnroll/apply", format!("csrf={CSRF}&account=1")),
        ("/TopCA/userEnroll/recover", format!("csrf={CSRF}&code=x")),
        ("/TopCA/userEnroll/retrieve", "pin=1".to_owned()),
    ] {
        let (status, answer, _) = send(&app, form(uri, body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(
            text(&answer).contains("表单内容不完整"),
            "{uri}: {}",
            text(&answer)
        );
    }
}
