//! ACME new-order limits across nodes: two servers on one database (SQLite,
//! and PostgreSQL when `TOPCA_TEST_POSTGRES_URL` names a server) share the
//! per-account and per-identifier counts, whichever node takes the order,
//! also under 20 orders at once; a refused order counts for nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod acme_client;
mod common;

use std::sync::Arc;

use acme_client::{BASE, Client};
use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use common::{options, send};
use serde_json::{Value, json};
use topca_core::KeyAlgorithm;
use topca_server::{acme::OrderLimits, setup::start};

/// Posts `payload` signed by `client` to `path` on node `app`: status,
/// body and headers.
async fn post(
    app: &Router,
    client: &Client,
    path: &str,
    payload: &Value,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let head = Request::head("/acme/new-nonce")
        .body(Body::empty())
        .unwrap();
    let (status, _, headers) = send(app, head).await;
    assert_eq!(status, StatusCode::OK);
    let nonce = headers["replay-nonce"].to_str().unwrap();
    let header = client.header(&format!("{BASE}{path}"), nonce);
    let request = Request::post(path)
        .header("content-type", "application/jose+json")
        .body(Body::from(client.jws_with(header, Some(payload))))
        .unwrap();
    let (status, body, headers) = send(app, request).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
        headers,
    )
}

async fn register(app: &Router, client: &mut Client) {
    let terms = json!({"termsOfServiceAgreed": true});
    let (status, body, headers) = post(app, client, "/acme/new-account", &terms).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    client.kid = Some(headers["location"].to_str().unwrap().to_owned());
}

fn order(name: &str) -> Value {
    json!({"identifiers": [{"type": "dns", "value": name}]})
}

/// Two nodes on one data directory and `database_url`, 4 new orders an hour
/// per account and 3 per identifier.
async fn two_nodes(database_url: Option<String>) {
    acme_client::clear_of_the_limit_window_turn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.database_url = database_url;
    opts.acme_order_limits = OrderLimits {
        per_account: 4,
        per_identifier: 3,
    };
    let (first, _) = start(&opts).unwrap();
    let (second, _) = start(&opts).unwrap();
    let nodes = [
        topca_server::router(Arc::new(first)),
        topca_server::router(Arc::new(second)),
    ];
    let mut one = Client::new(KeyAlgorithm::EcdsaP256);
    register(&nodes[0], &mut one).await;

    // localhost: 3 in all, alternating nodes; the 4th refused on either.
    for i in 0..3 {
        let (status, body, _) =
            post(&nodes[i % 2], &one, "/acme/new-order", &order("localhost")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for node in &nodes {
        let (status, problem, _) = post(node, &one, "/acme/new-order", &order("localhost")).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("localhost"));
    }
    // The refused ones did not count against the account: one more fits.
    let (status, body, _) = post(&nodes[1], &one, "/acme/new-order", &order("a.localhost")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, problem, _) =
        post(&nodes[0], &one, "/acme/new-order", &order("b.localhost")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("account"),
        "{problem}"
    );

    // 20 at once over both nodes from fresh accounts: 3 for the name.
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut client = Client::new(KeyAlgorithm::Ed25519);
        register(&nodes[1], &mut client).await;
        clients.push(Arc::new(client));
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        let node = nodes[i % 2].clone();
        let client = Arc::clone(&clients[i % 5]);
        tasks.push(tokio::spawn(async move {
            let (status, body, _) =
                post(&node, &client, "/acme/new-order", &order("busy.localhost")).await;
            (status, body)
        }));
    }
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_sqlite_database_share_the_order_limits() {
    two_nodes(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_postgresql_database_share_the_order_limits() {
    let Some(pg) = common::cluster::TempPostgres::create("acme_limits") else {
        return;
    };
    two_nodes(Some(pg.url.clone())).await;
}
