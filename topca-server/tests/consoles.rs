//! The administrators' console pages over HTTP: the RA's certificate search and
//! revocation, account search and editing, passcode pre-registration (one and
//! CSV) and central issuance; the super administrator's page (administrators, CRL
//! now, CRL schedule, backup); role separation; certificate log-in over TLS
//! with `openssl s_client` presenting the client certificate; and `admin add`
//! holding to the same password minimum as the page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{
    ADMIN_PASSWORD, CSRF, admins, https_get, https_options, log_in, openssl, options, send,
    serve_https,
};
use topca_core::{
    SystemClock,
    ra::{AdminRole, Administrator, Holder},
    store::{AccountStore, AdminStore, AuditStore},
};
use topca_server::{
    setup::{add_admin, start},
    url_encode,
};

/// Sends requests to the router with the CSRF cookie and, once logged in, the
/// administrator's bearer token.
struct Client {
    app: Router,
    token: Option<String>,
}

impl Client {
    async fn send(
        &self,
        request: axum::http::request::Builder,
        body: Body,
    ) -> (StatusCode, String, axum::http::HeaderMap) {
        let mut request = request.header(header::COOKIE, format!("topca_csrf={CSRF}"));
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let (status, body, headers) = send(&self.app, request.body(body).unwrap()).await;
        (status, String::from_utf8_lossy(&body).into_owned(), headers)
    }

    async fn get(&self, uri: &str) -> (StatusCode, String) {
        let (status, body, _) = self.send(Request::get(uri), Body::empty()).await;
        (status, body)
    }

    /// Posts a form (the CSRF field is added).
    async fn post(
        &self,
        uri: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, String, axum::http::HeaderMap) {
        let mut form = format!("csrf={CSRF}");
        for (k, v) in fields {
            form.push_str(&format!("&{k}={}", url_encode(v)));
        }
        self.send(
            Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
            Body::from(form),
        )
        .await
    }
}

/// A [`Client`] for the administrator `name`, logged in.
async fn client(app: &Router, name: &str) -> Client {
    let (status, json) = log_in(app, name, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "log-in of {name}");
    Client {
        app: app.clone(),
        token: Some(json["token"].as_str().unwrap().to_owned()),
    }
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in {text}"))
        + start.len();
    let to = text[from..].find(end).unwrap() + from;
    &text[from..to]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ra_console_searches_edits_registers_issues_and_revokes() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    admins(
        &state,
        &[("ra", AdminRole::RaAdmin), ("kmc", AdminRole::KmcAdmin)],
    );
    let app = topca_server::router(Arc::new(state));
    let ra = client(&app, "ra").await;
    let kmc = client(&app, "kmc").await;
    let anonymous = Client {
        app: app.clone(),
        token: None,
    };

    // A passcode account with a Chinese O/OU, made on the console.
    let (status, body, _) = ra
        .post(
            "/TopCA/admin/ra/accounts",
            &[
                ("organization", "天诚安信"),
                ("unit", "授权码部门"),
                ("certificate_type", "single"),
                ("verification", "passcode"),
                ("algorithm", "p256"),
                ("validity_days", "365"),
                ("service_url", "http://127.0.0.1:8080/TopCA/userEnroll"),
                ("language", "zh"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id: u64 = between(&body, "(#", ")").parse().unwrap();

    // Found by keyword; its page is the edit form with the current values.
    let (status, body) = ra
        .get(&format!(
            "/TopCA/admin/ra/accounts?keyword={}",
            url_encode("授权码")
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(&format!("/TopCA/admin/ra/accounts/{id}\">天诚安信")),
        "{body}"
    );
    let (status, body) = ra.get(&format!("/TopCA/admin/ra/accounts/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(r#"value="授权码部门""#) && body.contains("preregister-csv"),
        "{body}"
    );

    // Edited: validity and unit change; a bad algorithm is a clear 400.
    let edit = |unit: &'static str, algorithm: &'static str| {
        [
            ("organization", "天诚安信"),
            ("unit", unit),
            ("certificate_type", "single"),
            ("verification", "passcode"),
            ("algorithm", algorithm),
            ("validity_days", "200"),
            ("service_url", "http://127.0.0.1:8080/TopCA/userEnroll"),
            ("language", "en"),
        ]
    };
    let (status, body, _) = ra
        .post(
            &format!("/TopCA/admin/ra/accounts/{id}"),
            &edit("预注册部门", "p256"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("预注册部门"), "{body}");
    let (status, body, _) = ra
        .post(
            &format!("/TopCA/admin/ra/accounts/{id}"),
            &edit("预注册部门", "dsa1024"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("class=\"error\""), "{body}");

    // One holder, then a CSV with a bad row reported by line.
    let (status, body, _) = ra
        .post(
            &format!("/TopCA/admin/ra/accounts/{id}/preregistrations"),
            &[
                ("name", "周八"),
                ("email", "zhouba@example.cn"),
                ("phone", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("zhouba@example.cn"), "{body}");
    let csv =
        "姓名,电子邮件\n吴九,wujiu@example.cn\n郑十,not-an-address\n王十一,wangshiyi@example.cn\n";
    let (status, body, _) = ra
        .post(
            &format!("/TopCA/admin/ra/accounts/{id}/preregistrations/csv"),
            &[("csv", csv)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        between(&body, "<p class=\"ok\" id=\"registered-count\">", "</p>")
            .split_whitespace()
            .last(),
        Some("2"),
        "{body}"
    );
    assert!(body.contains("data-label=\"行\">3</td>"), "{body}");
    let outbox: Vec<String> = std::fs::read_dir(data.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        outbox.iter().any(|m| m.contains("wangshiyi@example.cn")),
        "a passcode mail per holder"
    );

    // Central issuance: the PKCS#12 download opens with the password under OpenSSL.
    let (status, body, _) = ra
        .post(
            &format!("/TopCA/admin/ra/accounts/{id}/central-issuance"),
            &[
                ("name", "陈十二"),
                ("email", "chen@example.cn"),
                ("password", "chen-password-1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let serial = between(&body, "<b id=\"serial\">", "</b>").to_owned();
    let p12 = between(&body, "base64,", "\"");
    use base64::Engine;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("chen.p12"),
        base64::engine::general_purpose::STANDARD
            .decode(p12)
            .unwrap(),
    )
    .unwrap();
    let out = openssl(
        work.path(),
        &[
            "pkcs12",
            "-in",
            "chen.p12",
            "-passin",
            "pass:chen-password-1",
            "-nokeys",
            "-clcerts",
        ],
    );
    assert!(out.contains("BEGIN CERTIFICATE"), "{out}");

    // Certificates by e-mail, revoked from the list; the CRL names it.
    let search = format!(
        "/TopCA/admin/ra/certificates?email={}",
        url_encode("chen@example.cn")
    );
    let (status, body) = ra.get(&search).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(&serial) && body.contains("class=\"revoke\""),
        "{body}"
    );
    let (status, body, headers) = ra
        .post(
            &format!("/TopCA/admin/ra/certificates/{serial}/revoke"),
            &[("reason", "1"), ("back", &search)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[header::LOCATION], search.as_str());
    let (_, body) = ra.get(&search).await;
    assert!(
        body.contains("已吊销") && !body.contains("class=\"revoke\""),
        "{body}"
    );
    let (status, body, _) = ra
        .post(
            &format!("/TopCA/admin/ra/certificates/{serial}/revoke"),
            &[("reason", "1")],
        )
        .await;
    assert_eq!(
        status.as_u16() / 100,
        4,
        "revoking twice is refused: {body}"
    );
    assert!(body.contains("已被吊销"), "{body}");
    let (status, body, _) = ra
        .post(
            &format!("/TopCA/admin/ra/certificates/{serial}/revoke"),
            &[("reason", "99")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, crl, _) = send(
        &app,
        Request::get("/TopCA/crl/current.crl")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    std::fs::write(work.path().join("current.crl"), &crl).unwrap();
    let out = openssl(
        work.path(),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "current.crl",
            "-noout",
            "-text",
        ],
    );
    assert!(out.contains(&serial), "{out}");

    // Another role sees a refusal, nobody logged in is sent to the log-in page.
    for uri in [
        "/TopCA/admin/ra/certificates",
        &format!("/TopCA/admin/ra/accounts/{id}"),
        "/TopCA/admin/ra/accounts",
    ] {
        let (status, _) = kmc.get(uri).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        let (status, _, headers) = anonymous.send(Request::get(uri), Body::empty()).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(headers[header::LOCATION], "/TopCA/admin/login");
    }
    let (status, _, _) = kmc
        .post(
            &format!("/TopCA/admin/ra/accounts/{id}/central-issuance"),
            &[
                ("name", "x"),
                ("email", "x@example.cn"),
                ("password", "xxxxxxxxxx"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_super_administrator_manages_administrators_and_ca_operations() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    admins(
        &state,
        &[("root", AdminRole::SuperAdmin), ("ra", AdminRole::RaAdmin)],
    );
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let root = client(&app, "root").await;
    let ra = client(&app, "ra").await;

    let (status, _) = ra.get("/TopCA/admin/super").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = ra.post("/TopCA/admin/super/crl", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = root.get("/TopCA/admin/super").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("id=\"admins\"") && body.contains("data-admin=\"ra\""),
        "{body}"
    );
    let crl_before: u64 = between(&body, "id=\"crl-number\">", "</td>")
        .parse()
        .unwrap();

    // A new administrator with a Chinese name and two roles; too short a password is refused.
    let (status, body, _) = root
        .post(
            "/TopCA/admin/super/admins",
            &[("name", "王管理员"), ("password", "short"), ("ra", "on")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body, _) = root
        .post(
            "/TopCA/admin/super/admins",
            &[
                ("name", "王管理员"),
                ("password", "wang-password-12"),
                ("ra", "on"),
                ("kmc", "on"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        state.store.admin("王管理员").unwrap().unwrap().roles,
        [AdminRole::RaAdmin, AdminRole::KmcAdmin]
    );
    let (status, _, _) = root
        .post(
            &format!("/TopCA/admin/super/admins/{}/roles", url_encode("王管理员")),
            &[("kmc", "on")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        state.store.admin("王管理员").unwrap().unwrap().roles,
        [AdminRole::KmcAdmin]
    );
    let (status, body, _) = root
        .post("/TopCA/admin/super/admins/root/roles", &[("ra", "on")])
        .await;
    assert_eq!(status.as_u16() / 100, 4, "{body}");
    assert!(body.contains("不能移除自己的超级管理员角色"), "{body}");

    // Locked out by wrong passwords, unlocked on the page.
    for _ in 0..5 {
        let _ = topca_core::ra::admin::login(&state.store, &SystemClock, "ra", "wrong");
    }
    let (_, body) = root.get("/TopCA/admin/super").await;
    assert!(
        body.contains("/TopCA/admin/super/admins/ra/unlock"),
        "{body}"
    );
    let (status, _, _) = root.post("/TopCA/admin/super/admins/ra/unlock", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    topca_core::ra::admin::login(&state.store, &SystemClock, "ra", ADMIN_PASSWORD).unwrap();

    // Binding: not a certificate is a clear 400.
    let (status, body, _) = root
        .post(
            "/TopCA/admin/super/admins/ra/certificate",
            &[("pem", "hello")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A CRL now; the schedule kept in the database; nonsense refused.
    let (status, _, _) = root.post("/TopCA/admin/super/crl", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, body) = root.get("/TopCA/admin/super").await;
    let crl_after: u64 = between(&body, "id=\"crl-number\">", "</td>")
        .parse()
        .unwrap();
    assert!(crl_after > crl_before, "{crl_before} -> {crl_after}");
    let (status, _, _) = root
        .post("/TopCA/admin/super/crl-schedule", &[("minutes", "30")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        state
            .store
            .setting("crl_refresh_minutes")
            .unwrap()
            .as_deref(),
        Some("30")
    );
    assert_eq!(
        state
            .crl_schedule_minutes
            .load(std::sync::atomic::Ordering::Relaxed),
        30
    );
    for bad in ["0", "abc", "100000"] {
        let (status, body, _) = root
            .post("/TopCA/admin/super/crl-schedule", &[("minutes", bad)])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // A restart keeps the schedule.
    drop(app);
    drop(root);
    drop(ra);
    let state = Arc::try_unwrap(state).ok().unwrap();
    drop(state);
    let (again, _) = start(&options(data.path())).unwrap();
    assert_eq!(
        again
            .crl_schedule_minutes
            .load(std::sync::atomic::Ordering::Relaxed),
        30
    );

    // The backup is a SQLite database; the actions are audited under "root".
    let app = topca_server::router(Arc::new(again));
    let root = client(&app, "root").await;
    let (status, body, headers) = root
        .send(Request::get("/TopCA/admin/super/backup"), Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("topca-backup.db")
    );
    assert!(body.starts_with("SQLite format 3"), "not a database");
    let (_, body) = root
        .get(&format!(
            "/TopCA/admin/audit?actor=root&target={}",
            url_encode("王管理员")
        ))
        .await;
    assert!(
        body.matches("修改管理员").count() >= 1 && body.contains("创建管理员"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_log_in_with_a_bound_client_certificate_over_tls() {
    let data = tempfile::tempdir().unwrap();
    let opts = https_options(data.path());
    let (state, _) = start(&opts).unwrap();
    admins(&state, &[("ra-cert", AdminRole::RaAdmin)]);

    // A certificate with a CA-made key for the administrator, bound by a super administrator.
    let ra_ops = Administrator {
        name: "ra".into(),
        roles: vec![AdminRole::RaAdmin],
    }
    .ra_ops()
    .unwrap();
    let account = state
        .store
        .account(state.demo_account.unwrap())
        .unwrap()
        .unwrap();
    let issue = |name: &str, email: &str, password: &str| {
        state
            .ra()
            .issue_centrally(
                &ra_ops,
                account.id,
                Holder {
                    name: name.into(),
                    email: email.into(),
                    phone: None,
                    state: None,
                    locality: None,
                },
                password,
            )
            .unwrap()
    };
    let bound = issue("RA 管理员", "ra-cert@example.cn", "p12-password-1");
    let unbound = issue("张三", "zhangsan@example.cn", "p12-password-2");
    let super_ops = Administrator {
        name: "root".into(),
        roles: vec![AdminRole::SuperAdmin],
    }
    .super_ops()
    .unwrap();
    topca_core::ra::admin::change_admin(
        &state.store,
        &super_ops,
        &state.ca,
        "ra-cert",
        topca_core::ra::admin::AdminChange::BindCertificate(Box::new(bound.certificate.clone())),
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_owned();
    for (file, delivery, password) in [
        ("bound", &bound, "p12-password-1"),
        ("unbound", &unbound, "p12-password-2"),
    ] {
        std::fs::write(w.join(format!("{file}.p12")), &*delivery.pkcs12).unwrap();
        openssl(
            &w,
            &[
                "pkcs12",
                "-in",
                &format!("{file}.p12"),
                "-passin",
                &format!("pass:{password}"),
                "-nodes",
                "-out",
                &format!("{file}.pem"),
            ],
        );
    }

    let state = Arc::new(state);
    let server = serve_https(&opts, Arc::clone(&state)).await;
    let port = opts.listen.port();
    let fetch = move |certificate: Option<&'static str>| {
        let w = w.clone();
        tokio::task::spawn_blocking(move || {
            let pem = certificate.map(|file| format!("{file}.pem"));
            let args = match &pem {
                Some(pem) => vec!["-cert", pem, "-key", pem],
                None => Vec::new(),
            };
            let out = https_get(&w, port, "/TopCA/admin/login/certificate", &args);
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    };

    let response = fetch(Some("bound")).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 303"), "{response}");
    assert!(
        response.contains("set-cookie: topca_admin=") && response.contains("Secure"),
        "{response}"
    );
    assert!(response.contains("location: /TopCA/admin"), "{response}");

    let response = fetch(Some("unbound")).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 4"), "{response}");
    assert!(
        response.contains("not bound to an administrator"),
        "{response}"
    );
    let response = fetch(None).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");

    // Revoked: no more log-in.
    state
        .ra()
        .revoke_by_admin(
            &ra_ops,
            &bound.certificate.serial_hex(),
            topca_core::lifecycle::RevocationReason::KeyCompromise,
        )
        .unwrap();
    let response = fetch(Some("bound")).await.unwrap();
    assert!(response.contains("it is revoked"), "{response}");
    let logins = state
        .store
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == topca_core::audit::AuditAction::AdminLogin)
        .count();
    assert_eq!(logins, 3, "each certificate log-in attempt is audited");
    server.abort();
}

#[test]
fn admin_add_refuses_a_password_shorter_than_twelve_characters() {
    let data = tempfile::tempdir().unwrap();
    let opts = options(data.path());
    // Eleven characters, in ASCII and in Chinese (33 bytes): characters count.
    for short in ["eleven-char", "管理员口令一二三四五六"] {
        let err = add_admin(&opts, "root", short, vec![AdminRole::SuperAdmin]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "an administrator password needs 12 characters or more"
        );
    }
    assert!(
        !data.path().join("topca.db").exists(),
        "refused before the database is opened"
    );
    add_admin(&opts, "root", "twelve-chars", vec![AdminRole::SuperAdmin]).unwrap();
    let (state, _) = start(&opts).unwrap();
    assert_eq!(
        state.store.admin("root").unwrap().unwrap().roles,
        [AdminRole::SuperAdmin]
    );
}

/// The rows of the audit table in `page`.
fn audit_rows(page: &str) -> usize {
    page.matches("<tr data-action=").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_paged_filtered_and_escaped_and_checkpoints_are_listed() {
    use topca_core::audit::{Actor, AuditAction, AuditRecord, Outcome};
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    admins(
        &state,
        &[("root", AdminRole::SuperAdmin), ("ra", AdminRole::RaAdmin)],
    );
    let day = std::time::Duration::from_secs(86_400);
    let start_at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_893_456_000); // 2030-01-01
    for i in 0..120u32 {
        state
            .store
            .append_audit(AuditRecord {
                at: start_at + day * (i % 3),
                actor: Actor::Admin("<script>alert(1)</script>".into()),
                action: AuditAction::CertificateRevoked,
                target: format!("serial {i:04}"),
                outcome: if i % 2 == 0 {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
                detail: if i == 7 { "50%_off".into() } else { "x".into() },
            })
            .unwrap();
    }
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let root = client(&app, "root").await;
    let ra = client(&app, "ra").await;

    // Newest first, 50 rows a page, the words of the catalogue, the actor escaped.
    let (status, first) = root
        .get("/TopCA/admin/audit?kind=certificate_revoked")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audit_rows(&first), 50);
    assert!(
        first.contains("共 120 条记录") && first.contains("第 1 页，共 3 页"),
        "{first}"
    );
    assert!(first.contains("吊销证书") && first.contains("成功") && first.contains("失败"));
    assert!(!first.contains("CertificateRevoked") && !first.contains("<script>alert"));
    assert!(first.contains("&#60;script&#62;alert(1)"));
    assert!(first.find("serial 0119").unwrap() < first.find("serial 0118").unwrap());
    assert!(
        first.contains("kind=certificate_revoked&#38;page=2"),
        "{first}"
    );
    for (page, rows, newest) in [
        ("0", 50, "serial 0119"),
        ("abc", 50, "serial 0119"),
        ("3", 20, "serial 0019"),
        ("99999999999999999999", 20, "serial 0019"),
    ] {
        let (status, body) = root
            .get(&format!(
                "/TopCA/admin/audit?kind=certificate_revoked&page={page}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "page {page}");
        assert_eq!(audit_rows(&body), rows, "page {page}");
        assert!(body.contains(newest), "page {page}");
    }

    // Filters: actor and text (metacharacters literal), days, action.
    let (_, found) = root
        .get(&format!(
            "/TopCA/admin/audit?actor={}&q={}",
            url_encode("<SCRIPT>"),
            url_encode("%_")
        ))
        .await;
    assert_eq!(audit_rows(&found), 1, "{found}");
    assert!(
        found.contains("serial 0007") && found.contains("value=\"%_\""),
        "{found}"
    );
    let (_, days) = root
        .get("/TopCA/admin/audit?kind=certificate_revoked&from=2030-01-02&until=2030-01-02")
        .await;
    assert!(days.contains("共 40 条记录"), "{days}");
    let (_, none) = root
        .get("/TopCA/admin/audit?kind=admin_created&actor=%3Cscript")
        .await;
    assert_eq!(audit_rows(&none), 0);

    // Bad filters are refused with a message in Chinese.
    for (query, message) in [
        ("kind=%3Cb%3E", "未知的操作类型"),
        ("from=2030-02-30", "日期格式"),
        ("until=yesterday", "日期格式"),
        (
            "from=2030-01-03&until=2030-01-01",
            "开始日期不能晚于结束日期",
        ),
    ] {
        let (status, body) = root.get(&format!("/TopCA/admin/audit?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body.contains(message), "{query}: {body}");
    }

    // An RA administrator reads only the RA's area and cannot act elsewhere.
    let (_, theirs) = ra.get("/TopCA/admin/audit?kind=admin_login").await;
    assert_eq!(audit_rows(&theirs), 0);
    assert!(!theirs.contains("value=\"admin_login\""), "{theirs}");
    let (status, _, _) = ra.post("/TopCA/admin/super/audit-checkpoint", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = ra.get("/TopCA/admin/audit/checkpoints").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("此操作需要超级管理员角色"), "{body}");

    // Checkpoints: made on the super page, listed newest first with their signature.
    for _ in 0..2 {
        let (status, _, _) = root.post("/TopCA/admin/super/audit-checkpoint", &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let (status, listed) = root.get("/TopCA/admin/audit/checkpoints?page=0").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        listed.contains("共 2 个检查点") && listed.matches(">有效<").count() == 2,
        "{listed}"
    );
    let (_, searched) = root
        .get(&format!(
            "/TopCA/admin/audit/checkpoints?q={}",
            url_encode("<i>")
        ))
        .await;
    assert!(
        searched.contains("共 0 个检查点") && searched.contains("value=\"&#60;i&#62;\""),
        "{searched}"
    );

    // The administrators' list is searched; the search text is shown escaped.
    let (_, admins_page) = root.get("/TopCA/admin/super?q=RA").await;
    assert!(
        admins_page.contains("data-admin=\"ra\"") && !admins_page.contains("data-admin=\"root\"")
    );
    let (status, odd) = root.get("/TopCA/admin/super?q=%22%3E%3Cb%3E&page=-4").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        odd.contains("共 0 名管理员") && !odd.contains("\"><b>"),
        "{odd}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ra_lists_are_paged_searched_and_show_each_requests_account() {
    use topca_core::{
        KeyAlgorithm,
        lifecycle::{CertificateType, VerificationMode},
        ra::{AccountSettings, Language},
    };
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    admins(&state, &[("ra", AdminRole::RaAdmin)]);
    let settings = |unit: String| AccountSettings {
        organization: "分页单位".into(),
        unit,
        certificate_type: CertificateType::Single,
        verification: VerificationMode::Manual,
        algorithm: KeyAlgorithm::EcdsaP256,
        validity_days: 365,
        service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
        language: Language::Chinese,
    };
    let mut last = None;
    for i in 0..60 {
        last = Some(
            state
                .store
                .create_account(settings(format!("部门{i:02}")))
                .unwrap()
                .id,
        );
    }
    let holder = Holder {
        name: "<i>韩梅梅</i>".into(),
        email: "han@example.cn".into(),
        phone: None,
        state: None,
        locality: None,
    };
    state
        .ra()
        .apply(last.unwrap(), holder, "han-password-1")
        .unwrap();
    let app = topca_server::router(Arc::new(state));
    let ra = client(&app, "ra").await;

    // Accounts: 50 a page; page 0 is the first, a huge page the last.
    let keyword = url_encode("分页");
    let (status, body) = ra
        .get(&format!(
            "/TopCA/admin/ra/accounts?keyword={keyword}&page=0"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("第 1 页，共 2 页") && body.contains("rel=\"next\""),
        "{body}"
    );
    assert_eq!(
        body.matches("/TopCA/admin/ra/accounts/").count(),
        50,
        "{body}"
    );
    let (_, body) = ra
        .get(&format!(
            "/TopCA/admin/ra/accounts?keyword={keyword}&page=99999999999"
        ))
        .await;
    assert!(
        body.contains("第 2 页，共 2 页") && body.contains("部门59"),
        "{body}"
    );
    let (status, _) = ra.get("/TopCA/admin/ra/accounts?page=-1").await;
    assert_eq!(status.as_u16() / 100, 4);
    // Markup and SQL in a search come back as text and find nothing.
    let (status, body) = ra
        .get(&format!(
            "/TopCA/admin/ra/accounts?keyword={}",
            url_encode("<script>x</script>' OR 1=1 --")
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !body.contains("<script>x") && body.contains("&#60;script&#62;"),
        "{body}"
    );
    assert!(body.contains("找到 0 个帐户"), "{body}");
    let (_, body) = ra
        .get(&format!(
            "/TopCA/admin/ra/certificates?name={}",
            url_encode("<b>' --")
        ))
        .await;
    assert!(
        !body.contains("<b>'") && body.contains("id=\"none\""),
        "{body}"
    );

    // The queue names each request's account; the requests page searches it.
    let (_, body) = ra.get("/TopCA/admin").await;
    let row = between(
        &body,
        "<td data-label=\"帐户（单位 / 部门）\" class=\"account\">",
        "</td>",
    );
    assert_eq!(row, "分页单位 / 部门59");
    assert!(body.contains("&#60;i&#62;韩梅梅") && !body.contains("<i>韩梅梅"));
    // Every field the certificate will carry: O, OU, CN, e-mail.
    let subject = between(&body, "class=\"subject\">", "</td>");
    for part in ["分页单位", "部门59", "韩梅梅", "han@example.cn"] {
        assert!(subject.contains(part), "{subject}");
    }
    let (_, body) = ra
        .get(&format!(
            "/TopCA/admin/ra/requests?q={}",
            url_encode("部门59")
        ))
        .await;
    assert!(
        body.contains("han@example.cn") && body.contains("共 1 个待审核的申请"),
        "{body}"
    );
    let (_, body) = ra
        .get(&format!(
            "/TopCA/admin/ra/requests?q={}",
            url_encode("部门58")
        ))
        .await;
    assert!(
        !body.contains("han@example.cn") && body.contains("共 0 个"),
        "{body}"
    );
    let (status, body) = ra.get("/TopCA/admin/ra/requests?page=999").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("han@example.cn"), "{body}");
}
