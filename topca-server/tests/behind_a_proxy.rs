//! Clients behind a load balancer: a trusted proxy's `X-Forwarded-For` names the
//! client the per-address limits count, so one stranger behind the balancer does
//! not use up everyone's budget; a connection that is not a trusted proxy cannot
//! escape its limit by writing the header itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use common::{from_address, json_request, options, send};
use topca_server::{
    limits::RateLimiter,
    proxies::TrustedProxies,
    setup::{Options, start},
};

const BALANCER: &str = "10.0.0.2";

/// A holder-secret attempt from `peer`, naming `forwarded` when given.
fn attempt(peer: &str, forwarded: Option<&str>) -> Request<Body> {
    let mut request = json_request(
        "/api/v1/retrievals",
        &serde_json::json!({"pin": "x-y", "password": "p"}),
    );
    if let Some(hops) = forwarded {
        request
            .headers_mut()
            .insert("x-forwarded-for", hops.parse().unwrap());
    }
    from_address(request, peer)
}

fn app_with_budget_of_three(dir: &std::path::Path) -> axum::Router {
    let options = Options {
        trusted_proxies: TrustedProxies::parse(&["10.0.0.0/24"]).unwrap(),
        ..options(dir)
    };
    let (mut state, _) = start(&options).unwrap();
    state.limits.holder_secret_per_source = RateLimiter::new(3, Duration::from_secs(60));
    topca_server::router(Arc::new(state))
}

#[tokio::test]
async fn a_stranger_behind_the_balancer_uses_up_only_his_own_budget() {
    let data = tempfile::tempdir().unwrap();
    let app = app_with_budget_of_three(data.path());
    for _ in 0..3 {
        let (status, _, _) = send(&app, attempt(BALANCER, Some("203.0.113.5"))).await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    let (status, _, _) = send(&app, attempt(BALANCER, Some("203.0.113.5"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Writing another first hop does not help: the balancer appended the real one.
    let (status, _, _) = send(&app, attempt(BALANCER, Some("198.51.100.200, 203.0.113.5"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same balancer is served.
    let (status, _, _) = send(&app, attempt(BALANCER, Some("203.0.113.6"))).await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_client_that_is_not_a_trusted_proxy_cannot_rotate_forwarded_addresses() {
    let data = tempfile::tempdir().unwrap();
    let app = app_with_budget_of_three(data.path());
    let direct = "198.51.100.9";
    let mut statuses = Vec::new();
    for i in 0..6 {
        let fake = format!("203.0.113.{}", 10 + i);
        let (status, _, _) = send(&app, attempt(direct, Some(&fake))).await;
        statuses.push(status);
    }
    assert!(
        statuses[..3]
            .iter()
            .all(|s| *s != StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        statuses[3..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn without_trusted_proxies_the_header_is_ignored() {
    let data = tempfile::tempdir().unwrap();
    let (mut state, _) = start(&options(data.path())).unwrap();
    state.limits.holder_secret_per_source = RateLimiter::new(3, Duration::from_secs(60));
    let app = topca_server::router(Arc::new(state));
    for i in 0..3 {
        let fake = format!("203.0.113.{}", 20 + i);
        let (status, _, _) = send(&app, attempt(BALANCER, Some(&fake))).await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    let (status, _, _) = send(&app, attempt(BALANCER, Some("203.0.113.99"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn a_wrong_trusted_proxies_entry_stops_the_start_naming_it() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("topca.toml");
    std::fs::write(
        &config,
        "trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n",
    )
    .unwrap();
    let error = Options::parse([
        "--config".to_owned(),
        config.display().to_string(),
        "--data-dir".to_owned(),
        data.path().display().to_string(),
    ])
    .unwrap_err()
    .to_string();
    assert!(error.contains("\"10.0.0.0/33\""), "{error}");
    std::fs::write(
        &config,
        "trusted_proxies = [\"10.0.0.0/8\", \"fd00::/8\"]\n",
    )
    .unwrap();
    let parsed = Options::parse([
        "--config".to_owned(),
        config.display().to_string(),
        "--data-dir".to_owned(),
        data.path().display().to_string(),
    ])
    .unwrap();
    assert!(parsed.trusted_proxies.contains("10.9.8.7".parse().unwrap()));
}
