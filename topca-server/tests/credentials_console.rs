//! CMP/EST credentials and ACME EAB keys in the RA console and the admin API:
//! only RA administrators list, make and revoke; forms need the session's CSRF
//! token; the secret is shown once and never listed; revoking twice, guessed
//! references, huge bodies and 50 concurrent calls are refused or counted
//! right; everything is audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{call_as, options, send, text};
use topca_core::{
    SystemClock,
    audit::{Actor, AuditAction},
    client::ClientRegistry,
    cmp::credential,
    ra::AdminRole,
    store::{AcmeEabStore, AuditStore, ClientStore, CmpStore},
};
use topca_server::{AppState, setup::start};

struct Server {
    _data: tempfile::TempDir,
    state: Arc<AppState>,
    app: Router,
    ra: String,
    kmc: String,
}

async fn server() -> Server {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    common::admins(
        &state,
        &[
            ("ra-admin", AdminRole::RaAdmin),
            ("kmc-admin", AdminRole::KmcAdmin),
        ],
    );
    let app = topca_server::router(Arc::clone(&state));
    let ra = common::token(&app, "ra-admin", common::ADMIN_PASSWORD).await;
    let kmc = common::token(&app, "kmc-admin", common::ADMIN_PASSWORD).await;
    Server {
        _data: data,
        state,
        app,
        ra,
        kmc,
    }
}

/// A console request with the session cookie of `token`.
fn console(method: &str, uri: &str, token: &str, body: String) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, format!("topca_admin={token}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

/// The same API call 50 times at once.
async fn fifty(
    app: &Router,
    token: &str,
    method: &'static str,
    uri: &str,
    json: Option<serde_json::Value>,
) -> Vec<(StatusCode, serde_json::Value)> {
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (app, token, uri, json) = (app.clone(), token.to_owned(), uri.to_owned(), json.clone());
        calls.spawn(async move { call_as(&app, &token, method, &uri, json).await });
    }
    let mut answers = Vec::new();
    while let Some(answer) = calls.join_next().await {
        answers.push(answer.unwrap());
    }
    answers
}

/// The CSRF token of a console page.
fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

/// The text of the element `id` of `page`.
fn element(page: &str, id: &str) -> String {
    page.split(&format!("id=\"{id}\">"))
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

/// The account of the live ACME machine client of the default profile (made
/// for the demo server account unless the demo has one).
fn acme_client(state: &AppState) -> u64 {
    if let Some(client) = state.store.client_by_name("acme").unwrap() {
        return client.account.0;
    }
    let env = state.ca.environment();
    ClientRegistry::new(&state.store, env.random(), env.clock())
        .add(
            Actor::System,
            "acme",
            state.demo.accounts[1],
            vec![topca_core::ProfileKind::TlsServer],
            Vec::new(),
            None,
        )
        .unwrap();
    state.demo.accounts[1].0
}

#[tokio::test]
async fn the_console_makes_lists_and_revokes_cmp_credentials() {
    let s = server().await;
    let list = "/TopCA/admin/ra/cmp-credentials";
    // Only RA administrators.
    let (status, _, _) = send(&s.app, console("GET", list, "none", String::new())).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "to the log-in page");
    let (status, _, _) = send(&s.app, console("GET", list, &s.kmc, String::new())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page, _) = send(&s.app, console("GET", list, &s.ra, String::new())).await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&page);
    assert!(page.contains("CMP/EST 凭据"), "{page}");
    let csrf = csrf_of(&page);
    let account = s.state.demo.accounts[1].0;
    let before = s.state.store.cmp_credentials(0, 0).unwrap().1;

    // Making one: a forged form, a KMC administrator and a bad account make nothing.
    let made = |token: &str, body: String| console("POST", list, token, body);
    let (status, _, _) = send(
        &s.app,
        made(&s.ra, format!("csrf=forged&account={account}")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(
        &s.app,
        made(&s.kmc, format!("csrf={csrf}&account={account}")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(&s.app, made(&s.ra, format!("csrf={csrf}&account=abc"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(&s.app, made(&s.ra, format!("csrf={csrf}&account=987654"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(s.state.store.cmp_credentials(0, 10).unwrap().1, before);

    let (status, page, headers) = send(
        &s.app,
        made(&s.ra, format!("csrf={csrf}&account={account}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", text(&page));
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let page = text(&page);
    let reference = element(&page, "reference");
    let secret = element(&page, "secret");
    // The secret works (EST's check), and the list shows the reference only.
    credential::authenticate(
        &s.state.store,
        &s.state.master,
        &SystemClock,
        &reference,
        &secret,
    )
    .unwrap();
    let (_, page, _) = send(&s.app, console("GET", list, &s.ra, String::new())).await;
    let page = text(&page);
    assert!(
        page.contains(&reference) && !page.contains(&secret),
        "{page}"
    );
    let stored = s.state.store.cmp_credential(&reference).unwrap().unwrap();
    assert!(stored.last_used.is_some(), "the check was recorded");
    assert!(
        !stored
            .sealed_secret
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()),
        "stored sealed"
    );

    // Revoking: forged form and KMC refused, then once, then never again.
    let uri = format!("{list}/{reference}/revoke");
    let (status, _, _) = send(&s.app, console("POST", &uri, &s.ra, "csrf=x".into())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(
        &s.app,
        console("POST", &uri, &s.kmc, format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page, _) =
        send(&s.app, console("POST", &uri, &s.ra, format!("csrf={csrf}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&page).contains("credential-revoked"));
    assert!(
        credential::authenticate(
            &s.state.store,
            &s.state.master,
            &SystemClock,
            &reference,
            &secret
        )
        .is_err(),
        "a revoked credential is refused"
    );
    let (status, _, _) = send(&s.app, console("POST", &uri, &s.ra, format!("csrf={csrf}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "revoked already");
    let (status, _, _) = send(
        &s.app,
        console(
            "POST",
            &format!("{list}/GUESS-ED00/revoke"),
            &s.ra,
            format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A huge form is refused before anything is done.
    let huge = format!("csrf={csrf}&account={}", "1".repeat(3 * 1024 * 1024));
    let (status, _, _) = send(&s.app, made(&s.ra, huge)).await;
    assert!(status.is_client_error(), "{status}");

    let entries = s.state.store.audit_entries().unwrap();
    let by_ra = |action| {
        entries
            .iter()
            .filter(|e| {
                e.record.action == action && e.record.actor == Actor::Admin("ra-admin".into())
            })
            .count()
    };
    assert_eq!(by_ra(AuditAction::ClientAdded), 1);
    assert_eq!(by_ra(AuditAction::ClientRevoked), 1);
}

#[tokio::test]
async fn the_api_makes_lists_and_revokes_cmp_credentials_and_50_at_once_count_right() {
    let s = server().await;
    let account = s.state.demo.accounts[1].0;
    let api = "/api/v1/admin/cmp-credentials";
    let before = s.state.store.cmp_credentials(0, 0).unwrap().1;
    let (status, problem) = call_as(&s.app, &s.kmc, "GET", api, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, _) = call_as(
        &s.app,
        &s.kmc,
        "POST",
        api,
        Some(serde_json::json!({"account": account})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = call_as(
        &s.app,
        &s.ra,
        "POST",
        api,
        Some(serde_json::json!({"account": "x"})),
    )
    .await;
    assert!(status.is_client_error(), "{status} {problem}");

    // 50 made at once: 50 distinct references, each audited.
    let made = fifty(
        &s.app,
        &s.ra,
        "POST",
        api,
        Some(serde_json::json!({"account": account})),
    )
    .await;
    let mut references = std::collections::BTreeSet::new();
    for (status, answer) in &made {
        assert_eq!(*status, StatusCode::CREATED, "{answer}");
        assert!(answer["secret"].as_str().unwrap().len() >= 20);
        references.insert(answer["reference"].as_str().unwrap().to_owned());
    }
    assert_eq!(references.len(), 50);
    let (status, page) = call_as(&s.app, &s.ra, "GET", &format!("{api}?page=2"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 50 + before);
    assert_eq!(page["page"], 2);
    assert!(!page.to_string().contains("secret"), "never listed: {page}");

    // 50 revocations of one credential at once: one wins, every other is refused.
    let reference = references.iter().next().unwrap().clone();
    let uri = format!("{api}/{reference}/revoke");
    let revoked = fifty(&s.app, &s.ra, "POST", &uri, None).await;
    let ok = revoked.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{revoked:?}");
    assert!(
        revoked
            .iter()
            .all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST)
    );
    let entries = s.state.store.audit_entries().unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.record.action == AuditAction::ClientRevoked)
            .count(),
        1
    );
    let (status, problem) =
        call_as(&s.app, &s.ra, "POST", &format!("{api}/NOPE/revoke"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "credential_unknown", "{problem}");
    let (status, _) = call_as(&s.app, "not-a-session", "GET", api, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A huge or malformed JSON body is refused before anything is made.
    let huge = format!(
        "{{\"account\": 1, \"pad\": \"{}\"}}",
        "a".repeat(3 * 1024 * 1024)
    );
    let request = Request::post(api)
        .header(header::AUTHORIZATION, format!("Bearer {}", s.ra))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(huge))
        .unwrap();
    let (status, _, _) = send(&s.app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let request = Request::post(api)
        .header(header::AUTHORIZATION, format!("Bearer {}", s.ra))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"account\": "))
        .unwrap();
    let (status, _, _) = send(&s.app, request).await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(
        s.state.store.cmp_credentials(0, 0).unwrap().1,
        50 + before,
        "nothing more made"
    );
}

#[tokio::test]
async fn eab_keys_are_made_for_a_live_profile_shown_once_and_revoked_once() {
    let s = server().await;
    let list = "/TopCA/admin/ra/eab-keys";
    let api = "/api/v1/admin/eab-keys";
    let (status, _, _) = send(&s.app, console("GET", list, &s.kmc, String::new())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page, _) = send(&s.app, console("GET", list, &s.ra, String::new())).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&text(&page));
    // No machine client serves the profile: refused.
    let (status, _, _) = send(
        &s.app,
        console("POST", list, &s.ra, format!("csrf={csrf}&profile=nobody")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call_as(
        &s.app,
        &s.ra,
        "POST",
        api,
        Some(serde_json::json!({"profile": "nope"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let account = acme_client(&s.state);
    let (status, _, _) = send(
        &s.app,
        console("POST", list, &s.ra, "csrf=forged&profile=default".into()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page, headers) = send(
        &s.app,
        console("POST", list, &s.ra, format!("csrf={csrf}&profile=default")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", text(&page));
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let page = text(&page);
    let kid = element(&page, "kid");
    let hmac = element(&page, "hmac");
    assert!(element(&page, "directory").ends_with("/acme/directory"));
    let (_, page, _) = send(&s.app, console("GET", list, &s.ra, String::new())).await;
    let page = text(&page);
    assert!(page.contains(&kid) && !page.contains(&hmac), "{page}");
    assert!(
        page.contains(&format!(">{account}<")),
        "bound account shown"
    );

    // The API: 50 at once, then list.
    let made = fifty(
        &s.app,
        &s.ra,
        "POST",
        api,
        Some(serde_json::json!({"profile": "default"})),
    )
    .await;
    assert!(made.iter().all(|(s, _)| *s == StatusCode::CREATED));
    let (status, listed) = call_as(&s.app, &s.ra, "GET", api, None).await;
    assert_eq!(status, StatusCode::OK);
    let total = listed["total"].as_u64().unwrap();
    assert!(total >= 51, "{total}");
    assert_eq!(listed["keys"].as_array().unwrap().len(), 50, "50 a page");
    assert!(!listed.to_string().contains(&hmac));

    // Revoking: once; it then binds nothing.
    let uri = format!("{list}/{kid}/revoke");
    let (status, _, _) = send(
        &s.app,
        console("POST", &uri, &s.kmc, format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page, _) =
        send(&s.app, console("POST", &uri, &s.ra, format!("csrf={csrf}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&page).contains("key-revoked"));
    assert!(
        s.state
            .store
            .acme_eab_key(&kid)
            .unwrap()
            .unwrap()
            .revoked
            .is_some()
    );
    let (status, problem) =
        call_as(&s.app, &s.ra, "POST", &format!("{api}/{kid}/revoke"), None).await;
    assert_eq!(
        problem["code"].as_str().map(str::is_empty),
        Some(false),
        "{problem}"
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "revoked already");
    let (status, _) = call_as(
        &s.app,
        &s.ra,
        "POST",
        &format!("{api}/guessed/revoke"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let huge = format!("csrf={csrf}&profile={}", "a".repeat(3 * 1024 * 1024));
    let (status, _, _) = send(&s.app, console("POST", list, &s.ra, huge)).await;
    assert!(status.is_client_error(), "{status}");
    let long = format!("csrf={csrf}&profile={}", "a".repeat(100));
    let (status, _, _) = send(&s.app, console("POST", list, &s.ra, long)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let entries = s.state.store.audit_entries().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.record.action == AuditAction::ClientRevoked
                && e.record.target == format!("ACME EAB key {kid}"))
    );
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.record.action == AuditAction::ClientAdded
                && e.record.target.starts_with("ACME EAB key"))
            .count(),
        usize::try_from(total).unwrap()
    );
}
