//! The administrators' API: approvals, roles kept apart, key recovery by two KMC
//! administrators, accounts, revocation, the audit log and lock-out; passcode
//! pre-registration (one and CSV) and central issuance.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{
    ADMIN_PASSWORD, CSRF, admins, call_as, ec_csr, form, get, log_in, openssl_outcome, options,
    outbox_mail_containing, outbox_pin, post_json, send, text,
};
use topca_core::ra::AdminRole;
use topca_server::{setup::start, url_encode};

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
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
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
    let (status, pending) = call_as(&app, &ra, "GET", "/api/v1/admin/requests", None).await;
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
    let (_, pending) = call_as(&app, &ra, "GET", "/api/v1/admin/requests", None).await;
    let id = pending[0]["request"].as_u64().unwrap();
    assert_eq!(pending[0]["holder"], "www.example.cn");
    let (status, decided) = call_as(
        &app,
        &ra,
        "POST",
        &format!("/api/v1/admin/requests/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["state"], "already issued");
    assert!(outbox_mail_containing(data.path(), "www.example.cn").contains("certificate.pem"));
    let (status, again) = call_as(
        &app,
        &ra,
        "POST",
        &format!("/api/v1/admin/requests/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{again}");

    // Roles are kept apart: the RA administrator cannot touch the KMC, and back.
    let (status, err) = call_as(
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
    let (status, _) = call_as(&app, &kmc1, "GET", "/api/v1/admin/requests", None).await;
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
        "pin": outbox_pin(data.path()), "password": "sunqi-password-1", "csr": csr}),
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
    // Only a certificate issued in an earlier second than the request (times
    // are whole seconds) may receive the key.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (status, asked) = call_as(
        &app,
        &kmc1,
        "POST",
        "/api/v1/admin/recoveries",
        Some(serde_json::json!({"encryption_serial": encryption, "reason": "换电脑"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{asked}");
    let recovery = asked["recovery"].as_str().unwrap().to_owned();
    let (status, err) = call_as(
        &app,
        &kmc1,
        "POST",
        &format!("/api/v1/admin/recoveries/{recovery}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["detail"]
            .as_str()
            .unwrap()
            .contains("different KMC administrator"),
        "{err}"
    );
    let (_, kmc2) = login("kmc-乙", ADMIN_PASSWORD).await;
    let kmc2 = kmc2["token"].as_str().unwrap().to_owned();
    let (status, approved) = call_as(
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
    let code = outbox_mail_containing(data.path(), "授权码是")
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
    let (status, created) = call_as(
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
    let (status, _) = call_as(
        &app,
        &ra,
        "PUT",
        &format!("/api/v1/admin/accounts/{new_id}"),
        Some(account_json("automatic", 730)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, bad) = call_as(
        &app,
        &ra,
        "POST",
        "/api/v1/admin/accounts",
        Some(account_json("sometimes", 365)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["detail"].as_str().unwrap().contains("verification"),
        "{bad}"
    );
    let (status, bad) = call_as(
        &app,
        &ra,
        "POST",
        "/api/v1/admin/accounts",
        Some(account_json("manual", 99_999)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (status, _) = call_as(
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
    let (status, certificates) = call_as(
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
    let (status, _) = call_as(
        &app,
        &kmc1,
        "POST",
        &format!("/api/v1/admin/certificates/{signing}/revoke"),
        Some(serde_json::json!({"reason": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, revoked) = call_as(
        &app,
        &ra,
        "POST",
        &format!("/api/v1/admin/certificates/{signing}/revoke"),
        Some(serde_json::json!({"reason": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    let (status, again) = call_as(
        &app,
        &ra,
        "POST",
        &format!("/api/v1/admin/certificates/{signing}/revoke"),
        Some(serde_json::json!({"reason": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{again}");
    assert!(
        outbox_mail_containing(data.path(), &signing).contains("隶属关系改变"),
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
        page.contains("审计链完整") && page.contains("批准密钥恢复") && page.contains("kmc-乙"),
        "{page}"
    );
    assert!(!page.contains("创建帐户"), "filtered by actor");

    // Five wrong passwords lock an administrator out, even with the right one after.
    for _ in 0..5 {
        let (status, _) = login("ra-甲", "wrong").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, locked) = login("ra-甲", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        locked["detail"].as_str().unwrap().contains("locked out"),
        "{locked}"
    );
    let (status, unknown) = login("nobody", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        unknown["detail"]
            .as_str()
            .unwrap()
            .contains("name or password is wrong")
    );
    // Record before sign held for every certificate issued here (server approval, dual).
    common::assert_every_certificate_recorded(&state, 0);
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
    let (status, created) = call_as(&app, &ra, "POST", "/api/v1/admin/accounts", Some(serde_json::json!({
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
    let mail = outbox_mail_containing(data.path(), "王十一");
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
    let (status, central) = call_as(&app, &ra, "POST", &format!("/api/v1/admin/accounts/{passcode_account}/central-issuance"),
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
    let (status, keys) = call_as(
        &app,
        &kmc,
        "GET",
        "/api/v1/admin/escrowed-keys?email=nobody%40example.cn",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys, serde_json::json!([]));
    let (status, _) = call_as(
        &app,
        &ra,
        "GET",
        "/api/v1/admin/escrowed-keys?email=x%40example.cn",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
