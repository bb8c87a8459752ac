//! Bulk issuance (批量制证) and duplicate refusal over HTTP: a CSV of holders (keys
//! made by the CA, PKCS#12 passwords mailed) and PEM requests, good and bad
//! lines reported per line, the zip read back and its certificates verified by
//! OpenSSL against the chain; role, CSRF and size limits; fifty concurrent
//! uploads issue each line once; pre-registration refuses repeats too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{io::Read, path::Path, sync::Arc};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use base64::Engine;
use common::{
    ADMIN_PASSWORD, CSRF, admins, log_in, openssl, openssl_outcome, options, outbox, send,
};
use topca_core::{
    KeyAlgorithm,
    lifecycle::{CertificateType, VerificationMode},
    ra::{AccountId, AccountSettings, AdminRole, Language},
    store::{AccountStore, CertificateStore},
};
use topca_server::{AppState, setup::start, url_encode};

/// An administrator's browser session (the session cookie) and the CSRF token
/// bound to it, read from a console form.
struct Console {
    app: Router,
    token: String,
    csrf: String,
}

impl Console {
    async fn new(app: &Router, name: &str) -> Self {
        let (status, json) = log_in(app, name, ADMIN_PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        let mut console = Self {
            app: app.clone(),
            token: json["token"].as_str().unwrap().to_owned(),
            csrf: String::new(),
        };
        let (_, page) = console.get("/TopCA/admin").await;
        let field = "name=\"csrf\" value=\"";
        let from = page.find(field).unwrap() + field.len();
        console.csrf = page[from..from + page[from..].find('"').unwrap()].to_owned();
        console
    }

    async fn get(&self, uri: &str) -> (StatusCode, String) {
        let request = Request::get(uri)
            .header(header::COOKIE, format!("topca_admin={}", self.token))
            .body(Body::empty())
            .unwrap();
        let (status, body, _) = send(&self.app, request).await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn post_raw(&self, uri: &str, body: String) -> (StatusCode, String) {
        self.post_as(uri, body, "").await
    }

    async fn post_as(&self, uri: &str, body: String, more_cookies: &str) -> (StatusCode, String) {
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(
                header::COOKIE,
                format!("topca_admin={}{more_cookies}", self.token),
            )
            .body(Body::from(body))
            .unwrap();
        let (status, body, _) = send(&self.app, request).await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn bulk(&self, account: AccountId, kind: &str, text: &str) -> (StatusCode, String) {
        self.post_raw(
            &format!("/TopCA/admin/ra/accounts/{}/bulk", account.0),
            format!("csrf={}&kind={kind}&text={}", self.csrf, url_encode(text)),
        )
        .await
    }
}

fn account(state: &AppState, verification: VerificationMode, kind: CertificateType) -> AccountId {
    state
        .store
        .create_account(AccountSettings {
            organization: "天诚安信".into(),
            unit: "批量部门".into(),
            certificate_type: kind,
            verification,
            algorithm: KeyAlgorithm::EcdsaP256,
            validity_days: 365,
            service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
            language: Language::Chinese,
        })
        .unwrap()
        .id
}

async fn setup(dir: &Path) -> (Arc<AppState>, Router) {
    let (state, _) = start(&options(dir)).unwrap();
    admins(
        &state,
        &[("ra", AdminRole::RaAdmin), ("kmc", AdminRole::KmcAdmin)],
    );
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    (state, app)
}

/// A PEM request for `subject` with a new key of `newkey` (`ec` or `rsa:1024`).
fn request(dir: &Path, file: &str, subject: &str, newkey: &str) -> String {
    let mut args = vec!["req", "-new", "-nodes", "-newkey", newkey];
    if newkey == "ec" {
        args.extend(["-pkeyopt", "ec_paramgen_curve:P-256"]);
    }
    let (key, csr) = (format!("{file}.key"), format!("{file}.csr"));
    args.extend(["-subj", subject, "-keyout", &key, "-out", &csr]);
    let (ok, out) = openssl_outcome(dir, &args);
    assert!(ok, "{out}");
    std::fs::read_to_string(dir.join(csr)).unwrap()
}

/// The report's rows: (line, holder, result cell).
fn rows(page: &str) -> Vec<(usize, String, String)> {
    let body = page
        .split("<tbody>")
        .nth(1)
        .unwrap()
        .split("</tbody>")
        .next()
        .unwrap();
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let cells: Vec<String> = row
                .split("<td")
                .skip(1)
                .map(|c| {
                    let from = c.find('>').unwrap() + 1;
                    c[from..c.find("</td>").unwrap()].to_owned()
                })
                .collect();
            (
                cells[0].parse().unwrap(),
                cells[1].clone(),
                cells[2].clone(),
            )
        })
        .collect()
}

/// The zip the report offers, as its entries (name, content).
fn zip_entries(page: &str) -> Vec<(String, Vec<u8>)> {
    let start = page.find("data:application/zip;base64,").unwrap() + 28;
    let end = start + page[start..].find('"').unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&page[start..end])
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            file.read_to_end(&mut content).unwrap();
            (file.name().unwrap().to_string(), content)
        })
        .collect()
}

/// Writes the zip's entries to `dir` and checks every certificate against the
/// chain with OpenSSL; returns the serials found.
fn verify_all(dir: &Path, entries: &[(String, Vec<u8>)]) -> usize {
    for (name, content) in entries {
        std::fs::write(dir.join(name), content).unwrap();
    }
    let pems: Vec<&String> = entries
        .iter()
        .map(|(n, _)| n)
        .filter(|n| n.ends_with(".pem") && n.as_str() != "chain.pem")
        .collect();
    for pem in &pems {
        let out = openssl(dir, &["verify", "-CAfile", "chain.pem", pem]);
        assert!(out.contains(": OK"), "{pem}: {out}");
        let der = pem.replace(".pem", ".cer");
        let out = openssl(
            dir,
            &["x509", "-inform", "DER", "-in", &der, "-noout", "-serial"],
        );
        assert!(out.contains("serial="), "{out}");
    }
    pems.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_issues_good_lines_reports_bad_ones_and_zips_what_it_issued() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, app) = setup(data.path()).await;
    let ra = Console::new(&app, "ra").await;
    let id = account(&state, VerificationMode::Manual, CertificateType::Single);

    // The form page is in the layout, with its breadcrumbs.
    let (status, page) = ra
        .get(&format!("/TopCA/admin/ra/accounts/{}/bulk", id.0))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("class=\"crumbs\"") && page.contains("批量制证"),
        "{page}"
    );

    // A CSV: two good holders, a row with one column, a repeat (case apart), a
    // bad e-mail, and markup that must come back escaped.
    let csv = "姓名,电子邮件\n张三,zhang@example.com\n李四,li@example.com\n王五\nZHANG,Zhang@Example.com\n赵六,not-an-address\n<b>x</b>,x@example.com\n";
    let (status, page) = ra.bulk(id, "holders", csv).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let report = rows(&page);
    let lines: Vec<usize> = report.iter().map(|r| r.0).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 7]);
    let issued: Vec<&(usize, String, String)> = report
        .iter()
        .filter(|r| {
            !r.2.contains(' ') && !r.2.is_empty() && r.2.chars().all(|c| c.is_ascii_hexdigit())
        })
        .collect();
    assert_eq!(issued.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 3, 7]);
    assert!(report[2].2.contains("应有 2 或 3 列"), "{:?}", report[2]);
    assert!(report[3].2.contains("与第 2 行重复"), "{:?}", report[3]);
    assert!(report[4].2.contains("无效"), "{:?}", report[4]);
    assert!(page.contains("&#60;b&#62;x&#60;/b&#62;") && !page.contains("<b>x</b>"));
    assert!(page.contains("已签发 3 行，未签发 3 行"));

    // The zip: a certificate (PEM and DER) and a PKCS#12 file per issued line and
    // the chain; each password reached its holder by mail only.
    let entries = zip_entries(&page);
    assert_eq!(
        entries.len(),
        3 * 3 + 1,
        "{:?}",
        entries.iter().map(|e| &e.0).collect::<Vec<_>>()
    );
    assert_eq!(verify_all(work.path(), &entries), 3);
    let mails = outbox(data.path());
    for (line, holder) in [(2, "zhang@example.com"), (3, "li@example.com")] {
        let mail = mails
            .iter()
            .find(|m| m.to == holder && m.subject.contains("口令"))
            .unwrap();
        let password = mail.secret_line().unwrap();
        assert!(
            entries
                .iter()
                .all(|(_, c)| !c.windows(password.len()).any(|w| w == password.as_bytes()))
        );
        let p12 = entries
            .iter()
            .find(|(n, _)| n.starts_with(&format!("{line:04}-")) && n.ends_with(".p12"))
            .unwrap();
        let out = openssl(
            work.path(),
            &[
                "pkcs12",
                "-in",
                &p12.0,
                "-passin",
                &format!("pass:{password}"),
                "-nokeys",
                "-clcerts",
            ],
        );
        assert!(out.contains("BEGIN CERTIFICATE"), "{out}");
    }

    // The same CSV again: every holder is registered already; nothing issued twice.
    let (status, page) = ra
        .bulk(
            id,
            "holders",
            "张三,zhang@example.com\n李四,li@example.com\n",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        rows(&page).iter().all(|r| r.2.contains("已在此帐户登记")),
        "{page}"
    );
    assert!(!page.contains("data:application/zip"));
    assert_eq!(
        state
            .store
            .certificates_by_email("zhang@example.com")
            .unwrap()
            .len(),
        1
    );

    // PEM requests: two good, an unreadable one, a repeated key, a weak key the
    // policy refuses, one without an e-mail.
    let a = request(
        work.path(),
        "a",
        "/CN=Alice/emailAddress=alice@example.com",
        "ec",
    );
    let b = request(
        work.path(),
        "b",
        "/CN=Bob/emailAddress=bob@example.com",
        "ec",
    );
    let weak = request(
        work.path(),
        "w",
        "/CN=Weak/emailAddress=weak@example.com",
        "rsa:1024",
    );
    let unnamed = request(work.path(), "u", "/CN=Nobody", "ec");
    let garbage = "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgcmVxdWVzdA==\n-----END CERTIFICATE REQUEST-----\n";
    let upload = format!("{a}{garbage}{b}{a}{weak}{unnamed}");
    let (status, page) = ra.bulk(id, "requests", &upload).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let report = rows(&page);
    assert_eq!(report.len(), 6, "{report:?}");
    let hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    assert!(hex(&report[0].2) && report[0].1.contains("alice@example.com"));
    assert!(!hex(&report[1].2));
    assert!(hex(&report[2].2) && report[2].1.contains("bob@example.com"));
    assert!(report[3].2.contains("与第 1 行重复"), "{:?}", report[3]);
    assert!(
        !hex(&report[4].2),
        "a 1024-bit RSA key is refused: {:?}",
        report[4]
    );
    assert!(report[5].2.contains("通用名"), "{:?}", report[5]);
    let entries = zip_entries(&page);
    assert!(entries.iter().all(|(n, _)| !n.ends_with(".p12")));
    assert_eq!(verify_all(work.path(), &entries), 2);
    common::assert_every_certificate_recorded(&state, 0);

    // English pages give the reasons in English.
    let (_, page) = ra
        .post_as(
            &format!("/TopCA/admin/ra/accounts/{}/bulk", id.0),
            format!(
                "csrf={}&kind=holders&text={}",
                ra.csrf,
                url_encode("Zhang,zhang@example.com")
            ),
            "; topca_lang=en",
        )
        .await;
    assert!(page.contains("registered in the account already"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_needs_the_ra_role_the_form_token_and_stays_within_its_limits() {
    let data = tempfile::tempdir().unwrap();
    let (state, app) = setup(data.path()).await;
    let id = account(&state, VerificationMode::Manual, CertificateType::Single);
    let uri = format!("/TopCA/admin/ra/accounts/{}/bulk", id.0);
    let kmc = Console::new(&app, "kmc").await;
    let ra = Console::new(&app, "ra").await;
    let line = "张三,zhang@example.com";

    let (status, _) = kmc.bulk(id, "holders", line).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for page in [
        uri.as_str(),
        "/TopCA/admin/ra/requests",
        "/TopCA/admin/ra/approved",
        "/TopCA/admin/ra/accounts",
        "/TopCA/admin/ra/certificates",
    ] {
        let (status, _) = kmc.get(page).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    }
    let (status, page) = ra
        .post_raw(
            &uri,
            format!(
                "csrf=ffffffffffffffffffffffffffffffff&kind=holders&text={}",
                url_encode(line)
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    let (status, _, headers) = send(
        &app,
        common::form(
            &uri,
            format!("csrf={CSRF}&kind=holders&text=a,b@example.com"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/TopCA/admin/login");

    let (status, page) = ra.bulk(id, "certificates", line).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("请选择上传内容的类型"), "{page}");
    let (status, _) = ra.bulk(id, "holders", "\n\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let many: String = (0..201)
        .map(|i| format!("h{i},h{i}@example.com\n"))
        .collect();
    let (status, page) = ra.bulk(id, "holders", &many).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.contains("201") && page.contains("200"), "{page}");
    let huge = "x".repeat(2 * 1024 * 1024);
    let (status, _) = ra.bulk(id, "holders", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = ra.bulk(AccountId(9999), "holders", line).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Dual-certificate accounts are refused line by line (their holders retrieve).
    let dual = account(&state, VerificationMode::Manual, CertificateType::Dual);
    let (status, page) = ra.bulk(dual, "holders", line).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("单证书帐户"), "{page}");
    assert!(
        state
            .store
            .certificates_by_email("zhang@example.com")
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_bulk_uploads_issue_each_line_once() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, app) = setup(data.path()).await;
    let id = account(&state, VerificationMode::Automatic, CertificateType::Single);
    let ra = Arc::new(Console::new(&app, "ra").await);
    let upload = format!(
        "{}{}",
        request(
            work.path(),
            "a",
            "/CN=Alice/emailAddress=alice@example.com",
            "ec"
        ),
        request(
            work.path(),
            "b",
            "/CN=Bob/emailAddress=bob@example.com",
            "ec"
        ),
    );
    let uploads: Vec<_> = (0..50)
        .map(|_| {
            let (ra, upload) = (Arc::clone(&ra), upload.clone());
            tokio::spawn(async move { ra.bulk(id, "requests", &upload).await })
        })
        .collect();
    let mut issued = 0;
    for upload in uploads {
        let (status, page) = upload.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        issued += rows(&page)
            .iter()
            .filter(|r| r.2.chars().all(|c| c.is_ascii_hexdigit()))
            .count();
    }
    assert_eq!(issued, 2);
    for email in ["alice@example.com", "bob@example.com"] {
        assert_eq!(state.store.certificates_by_email(email).unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_registration_refuses_repeats_in_the_file_and_holders_registered_already() {
    let data = tempfile::tempdir().unwrap();
    let (state, app) = setup(data.path()).await;
    let id = account(&state, VerificationMode::Passcode, CertificateType::Single);
    let ra = Console::new(&app, "ra").await;
    let uri = format!("/TopCA/admin/ra/accounts/{}/preregistrations", id.0);
    let (status, page) = ra
        .post_raw(
            &uri,
            format!("csrf={}&name=a&email=a%40example.com", ra.csrf),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (status, page) = ra
        .post_raw(
            &uri,
            format!("csrf={}&name=A&email=A%40Example.com", ra.csrf),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("已在此帐户登记"), "{page}");

    let csv = "b,b@example.com\na,a@example.com\nB,B@example.com\nc,c@example.com\n";
    let (status, page) = ra
        .post_raw(
            &format!("{uri}/csv"),
            format!("csrf={}&csv={}", ra.csrf, url_encode(csv)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("与第 1 行的持有者相同"), "{page}");
    assert!(page.contains("已在此帐户登记"), "{page}");
    let mails = outbox(data.path());
    assert_eq!(mails.iter().filter(|m| m.to == "b@example.com").count(), 1);
    assert_eq!(mails.iter().filter(|m| m.to == "a@example.com").count(), 1);
}
