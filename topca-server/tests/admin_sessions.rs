//! Administrator sessions under abuse: sessions follow the administrator's
//! current roles and lockout, end at log-out and when a super administrator ends
//! them all, and are shared through the database; concurrent wrong passwords
//! all count and are all audited; the API refuses the console cookie and console
//! forms need the session's own CSRF token; unknown names, wrong passwords and
//! lockouts answer alike; log-ins are limited per address.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode, header},
};
use common::{ADMIN_PASSWORD, CSRF, admins, log_in, options, send};
use topca_core::{
    audit::{AuditAction, Outcome},
    ra::AdminRole,
    store::{AdminStore, AuditStore},
};
use topca_server::{
    AppState,
    hashing::HashingGate,
    limits::{Limits, RateLimiter},
    setup::start,
};

/// A server on a fresh data directory with the administrators `root` (super)
/// and `clerk` (RA); `adjust` may change the state first.
fn server(adjust: impl FnOnce(&mut AppState)) -> (tempfile::TempDir, Arc<AppState>, Router) {
    let data = tempfile::tempdir().unwrap();
    let (mut state, _) = start(&options(data.path())).unwrap();
    admins(
        &state,
        &[
            ("root", AdminRole::SuperAdmin),
            ("clerk", AdminRole::RaAdmin),
        ],
    );
    adjust(&mut state);
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    (data, state, app)
}

/// The API log-in's token for `name`.
async fn token(app: &Router, name: &str) -> String {
    let (status, json) = log_in(app, name, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "log-in of {name}: {json}");
    json["token"].as_str().unwrap().to_owned()
}

/// The status of `GET uri` with the bearer `token`.
async fn get_with(app: &Router, uri: &str, token: &str) -> StatusCode {
    let request = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    send(app, request).await.0
}

/// Whether the RA queue answers for `token`.
async fn ra_queue(app: &Router, token: &str) -> StatusCode {
    get_with(app, "/api/v1/admin/requests", token).await
}

/// A console log-in through the page: the session cookie's token.
async fn page_log_in(app: &Router, name: &str) -> String {
    let request = Request::post("/TopCA/admin/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("topca_csrf={CSRF}"))
        .body(Body::from(format!(
            "csrf={CSRF}&name={name}&password={ADMIN_PASSWORD}"
        )))
        .unwrap();
    let (status, _, headers) = send(app, request).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    session_cookie(&headers).expect("the session cookie is set")
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("topca_admin="))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
        .filter(|v| !v.is_empty())
}

/// A request carrying only the console cookie `token`.
fn with_cookie(builder: axum::http::request::Builder, token: &str) -> axum::http::request::Builder {
    builder.header(header::COOKIE, format!("topca_admin={token}"))
}

/// The CSRF token the console page gives the session of the cookie `token`.
async fn console_csrf(app: &Router, token: &str) -> String {
    let (status, body, _) = send(
        app,
        with_cookie(Request::get("/TopCA/admin"), token)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(body).unwrap();
    let start = page.find(r#"name="csrf" value=""#).expect("a form") + 19;
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// Posts the form `body` to `uri` with the console cookie `token`.
async fn post_form(app: &Router, uri: &str, token: &str, body: String) -> (StatusCode, String) {
    let request = with_cookie(Request::post(uri), token)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let (status, body, _) = send(app, request).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A new RA account's form fields.
fn account_fields(csrf: &str, unit: &str) -> String {
    format!(
        "csrf={csrf}&organization=CsrfProbe&unit={unit}&certificate_type=single&verification=manual&algorithm=p256&validity_days=365&service_url=http%3A%2F%2F127.0.0.1%3A8080%2FTopCA%2FuserEnroll&language=zh"
    )
}

// ---- item 3: sessions follow the administrator ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_loses_a_removed_role_at_once() {
    let (_data, _, app) = server(|_| ());
    let clerk = token(&app, "clerk").await;
    let root = token(&app, "root").await;
    assert_eq!(ra_queue(&app, &clerk).await, StatusCode::OK);
    // The super administrator (bearer: no CSRF field needed) leaves clerk the KMC role only.
    let request = Request::post("/TopCA/admin/super/admins/clerk/roles")
        .header(header::AUTHORIZATION, format!("Bearer {root}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("csrf=&kmc=on"))
        .unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::SEE_OTHER);
    assert_eq!(ra_queue(&app, &clerk).await, StatusCode::UNAUTHORIZED);
    // Logged in again, the new roles apply: no RA queue.
    let again = token(&app, "clerk").await;
    assert_eq!(ra_queue(&app, &again).await, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_out_administrators_session_is_refused() {
    let (_data, _, app) = server(|_| ());
    let clerk = token(&app, "clerk").await;
    for _ in 0..5 {
        let (status, _) = log_in(&app, "clerk", "not the password").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert_eq!(ra_queue(&app, &clerk).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_changed_in_the_database_applies_to_a_live_session() {
    let (_data, state, app) = server(|_| ());
    let clerk = token(&app, "clerk").await;
    // Changed by another node (straight in the store): read anew on each request.
    let mut record = state.store.admin("clerk").unwrap().unwrap();
    record.roles = vec![AdminRole::KmcAdmin];
    state.store.update_admin(&record).unwrap();
    assert_eq!(ra_queue(&app, &clerk).await, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_log_out_the_bearer_token_is_refused() {
    let (_data, _, app) = server(|_| ());
    let clerk = token(&app, "clerk").await;
    let other = token(&app, "clerk").await;
    let request = Request::delete("/api/v1/admin/sessions/current")
        .header(header::AUTHORIZATION, format!("Bearer {clerk}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::NO_CONTENT);
    assert_eq!(ra_queue(&app, &clerk).await, StatusCode::UNAUTHORIZED);
    // Only that session ended.
    assert_eq!(ra_queue(&app, &other).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_super_administrator_ends_every_session_audited() {
    let (_data, state, app) = server(|_| ());
    let clerk = token(&app, "clerk").await;
    let root = token(&app, "root").await;
    let end_all = |token: String| {
        Request::delete("/api/v1/admin/sessions")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    // Not for an RA administrator.
    assert_eq!(
        send(&app, end_all(clerk.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body, _) = send(&app, end_all(root.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let ended: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ended["ended"], 2);
    assert_eq!(ra_queue(&app, &clerk).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get_with(&app, "/TopCA/admin/super", &root).await,
        StatusCode::SEE_OTHER
    );
    let last = state.store.audit_entries().unwrap().pop().unwrap();
    assert_eq!(last.record.action, AuditAction::SessionsEnded);
    assert_eq!(last.record.detail, "2 sessions ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_all_button_on_the_super_page_needs_the_sessions_csrf_token() {
    let (_data, _, app) = server(|_| ());
    let clerk = token(&app, "clerk").await;
    let root = page_log_in(&app, "root").await;
    let (status, _) = post_form(
        &app,
        "/TopCA/admin/super/sessions/end",
        &root,
        "csrf=forged".into(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(ra_queue(&app, &clerk).await, StatusCode::OK);
    let csrf = console_csrf(&app, &root).await;
    let (status, _) = post_form(
        &app,
        "/TopCA/admin/super/sessions/end",
        &root,
        format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(ra_queue(&app, &clerk).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_kept_in_the_database_for_every_node() {
    let (data, _, app) = server(|_| ());
    let clerk = token(&app, "clerk").await;
    // A second server on the same database knows the session, and its log-out
    // ends it on the first.
    let (second, _) = start(&options(data.path())).unwrap();
    let second = topca_server::router(Arc::new(second));
    assert_eq!(ra_queue(&second, &clerk).await, StatusCode::OK);
    let request = Request::delete("/api/v1/admin/sessions/current")
        .header(header::AUTHORIZATION, format!("Bearer {clerk}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&second, request).await.0, StatusCode::NO_CONTENT);
    assert_eq!(ra_queue(&app, &clerk).await, StatusCode::UNAUTHORIZED);
}

// ---- item 4: concurrent wrong passwords ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_concurrent_wrong_passwords_lock_the_account_and_are_all_audited() {
    let (_data, state, app) = server(|state| {
        // Room for all forty: only the store's counting is under test here.
        state.limits = Limits {
            admin_login_per_source: RateLimiter::new(1000, Duration::from_secs(60)),
            ..Limits::default()
        };
        state.hashing = HashingGate::new(2, 64, Duration::from_secs(300));
    });
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move { log_in(&app, "clerk", &format!("guess number {i}")).await })
        })
        .collect();
    for guess in guesses {
        let (status, json) = guess.await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
    }
    let record = state.store.admin("clerk").unwrap().unwrap();
    assert!(record.locked_until.is_some(), "{record:?}");
    // Locked: the right password is refused too.
    let (status, _) = log_in(&app, "clerk", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let failures: Vec<String> = state
        .store
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.record.action == AuditAction::AdminLogin
                && e.record.target == "administrator clerk"
                && e.record.outcome == Outcome::Failure
        })
        .map(|e| e.record.detail)
        .collect();
    assert_eq!(failures.len(), 41, "{failures:?}");
    let checked = failures
        .iter()
        .filter(|d| d.starts_with("wrong password"))
        .count();
    assert_eq!(checked, 5, "only five passwords were checked: {failures:?}");
}

// ---- item 9: the per-address log-in limit ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_ins_from_one_address_are_limited_with_retry_after() {
    let (_data, _, app) = server(|state| {
        state.limits = Limits {
            admin_login_per_source: RateLimiter::new(3, Duration::from_secs(60)),
            ..Limits::default()
        };
    });
    for _ in 0..3 {
        assert_eq!(
            log_in(&app, "nobody", "a guess").await.0,
            StatusCode::FORBIDDEN
        );
    }
    let request = Request::post("/api/v1/admin/sessions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::json!({"name": "clerk", "password": ADMIN_PASSWORD}).to_string(),
        ))
        .unwrap();
    let (status, _, headers) = send(&app, request).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

// ---- item 10: CSRF ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_the_console_cookie() {
    let (_data, _, app) = server(|_| ());
    let cookie = page_log_in(&app, "clerk").await;
    let request = with_cookie(Request::get("/api/v1/admin/requests"), &cookie)
        .body(Body::empty())
        .unwrap();
    let (status, body, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(String::from_utf8_lossy(&body).contains("bearer token"));
    // A state-changing API call with the cookie only does nothing.
    let request = with_cookie(Request::post("/api/v1/admin/accounts"), &cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::json!({
                "organization": "Evil", "unit": "Forged", "certificate_type": "single",
                "verification": "automatic", "algorithm": "p256", "validity_days": 365,
                "service_url": "http://127.0.0.1:8080/TopCA/userEnroll"
            })
            .to_string(),
        ))
        .unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::UNAUTHORIZED);
    // The same token as a bearer token is accepted.
    assert_eq!(ra_queue(&app, &cookie).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_with_another_sessions_csrf_token_is_refused() {
    let (_data, state, app) = server(|_| ());
    let mine = page_log_in(&app, "clerk").await;
    let theirs = page_log_in(&app, "clerk").await;
    let their_csrf = console_csrf(&app, &theirs).await;
    let my_csrf = console_csrf(&app, &mine).await;
    assert_ne!(their_csrf, my_csrf);
    let (status, _) = post_form(
        &app,
        "/TopCA/admin/ra/accounts",
        &mine,
        account_fields(&their_csrf, "Stolen"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A bare double-submit pair (cookie and field alike) is no longer enough.
    let request = Request::post("/TopCA/admin/ra/accounts")
        .header(
            header::COOKIE,
            format!("topca_admin={mine}; topca_csrf={CSRF}"),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(account_fields(CSRF, "DoubleSubmit")))
        .unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::FORBIDDEN);
    let (status, page) = post_form(
        &app,
        "/TopCA/admin/ra/accounts",
        &mine,
        account_fields(&my_csrf, "Mine"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let units: Vec<String> =
        topca_core::store::AccountStore::search_accounts(&state.store, "CsrfProbe", 10)
            .unwrap()
            .into_iter()
            .map(|a| a.settings.unit)
            .collect();
    assert_eq!(units, ["Mine"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_out_needs_the_sessions_csrf_token() {
    let (_data, _, app) = server(|_| ());
    let cookie = page_log_in(&app, "clerk").await;
    let (status, _) = post_form(&app, "/TopCA/admin/logout", &cookie, "csrf=".into()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(ra_queue(&app, &cookie).await, StatusCode::OK);
    let csrf = console_csrf(&app, &cookie).await;
    let (status, _) = post_form(&app, "/TopCA/admin/logout", &cookie, format!("csrf={csrf}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(ra_queue(&app, &cookie).await, StatusCode::UNAUTHORIZED);
}

// ---- item 11: names do not leak ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_wrong_passwords_and_lockouts_answer_alike() {
    let (_data, _, app) = server(|_| ());
    let answer = |name: &'static str, password: &'static str| {
        let app = app.clone();
        async move {
            let request = Request::post("/api/v1/admin/sessions")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    serde_json::json!({"name": name, "password": password}).to_string(),
                ))
                .unwrap();
            let (status, body, _) = send(&app, request).await;
            // Alike but for the correlation id, which names each request.
            let mut problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
            problem["correlation_id"].take();
            (status, problem)
        }
    };
    let unknown = answer("nobody-here", ADMIN_PASSWORD).await;
    let wrong = answer("clerk", "not the password").await;
    for _ in 0..4 {
        answer("clerk", "not the password").await;
    }
    let locked = answer("clerk", ADMIN_PASSWORD).await;
    assert_eq!(unknown.0, StatusCode::FORBIDDEN);
    assert_eq!(unknown, wrong);
    assert_eq!(unknown, locked);
}

// ---- item 14: the audit log by role ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reads_only_its_own_audit_entries() {
    let (_data, state, app) = server(|_| ());
    admins(&state, &[("keeper", AdminRole::KmcAdmin)]);
    // One entry of each area.
    for (action, target) in [
        (AuditAction::RequestApproved, "request ra-event"),
        (AuditAction::RecoveryApproved, "recovery kmc-event"),
        (AuditAction::SettingChanged, "ops-event"),
    ] {
        state
            .store
            .append_audit(topca_core::audit::AuditRecord {
                at: std::time::SystemTime::now(),
                actor: topca_core::audit::Actor::Admin("someone".into()),
                action,
                target: target.into(),
                outcome: Outcome::Success,
                detail: String::new(),
            })
            .unwrap();
    }
    let seen = |name: &'static str| {
        let app = app.clone();
        async move {
            let token = token(&app, name).await;
            let request = Request::get("/api/v1/admin/audit?actor=someone")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            let (status, body, _) = send(&app, request).await;
            assert_eq!(status, StatusCode::OK);
            let entries: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
            let mut targets: Vec<String> = entries
                .iter()
                .map(|e| e["target"].as_str().unwrap().to_owned())
                .collect();
            targets.sort();
            let request = Request::get("/TopCA/admin/audit?actor=someone")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            let page = String::from_utf8(send(&app, request).await.1).unwrap();
            // The page names targets in its language: look for each one's own part.
            for (target, own) in [
                ("request ra-event", "ra-event"),
                ("recovery kmc-event", "kmc-event"),
                ("ops-event", "ops-event"),
            ] {
                assert_eq!(page.contains(own), targets.contains(&target.to_owned()));
            }
            targets
        }
    };
    assert_eq!(seen("clerk").await, ["request ra-event"]);
    assert_eq!(seen("keeper").await, ["recovery kmc-event"]);
    assert_eq!(
        seen("root").await,
        ["ops-event", "recovery kmc-event", "request ra-event"]
    );
}

/// Posts the super administrator's form `body` to `uri` as `root` (bearer).
async fn as_root(app: &Router, root: &str, uri: &str, body: &str) -> StatusCode {
    let request = Request::post(uri)
        .header(header::AUTHORIZATION, format!("Bearer {root}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap();
    send(app, request).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_ends_the_administrators_sessions() {
    let (_data, _, app) = server(|_| ());
    let clerk = token(&app, "clerk").await;
    let root = token(&app, "root").await;
    let status = as_root(
        &app,
        &root,
        "/TopCA/admin/super/admins/clerk/password",
        "csrf=&password=a-brand-new-password",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(ra_queue(&app, &clerk).await, StatusCode::UNAUTHORIZED);
    let (status, json) = log_in(&app, "clerk", "a-brand-new-password").await;
    assert_eq!(status, StatusCode::OK, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_administrators_session_is_refused() {
    let (_data, state, app) = server(|_| ());
    let clerk = token(&app, "clerk").await;
    let root = token(&app, "root").await;
    let status = as_root(
        &app,
        &root,
        "/TopCA/admin/super/admins/clerk/delete",
        "csrf=",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(state.store.admin("clerk").unwrap().is_none());
    assert_eq!(ra_queue(&app, &clerk).await, StatusCode::UNAUTHORIZED);
    // Not oneself.
    let status = as_root(
        &app,
        &root,
        "/TopCA/admin/super/admins/root/delete",
        "csrf=",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
