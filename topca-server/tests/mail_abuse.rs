//! Mail abuse: nobody can make the CA mail an address more often than the limits
//! allow, from one client or to one recipient, and no mail opens with text the
//! requester chose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{sync::Arc, time::SystemTime};

use axum::http::{StatusCode, header};
use common::{options, post_json, send};
use topca_core::{
    kmc::RecoveryId,
    lifecycle::{RequestKind, RevocationReason},
    mail::{Envelope, Mail, RecoveryStep},
    ra::{Language, RequestRef},
};
use topca_server::setup::start;
use zeroize::Zeroizing;

fn application(email: &str) -> serde_json::Value {
    serde_json::json!({"name": "张三", "email": email, "password": "张三的口令-2026"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_mail_to_one_address_within_an_hour_is_refused_with_retry_after() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let account = state.demo_account.unwrap().0;
    let app = topca_server::router(Arc::new(state));
    let uri = format!("/api/v1/accounts/{account}/applications");
    for n in 1..=10 {
        let (status, answer) = post_json(&app, &uri, application("victim@example.cn")).await;
        assert_eq!(status, StatusCode::OK, "mail {n}: {answer}");
    }
    let mailed = std::fs::read_dir(data.path().join("outbox"))
        .unwrap()
        .count();
    // The eleventh, even with the address spelt in capitals, is refused before
    // anything is stored or mailed.
    let (status, body, headers) = send(
        &app,
        axum::http::Request::post(&uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(
                application("Victim@Example.cn").to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "retry after {retry}");
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("too many mails")
    );
    assert_eq!(
        std::fs::read_dir(data.path().join("outbox"))
            .unwrap()
            .count(),
        mailed,
        "a refused request mailed"
    );
    // The page refuses the same way, in Chinese.
    let (status, body, headers) = send(
        &app,
        common::form(
            "/TopCA/userEnroll/apply",
            format!(
                "csrf={}&account={account}&name=x&email=victim%40example.cn&password=p&confirm=p",
                common::CSRF
            ),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert!(String::from_utf8_lossy(&body).contains("邮件请求过多"));
    // Another recipient is still served.
    let (status, _) = post_json(&app, &uri, application("other@example.cn")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_mail_more_than_twenty_addresses_an_hour() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let account = state.demo_account.unwrap().0;
    let app = topca_server::router(Arc::new(state));
    let uri = format!("/api/v1/accounts/{account}/applications");
    for n in 1..=20 {
        let (status, answer) =
            post_json(&app, &uri, application(&format!("user{n}@example.cn"))).await;
        assert_eq!(status, StatusCode::OK, "mail {n}: {answer}");
    }
    let (status, answer) = post_json(&app, &uri, application("user21@example.cn")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    // Revocation by serial counts too (the holder's address is looked up).
    let (status, _) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/revocations"),
        serde_json::json!({"serial": "01", "password": "x", "reason": "keyCompromise"}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// Every kind of mail, its requester-chosen fields set to `given`.
fn every_mail(given: &str) -> Vec<Mail> {
    let secret = || Zeroizing::new("SECRET-123".to_owned());
    let reference = || RequestRef("00112233445566778899aabbccddeeff".into());
    let mut mails = vec![
        Mail::RegistrationConfirmation {
            request: reference(),
            holder: given.into(),
            service_url: "https://ca.example.cn/TopCA/userEnroll".into(),
        },
        Mail::ReplacementConfirmation {
            request: reference(),
            holder: given.into(),
            link: secret(),
        },
        Mail::Passcode {
            request: reference(),
            holder: given.into(),
            code: secret(),
            retrieve_url: "https://ca.example.cn/TopCA/userEnroll/passcode".into(),
        },
        Mail::ServerCertificateIssued {
            request: reference(),
            server: given.into(),
            serial: "0A".into(),
            pem: "-----BEGIN CERTIFICATE-----".into(),
        },
        Mail::CertificateRevoked {
            serial: "0A".into(),
            holder: given.into(),
            reason: RevocationReason::KeyCompromise,
        },
        Mail::KeyRecoveryCode {
            recovery: RecoveryId::parse("0123456789abcdef0123456789abcdef").unwrap(),
            holder: given.into(),
            serial: "0B".into(),
            code: secret(),
            expires: SystemTime::UNIX_EPOCH,
            recover_url: "https://ca.example.cn/TopCA/userEnroll/recover".into(),
        },
        Mail::KeyRecoveryNotice {
            recovery: RecoveryId::parse("0123456789abcdef0123456789abcdef").unwrap(),
            holder: given.into(),
            serial: "0B".into(),
            step: RecoveryStep::Requested,
        },
        Mail::CertificateExpiring {
            serial: "0A".into(),
            holder: given.into(),
            not_after: SystemTime::UNIX_EPOCH,
            renew_url: "https://ca.example.cn/TopCA/userEnroll/renew".into(),
        },
        Mail::RequestRejected {
            request: reference(),
            holder: given.into(),
            reason: "资料不全".into(),
        },
    ];
    for kind in [
        RequestKind::Application,
        RequestKind::Renewal,
        RequestKind::Replacement,
    ] {
        mails.push(Mail::RequestApproved {
            request: reference(),
            kind,
            holder: given.into(),
            pin: secret(),
            retrieve_url: "https://ca.example.cn/TopCA/userEnroll/retrieve".into(),
        });
    }
    mails
}

#[test]
fn the_subject_and_first_lines_of_every_mail_kind_are_the_cas_fixed_text() {
    let attack = format!(
        "URGENT http://evil.example/\r\nBcc: all@example.cn\u{202E}{}",
        "x".repeat(500)
    );
    for language in [Language::Chinese, Language::English] {
        for (mail, plain) in every_mail(&attack).into_iter().zip(every_mail("张三")) {
            let what = format!("{mail:?} in {language:?}");
            let rendered = topca_mail::render(&Envelope {
                to: "holder@example.cn".into(),
                language,
                mail: mail.clone(),
            });
            let benign = topca_mail::render(&Envelope {
                to: "holder@example.cn".into(),
                language,
                mail: plain,
            });
            // The subject and the opening lines do not change with what was given.
            assert_eq!(rendered.subject, benign.subject, "{what}");
            assert!(!rendered.subject.contains("evil"), "{what}");
            let lines: Vec<&str> = rendered.body.lines().collect();
            let benign_lines: Vec<&str> = benign.body.lines().collect();
            assert_eq!(lines[..3], benign_lines[..3], "{what}");
            // Given text appears once, late, quoted on its own labelled line,
            // with its line breaks and direction marks dropped and its length cut.
            let at = lines
                .iter()
                .position(|l| l.contains("evil.example"))
                .unwrap_or_else(|| panic!("{what}: the given text is missing"));
            assert!(at >= 4, "{what}: given text on line {at}");
            let line = lines[at];
            assert!(
                line.contains("URGENT") && line.contains("Bcc"),
                "{what}: {line}"
            );
            assert!(!line.contains('\u{202E}'), "{what}");
            assert!(line.contains('「') || line.contains('"'), "{what}: {line}");
            assert!(
                line.chars().count() <= topca_mail::MAX_GIVEN + 20,
                "{what}: {} characters",
                line.chars().count()
            );
            assert!(
                line.ends_with("…」") || line.ends_with("…\""),
                "{what}: {line}"
            );
            assert!(
                !rendered.body.lines().any(|l| l.starts_with("Bcc")),
                "{what}"
            );
        }
    }
}

/// A mailer the test keeps a handle on.
struct Shared(Arc<topca_core::mail::RecordingMailer>);

impl topca_core::mail::Mailer for Shared {
    fn send(&self, envelope: &Envelope) -> Result<(), topca_core::MailError> {
        self.0.send(envelope)
    }
}

/// The PIN of the newest approval mail.
fn last_pin(mailer: &topca_core::mail::RecordingMailer) -> String {
    mailer
        .sent()
        .into_iter()
        .rev()
        .find_map(|e| match e.mail {
            Mail::RequestApproved { pin, .. } => Some(pin.to_string()),
            _ => None,
        })
        .expect("an approval mail")
}

async fn post_as(app: &axum::Router, uri: &str, token: &str) -> (StatusCode, serde_json::Value) {
    let (status, body, _) = send(
        app,
        axum::http::Request::post(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ra_administrator_resends_a_pin_the_old_one_stops_working_and_others_are_refused() {
    use topca_core::ra::AdminRole;
    let data = tempfile::tempdir().unwrap();
    let (mut state, _) = start(&options(data.path())).unwrap();
    let mailer = Arc::new(topca_core::mail::RecordingMailer::default());
    state.mailer = Box::new(Shared(Arc::clone(&mailer)));
    common::admins(
        &state,
        &[("ra", AdminRole::RaAdmin), ("kmc", AdminRole::KmcAdmin)],
    );
    let account = state.demo_account.unwrap().0;
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    // An automatic account: approved at once, the PIN mailed.
    let (status, applied) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/applications"),
        application("zhangsan@example.cn"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let request = common::request_number(&state, &applied["request"]);
    let old_pin = last_pin(&mailer);
    let uri = format!("/api/v1/admin/requests/{request}/resend-pin");

    // Not logged in, or without the RA role: refused, nothing mailed.
    let mails = mailer.sent().len();
    let (status, _, _) = send(
        &app,
        axum::http::Request::post(&uri)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, kmc) = common::log_in(&app, "kmc", common::ADMIN_PASSWORD).await;
    let (status, _) = post_as(&app, &uri, kmc["token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(mailer.sent().len(), mails);

    let (_, ra) = common::log_in(&app, "ra", common::ADMIN_PASSWORD).await;
    let ra = ra["token"].as_str().unwrap().to_owned();
    // The RA console lists the approved request with its resend button.
    let (status, listed, _) = send(
        &app,
        axum::http::Request::get("/TopCA/admin/ra/approved")
            .header(header::COOKIE, format!("topca_admin={ra}"))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let listed = String::from_utf8_lossy(&listed).into_owned();
    assert!(
        listed.contains(&format!("/TopCA/admin/ra/requests/{request}/resend-pin")),
        "{listed}"
    );
    assert!(listed.contains("重发身份识别码"));

    // The RA administrator resends: a new PIN, audited.
    let (status, resent) = post_as(&app, &uri, &ra).await;
    assert_eq!(status, StatusCode::OK, "{resent}");
    assert_eq!(resent["request"], request);
    let new_pin = last_pin(&mailer);
    assert_ne!(new_pin, old_pin);
    let audited = topca_core::store::AuditStore::audit_entries(&state.store).unwrap();
    let resend = audited
        .iter()
        .find(|e| e.record.action == topca_core::audit::AuditAction::PinResent)
        .expect("the resend is audited");
    assert_eq!(
        resend.record.actor,
        topca_core::audit::Actor::Admin("ra".into())
    );

    // The old PIN no longer works; the new one does.
    let (status, refused) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": old_pin, "password": "张三的口令-2026"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, retrieved) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": new_pin, "password": "张三的口令-2026"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");

    // Retrieved: no longer approved, so no further PIN.
    let (status, answer) = post_as(&app, &uri, &ra).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
}

/// A delivery that fails while `failing` is set and keeps what it sent.
#[derive(Default)]
struct Flaky {
    failing: std::sync::atomic::AtomicBool,
    sent: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
}

/// The test's handle on a [`Flaky`] delivery the outbox owns.
struct Handle(Arc<Flaky>);

impl topca_server::mail_outbox::Delivery for Handle {
    fn format(&self, envelope: &Envelope) -> Result<Vec<u8>, topca_core::MailError> {
        match &envelope.mail {
            Mail::RequestApproved { pin, .. } => Ok(format!("PIN {}", pin.as_str()).into_bytes()),
            other => Ok(format!("{other:?}").into_bytes()),
        }
    }

    fn deliver(&self, to: &str, message: &[u8]) -> Result<(), topca_core::MailError> {
        if self.0.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(topca_core::MailError::Unreachable(
                "mail server down".into(),
            ));
        }
        self.0
            .sent
            .lock()
            .unwrap()
            .push((to.to_owned(), message.to_vec()));
        Ok(())
    }
}

fn approval(pin: &str) -> Envelope {
    Envelope {
        to: "zhangsan@example.cn".into(),
        language: Language::Chinese,
        mail: Mail::RequestApproved {
            request: RequestRef("00112233445566778899aabbccddeeff".into()),
            kind: RequestKind::Application,
            holder: "张三".into(),
            pin: Zeroizing::new(pin.to_owned()),
            retrieve_url: "https://ca.example.cn/TopCA/userEnroll/retrieve".into(),
        },
    }
}

/// Whether `needle` appears in the SQLite database files under `dir`.
fn in_database(dir: &std::path::Path, needle: &str) -> bool {
    ["topca.db", "topca.db-wal"].iter().any(|f| {
        std::fs::read(dir.join(f))
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

#[test]
fn a_mail_that_fails_is_delivered_on_retry_and_its_pin_never_sits_in_clear() {
    use topca_core::{mail::Mailer, store::OutboxStore};
    let data = tempfile::tempdir().unwrap();
    let opts = options(data.path());
    drop(start(&opts).unwrap());
    let flaky = Arc::new(Flaky::default());
    flaky
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let outbox = Arc::new(
        topca_server::setup::open_outbox(&opts, Box::new(Handle(Arc::clone(&flaky)))).unwrap(),
    );
    let mailer = topca_server::mail_outbox::OutboxMailer(Arc::clone(&outbox));
    // The mail server is down: the workflow goes on, the mail waits, sealed.
    mailer.send(&approval("PIN-7Q2X-99KD")).unwrap();
    assert!(flaky.sent.lock().unwrap().is_empty());
    let store = topca_server::setup::open_store(&opts).unwrap();
    let later = SystemTime::now() + std::time::Duration::from_secs(60);
    let queued = store.due_mails(later, 10).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].attempts, 1);
    assert!(
        !in_database(data.path(), "PIN-7Q2X-99KD"),
        "a PIN in clear in the database"
    );
    // Not retried before its backoff.
    assert_eq!(outbox.deliver_due(SystemTime::now()).unwrap(), 0);

    // Back up: the retry delivers it, and it leaves the table.
    flaky
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(outbox.deliver_due(later).unwrap(), 1);
    let sent = flaky.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "zhangsan@example.cn");
    assert_eq!(sent[0].1, b"PIN PIN-7Q2X-99KD");
    let far = SystemTime::now() + std::time::Duration::from_secs(86_400);
    assert!(store.due_mails(far, 10).unwrap().is_empty());
}

#[test]
fn a_queued_mail_survives_a_restart_and_is_sent_by_the_next_server() {
    let data = tempfile::tempdir().unwrap();
    let opts = options(data.path());
    let (mut state, _) = start(&opts).unwrap();
    let down = Arc::new(Flaky::default());
    down.failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let outbox = Arc::new(
        topca_server::setup::open_outbox(&opts, Box::new(Handle(Arc::clone(&down)))).unwrap(),
    );
    state.mailer = Box::new(topca_server::mail_outbox::OutboxMailer(Arc::clone(&outbox)));
    // An automatic application: approved, its PIN mail queued, the server down.
    let account = state.demo_account.unwrap();
    let applied = state
        .ra()
        .apply(
            account,
            topca_core::ra::Holder {
                name: "张三".into(),
                email: "zhangsan@example.cn".into(),
                phone: None,
                state: None,
                locality: None,
            },
            "张三的口令-2026",
        )
        .unwrap();
    assert_eq!(applied.state, topca_core::lifecycle::RequestState::Approved);
    drop(outbox);
    drop(state);

    // The next server, its mail server up, sends what the last one left.
    let (state, _) = start(&opts).unwrap();
    let up = Arc::new(Flaky::default());
    let outbox =
        topca_server::setup::open_outbox(&opts, Box::new(Handle(Arc::clone(&up)))).unwrap();
    let later = SystemTime::now() + std::time::Duration::from_secs(3600);
    // Every mail the stopped server left (the approval among them) goes now.
    let left = up.sent.lock().unwrap().len();
    assert_eq!(left, 0);
    let delivered = outbox.deliver_due(later).unwrap();
    assert!(delivered >= 1);
    let sent = up.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), delivered);
    assert!(sent.iter().all(|(to, _)| to == "zhangsan@example.cn"));
    let pin = sent
        .iter()
        .find_map(|(_, m)| {
            String::from_utf8(m.clone())
                .ok()?
                .strip_prefix("PIN ")
                .map(str::to_owned)
        })
        .expect("the approval mail");
    assert_eq!(outbox.deliver_due(later).unwrap(), 0, "sent twice");
    // The PIN delivered after the restart is the one that retrieves.
    let app = topca_server::router(Arc::new(state));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, answer) = rt.block_on(post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": pin, "password": "张三的口令-2026"}),
    ));
    assert_eq!(status, StatusCode::OK, "{answer}");
}
