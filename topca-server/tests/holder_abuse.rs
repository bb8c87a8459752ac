//! Abuse of holder secrets through the router: concurrent wrong PINs, password
//! guessing through revocation and renewal, the per-source rate limit, guessed
//! request numbers, lockouts that stay with the guessing source, and the RA's
//! unlock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{
    ADMIN_PASSWORD, admins, from_address, json_request, log_in, options, outbox_pin, post_json,
    send,
};
use topca_core::{
    KeyAlgorithm,
    audit::{AuditAction, Outcome},
    lifecycle::{CertificateType, VerificationMode},
    ra::{AccountSettings, AdminRole, Language},
    store::{AccountStore, AuditStore},
};
use topca_server::{AppState, limits::RateLimiter, setup::start};

const PASSWORD: &str = "holder-password-1";
const STRANGER: &str = "203.0.113.66";
const HOLDER: &str = "198.51.100.7";

/// A server on `dir` whose per-source rate limits do not get in the way, so
/// the store's attempt counters are what stops guesses.
fn state_without_rate_limit(dir: &Path) -> AppState {
    let (mut state, _) = start(&options(dir)).unwrap();
    state.limits.holder_secret_per_source = RateLimiter::new(10_000, Duration::from_secs(60));
    // Revocations and renewals mail the holder: their limits are tested in
    // `mail_abuse.rs`.
    state.limits.mail_per_source = RateLimiter::new(10_000, Duration::from_secs(60));
    state.limits.mail_per_address = RateLimiter::new(10_000, Duration::from_secs(60));
    // Room for every concurrent guess in the password-hashing queue, so each one
    // reaches the count (the gate itself is tested in `hashing.rs`).
    state.hashing = topca_server::hashing::HashingGate::new(2, 100, Duration::from_secs(60));
    state
}

/// Applies on `account` (automatic approval) for `email`; the mailed PIN.
async fn apply(app: &Router, dir: &Path, account: u64, email: &str) -> String {
    let (status, applied) = post_json(
        app,
        &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "王五", "email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let reference = applied["request"].as_str().unwrap().to_owned();
    let pin = outbox_pin(dir);
    assert!(pin.starts_with(&format!("{reference}-")), "{pin}");
    pin
}

/// Applies and retrieves with a generated key; the certificate's serial.
async fn issued(app: &Router, dir: &Path, account: u64, email: &str) -> String {
    let pin = apply(app, dir, account, email).await;
    let (status, retrieved) = post_json(
        app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": pin, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    retrieved["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Sends `requests` all at once; their statuses and JSON answers.
async fn all_at_once(
    app: &Router,
    requests: Vec<Request<Body>>,
) -> Vec<(StatusCode, serde_json::Value)> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let app = app.clone();
            tokio::spawn(async move {
                let (status, body, _) = send(&app, request).await;
                (status, serde_json::from_slice(&body).unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// Audit actions with `outcome` whose target is `target`.
fn audited(state: &AppState, target: &str, outcome: Outcome) -> Vec<AuditAction> {
    state
        .store
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.record.target == target && e.record.outcome == outcome)
        .map(|e| e.record.action)
        .collect()
}

fn count(actions: &[AuditAction], action: AuditAction) -> usize {
    actions.iter().filter(|a| **a == action).count()
}

/// The audit target of the request a PIN opens.
fn target_of(state: &AppState, pin: &str) -> String {
    let reference = topca_core::ra::RequestRef(pin.split('-').next().unwrap().to_owned());
    let request = topca_core::store::RequestStore::request_by_reference(&state.store, &reference)
        .unwrap()
        .unwrap();
    format!("request {}", request.id.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_pins_are_all_counted_and_audited_and_lock_their_source() {
    let data = tempfile::tempdir().unwrap();
    let state = state_without_rate_limit(data.path());
    let account = state.demo_account.unwrap().0;
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let pin = apply(&app, data.path(), account, "wangwu@example.cn").await;
    let reference = pin.split('-').next().unwrap();

    let guesses = (0..50)
        .map(|i| {
            let wrong = format!("{reference}-AAAA-BBBB-{i:04}");
            from_address(
                json_request(
                    "/api/v1/retrievals",
                    &serde_json::json!({"pin": wrong, "password": PASSWORD}),
                ),
                STRANGER,
            )
        })
        .collect();
    let answers = all_at_once(&app, guesses).await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::FORBIDDEN),
        "{answers:?}"
    );
    let locked = answers
        .iter()
        .filter(|(_, a)| a["detail"].as_str().unwrap().contains("locked"))
        .count();
    assert_eq!(locked, 46, "4 wrong, then locked: {answers:?}");

    // Every guess was counted and audited: 4 failures, the fifth locks, 45 refused.
    let failures = audited(&state, &target_of(&state, &pin), Outcome::Failure);
    assert_eq!(count(&failures, AuditAction::RetrievalFailed), 4);
    assert_eq!(count(&failures, AuditAction::RequestLocked), 46);

    // The right PIN and password no longer work from the guessing source...
    let (status, answer, _) = send(
        &app,
        from_address(
            json_request(
                "/api/v1/retrievals",
                &serde_json::json!({"pin": pin, "password": PASSWORD}),
            ),
            STRANGER,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer:?}");
    // ...but the holder, from their own address, retrieves.
    let (status, body, _) = send(
        &app,
        from_address(
            json_request(
                "/api/v1/retrievals",
                &serde_json::json!({"pin": pin, "password": PASSWORD}),
            ),
            HOLDER,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_password_guesses_through_revocation_are_cut_off_and_audited() {
    let data = tempfile::tempdir().unwrap();
    let state = state_without_rate_limit(data.path());
    let account = state.demo_account.unwrap().0;
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let serial = issued(&app, data.path(), account, "revoke@example.cn").await;
    let uri = format!("/api/v1/accounts/{account}/revocations");

    let guesses = (0..50)
        .map(|i| {
            from_address(
                json_request(
                    &uri,
                    &serde_json::json!({"serial": serial, "password": format!("guess-{i}"), "reason": 1}),
                ),
                STRANGER,
            )
        })
        .collect();
    let answers = all_at_once(&app, guesses).await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::FORBIDDEN),
        "{answers:?}"
    );
    let wrong = answers
        .iter()
        .filter(|(_, a)| a["detail"] == "the user password is wrong")
        .count();
    assert_eq!(wrong, 4, "{answers:?}");

    let failures = audited(&state, &serial, Outcome::Failure);
    assert_eq!(count(&failures, AuditAction::CertificateRevoked), 4);
    assert_eq!(count(&failures, AuditAction::RequestLocked), 1);
    let request_target = {
        let record = topca_core::store::CertificateStore::certificate(&state.store, &serial)
            .unwrap()
            .unwrap();
        format!("request {}", record.request.unwrap().0)
    };
    let refused = audited(&state, &request_target, Outcome::Failure);
    assert_eq!(count(&refused, AuditAction::RequestLocked), 45);

    // Even the right password is refused from there; the holder revokes from home.
    let right = serde_json::json!({"serial": serial, "password": PASSWORD, "reason": 1});
    let (status, _, _) = send(&app, from_address(json_request(&uri, &right), STRANGER)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body, _) = send(&app, from_address(json_request(&uri, &right), HOLDER)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_password_guesses_through_renewal_are_cut_off_and_audited() {
    let data = tempfile::tempdir().unwrap();
    let state = state_without_rate_limit(data.path());
    // Twenty-day certificates are in the 30-day renewal window at once.
    let account = state
        .store
        .create_account(AccountSettings {
            organization: "续期单位".into(),
            unit: "测试部".into(),
            certificate_type: CertificateType::Single,
            verification: VerificationMode::Automatic,
            algorithm: KeyAlgorithm::EcdsaP256,
            validity_days: 20,
            service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
            language: Language::Chinese,
        })
        .unwrap()
        .id
        .0;
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let serial = issued(&app, data.path(), account, "renew@example.cn").await;
    let uri = format!("/api/v1/accounts/{account}/renewals");

    let guesses = (0..50)
        .map(|i| {
            from_address(
                json_request(
                    &uri,
                    &serde_json::json!({"serial": serial, "password": format!("guess-{i}")}),
                ),
                STRANGER,
            )
        })
        .collect();
    let answers = all_at_once(&app, guesses).await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::FORBIDDEN),
        "{answers:?}"
    );
    // Renewal failures are audited now: 4 wrong, the fifth locks.
    let failures = audited(&state, &serial, Outcome::Failure);
    assert_eq!(count(&failures, AuditAction::RequestSubmitted), 4);
    assert_eq!(count(&failures, AuditAction::RequestLocked), 1);

    let right = serde_json::json!({"serial": serial, "password": PASSWORD});
    let (status, _, _) = send(&app, from_address(json_request(&uri, &right), STRANGER)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body, _) = send(&app, from_address(json_request(&uri, &right), HOLDER)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_secret_endpoints_answer_429_with_retry_after_beyond_the_per_source_limit() {
    let data = tempfile::tempdir().unwrap();
    let (mut state, _) = start(&options(data.path())).unwrap();
    state.limits.holder_secret_per_source = RateLimiter::new(3, Duration::from_secs(60));
    let account = state.demo_account.unwrap().0;
    let app = topca_server::router(Arc::new(state));
    let endpoints = [
        (
            "/api/v1/retrievals".to_owned(),
            serde_json::json!({"pin": "x-y", "password": "p"}),
        ),
        (
            format!("/api/v1/accounts/{account}/revocations"),
            serde_json::json!({"serial": "01", "password": "p", "reason": 1}),
        ),
        (
            format!("/api/v1/accounts/{account}/renewals"),
            serde_json::json!({"serial": "01", "password": "p"}),
        ),
    ];
    for (uri, body) in &endpoints {
        let (status, _, _) = send(&app, from_address(json_request(uri, body), STRANGER)).await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "{uri}");
    }
    // The three endpoints share one budget per source: the fourth try is refused.
    for (uri, body) in &endpoints {
        let (status, answer, headers) =
            send(&app, from_address(json_request(uri, body), STRANGER)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{uri}");
        let retry: u64 = headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert!(
            String::from_utf8_lossy(&answer).contains("too many attempts"),
            "{uri}"
        );
    }
    // Another source is not affected.
    let (uri, body) = &endpoints[0];
    let (status, _, _) = send(&app, from_address(json_request(uri, body), HOLDER)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guessed_sequential_request_number_finds_nothing_and_counts_nothing() {
    let data = tempfile::tempdir().unwrap();
    let state = state_without_rate_limit(data.path());
    let account = state.demo_account.unwrap().0;
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let pin = apply(&app, data.path(), account, "zhaoliu@example.cn").await;
    let secret = pin.split_once('-').unwrap().1;
    let reference = pin.split('-').next().unwrap();
    assert_eq!(reference.len(), 32, "{reference}");
    assert!(reference.bytes().all(|b| b.is_ascii_hexdigit()));

    // The request is number 1 inside the store; from outside that number is nothing.
    for number in ["1", "2", "0001"] {
        let (status, answer) = post_json(
            &app,
            "/api/v1/retrievals",
            serde_json::json!({"pin": format!("{number}-{secret}"), "password": PASSWORD}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["detail"], "PIN: is not one from the mail");
    }
    let (status, answer) = post_json(
        &app,
        "/api/v1/passcode-retrievals",
        serde_json::json!({"reference": "1", "code": secret, "password": PASSWORD, "csr": ""}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        audited(&state, &target_of(&state, &pin), Outcome::Failure).is_empty(),
        "a guess at another number touches no request"
    );
    let (status, _) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": pin, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ra_administrator_unlocks_a_request_audited_and_others_cannot() {
    let data = tempfile::tempdir().unwrap();
    let state = state_without_rate_limit(data.path());
    admins(
        &state,
        &[
            ("ra-one", AdminRole::RaAdmin),
            ("kmc-one", AdminRole::KmcAdmin),
        ],
    );
    let account = state.demo_account.unwrap().0;
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let pin = apply(&app, data.path(), account, "sunqi@example.cn").await;
    let reference = pin.split('-').next().unwrap().to_owned();
    let retrieve = |pin: &str| {
        json_request(
            "/api/v1/retrievals",
            &serde_json::json!({"pin": pin, "password": "wrong-password"}),
        )
    };
    for _ in 0..5 {
        send(&app, retrieve(&pin)).await;
    }
    let (status, answer, _) = send(&app, retrieve(&pin)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        String::from_utf8_lossy(&answer).contains("locked"),
        "{answer:?}"
    );

    let unlock = |token: &str, reference: &str| {
        Request::post(format!("/api/v1/admin/requests/{reference}/unlock"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let (_, kmc) = log_in(&app, "kmc-one", ADMIN_PASSWORD).await;
    let (status, _, _) = send(&app, unlock(kmc["token"].as_str().unwrap(), &reference)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a KMC administrator cannot unlock"
    );
    let (status, _, _) = send(&app, unlock("not-a-session", &reference)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, ra) = log_in(&app, "ra-one", ADMIN_PASSWORD).await;
    let token = ra["token"].as_str().unwrap();
    let (status, _, _) = send(&app, unlock(token, "1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unlocked by number");
    let (status, body, _) = send(&app, unlock(token, &reference)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));

    let target = target_of(&state, &pin);
    let unlocked: Vec<_> = state
        .store
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == AuditAction::RequestUnlocked)
        .collect();
    assert_eq!(unlocked.len(), 1);
    assert_eq!(unlocked[0].record.target, target);
    assert_eq!(
        unlocked[0].record.actor,
        topca_core::audit::Actor::Admin("ra-one".into())
    );
    // The holder retrieves again from the address that was locked.
    let (status, _) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": pin, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ra_console_unlock_form_unlocks_by_reference() {
    let data = tempfile::tempdir().unwrap();
    let state = state_without_rate_limit(data.path());
    admins(&state, &[("ra-two", AdminRole::RaAdmin)]);
    let account = state.demo_account.unwrap().0;
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let pin = apply(&app, data.path(), account, "zhouba@example.cn").await;
    let reference = pin.split('-').next().unwrap().to_owned();
    for _ in 0..5 {
        post_json(
            &app,
            "/api/v1/retrievals",
            serde_json::json!({"pin": pin, "password": "wrong-password"}),
        )
        .await;
    }
    let (_, ra) = log_in(&app, "ra-two", ADMIN_PASSWORD).await;
    let bearer = format!("Bearer {}", ra["token"].as_str().unwrap());
    let (status, body, _) = send(
        &app,
        Request::get("/TopCA/admin")
            .header(header::AUTHORIZATION, &bearer)
            .header(header::COOKIE, format!("topca_csrf={}", common::CSRF))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains(r#"id="unlock""#));

    let mut unlock = common::form(
        "/TopCA/admin/ra/unlock",
        format!("csrf={}&reference={reference}", common::CSRF),
    );
    unlock
        .headers_mut()
        .insert(header::AUTHORIZATION, bearer.parse().unwrap());
    let (status, body, _) = send(&app, unlock).await;
    let page = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(r#"id="unlocked""#) && page.contains(&reference),
        "{page}"
    );
    assert_eq!(
        state
            .store
            .audit_entries()
            .unwrap()
            .iter()
            .filter(|e| e.record.action == AuditAction::RequestUnlocked)
            .count(),
        1
    );
    let (status, _) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": pin, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
