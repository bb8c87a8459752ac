//! Pre-signed OCSP across the nodes of one PostgreSQL database: node B serves,
//! without signing, the response node A signed, and answers "revoked" for a
//! revocation made on A after one tick of B. PostgreSQL comes from
//! `TOPCA_TEST_POSTGRES_URL`; with `CI=true` its absence fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use base64::Engine;
use common::{
    cluster::{TempPostgres, two_nodes},
    ec_csr, get, openssl, outbox_pin, post_json, send,
};
use topca_server::{AppState, ocsp_cache};

const PASSWORD: &str = "cluster-ocsp-password-1";

async fn ocsp_get(app: &Router, request: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(request);
    let uri = format!(
        "/TopCA/ocsp/{}",
        b64.replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    );
    let (status, body, _) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    body
}

fn signed(state: &AppState) -> u64 {
    topca_server::metrics::exposition(state)
        .lines()
        .find_map(|l| l.strip_prefix("topca_ocsp_answers_total{source=\"signed\"}"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_b_serves_what_node_a_signed_and_follows_its_revocation() {
    let Some(pg) = TempPostgres::create("ocsp") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let w = temp.path();
    let (a, b) = two_nodes(w, &pg);
    let account = a.demo_account.unwrap().0;
    let (app_a, app_b) = (
        topca_server::router(Arc::clone(&a)),
        topca_server::router(Arc::clone(&b)),
    );
    let (status, _) = post_json(
        &app_a,
        &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "赵六", "email": "ocsp@example.cn", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let csr = ec_csr(w, "holder");
    let (status, retrieved) = post_json(
        &app_a,
        "/api/v1/retrievals",
        serde_json::json!({"pin": outbox_pin(&w.join("a")), "password": PASSWORD, "csr": csr}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    let serial = retrieved["certificate"]["serial"].as_str().unwrap();
    std::fs::write(
        w.join("holder.pem"),
        retrieved["certificate"]["pem"].as_str().unwrap(),
    )
    .unwrap();
    let (_, issuing) = get(&app_a, "/TopCA/ca/issuing.cer").await;
    std::fs::write(w.join("issuing.der"), &issuing).unwrap();
    openssl(
        w,
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            "issuing.der",
            "-out",
            "issuing.pem",
        ],
    );
    openssl(
        w,
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "holder.pem",
            "-no_nonce",
            "-reqout",
            "holder.req",
        ],
    );
    let request = std::fs::read(w.join("holder.req")).unwrap();

    // A signs (on the miss) and stores; B serves the same bytes, unsigned.
    let from_a = ocsp_get(&app_a, &request).await;
    let before = signed(&b);
    let from_b = ocsp_get(&app_b, &request).await;
    assert_eq!(from_b, from_a);
    assert_eq!(signed(&b), before, "node B signed nothing");

    // Revoked on A: A answers anew at once, B after one tick.
    let (status, _) = post_json(
        &app_a,
        &format!("/api/v1/accounts/{account}/revocations"),
        serde_json::json!({"serial": serial, "password": PASSWORD, "reason": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let revoked = ocsp_get(&app_a, &request).await;
    assert_ne!(revoked, from_a);
    let tick_b = Arc::clone(&b);
    tokio::task::spawn_blocking(move || ocsp_cache::tick(&tick_b).unwrap())
        .await
        .unwrap();
    assert_eq!(ocsp_get(&app_b, &request).await, revoked);
}
