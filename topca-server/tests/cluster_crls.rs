//! CRLs across the nodes of one PostgreSQL database: a revocation made on node A
//! is in node B's CRL after one tick of B's background check, B serves the newer
//! CRL A published, two nodes ticking or serving at once publish one CRL (no
//! number twice, no error to a client), and a crashed publisher's lease lapses.
//! PostgreSQL comes from `TOPCA_TEST_POSTGRES_URL`; with `CI=true` its absence
//! fails the tests. One test runs a single node on SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime},
};

use axum::{Router, http::StatusCode};
use common::{
    cluster::{TempPostgres, two_nodes},
    get, openssl, outbox_pin, post_json,
};
use topca_core::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    lifecycle::RevocationReason,
    store::{CertificateStore, CrlStore, Revocation},
};
use topca_server::{cluster_lease::Lease, crl_sync, setup::start};

const PASSWORD: &str = "crl-holder-password-1";

/// Applies and retrieves a certificate on node `app` (data directory `dir`),
/// then revokes it there; its serial.
async fn issue_and_revoke(app: &Router, dir: &Path, account: u64, email: &str) -> String {
    let serial = issue(app, dir, account, email).await;
    let (status, revoked) = post_json(
        app,
        &format!("/api/v1/accounts/{account}/revocations"),
        serde_json::json!({"serial": serial, "password": PASSWORD, "reason": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    serial
}

/// Applies and retrieves a certificate on node `app` (data directory `dir`); its
/// serial.
async fn issue(app: &Router, dir: &Path, account: u64, email: &str) -> String {
    let (status, applied) = post_json(
        app,
        &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "赵六", "email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let (status, retrieved) = post_json(
        app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": outbox_pin(dir), "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    retrieved["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The text of the CRL a node serves, as OpenSSL reads it.
async fn served_crl(app: &Router, work: &Path) -> String {
    let (status, der) = get(app, "/TopCA/crl/current.crl").await;
    assert_eq!(status, StatusCode::OK);
    let file = work.join("current.crl");
    std::fs::write(&file, der).unwrap();
    openssl(
        work,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            file.to_str().unwrap(),
            "-noout",
            "-text",
        ],
    )
}

/// Whether OpenSSL's CRL text lists `serial` (upper-case hex).
fn lists(text: &str, serial: &str) -> bool {
    text.lines().any(|line| {
        line.trim()
            .strip_prefix("Serial Number:")
            .is_some_and(|s| s.trim().eq_ignore_ascii_case(serial))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_node_a_is_in_node_b_crl_after_one_tick_of_b() {
    let Some(pg) = TempPostgres::create("tick") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    let account = a.demo_account.unwrap().0;
    let (app_a, app_b) = (
        topca_server::router(Arc::clone(&a)),
        topca_server::router(Arc::clone(&b)),
    );
    // Node B serves (and caches) a CRL before the revocation.
    let before = served_crl(&app_b, temp.path()).await;
    let serial = issue_and_revoke(&app_a, &temp.path().join("a"), account, "tick@example.cn").await;
    assert!(!lists(&before, &serial));

    let tick_b = Arc::clone(&b);
    let published = tokio::task::spawn_blocking(move || crl_sync::tick(&tick_b))
        .await
        .unwrap()
        .unwrap();
    assert!(published, "node B published the CRL the revocation needs");
    let after = served_crl(&app_b, temp.path()).await;
    assert!(
        lists(&after, &serial),
        "{serial} missing from node B's CRL:\n{after}"
    );

    // Nothing new revoked: the next tick publishes nothing.
    let tick_b = Arc::clone(&b);
    let again = tokio::task::spawn_blocking(move || crl_sync::tick(&tick_b))
        .await
        .unwrap()
        .unwrap();
    assert!(!again, "a tick without a new revocation published a CRL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_b_serves_the_newer_crl_node_a_published() {
    let Some(pg) = TempPostgres::create("serve") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    let account = a.demo_account.unwrap().0;
    let (app_a, app_b) = (
        topca_server::router(Arc::clone(&a)),
        topca_server::router(Arc::clone(&b)),
    );
    served_crl(&app_b, temp.path()).await;
    let serial =
        issue_and_revoke(&app_a, &temp.path().join("a"), account, "serve@example.cn").await;
    // Node A publishes at once, as the node that revoked.
    let on_a = served_crl(&app_a, temp.path()).await;
    assert!(lists(&on_a, &serial), "{on_a}");

    tokio::time::sleep(Duration::from_secs(crl_sync::CRL_CHECK_SECS + 1)).await;
    let on_b = served_crl(&app_b, temp.path()).await;
    assert!(
        lists(&on_b, &serial),
        "{serial} missing from node B's CRL:\n{on_b}"
    );
    let newest = a.store.latest_crl(false).unwrap().unwrap();
    let (_, der_b) = get(&app_b, "/TopCA/crl/current.crl").await;
    assert_eq!(der_b, newest.der, "node B serves the newest stored CRL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_ticking_at_once_publish_one_crl_number() {
    let Some(pg) = TempPostgres::create("lease") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    let account = a.demo_account.unwrap().0;
    let app_a = topca_server::router(Arc::clone(&a));
    served_crl(&app_a, temp.path()).await;
    for round in 0..3 {
        let email = format!("lease{round}@example.cn");
        issue_and_revoke(&app_a, &temp.path().join("a"), account, &email).await;
        let before = a.store.latest_crl(false).unwrap().unwrap().number;
        let (ta, tb) = (Arc::clone(&a), Arc::clone(&b));
        let published = tokio::task::spawn_blocking(move || {
            let barrier = std::sync::Barrier::new(2);
            std::thread::scope(|s| {
                let one = s.spawn(|| {
                    barrier.wait();
                    crl_sync::tick(&ta).unwrap()
                });
                let two = s.spawn(|| {
                    barrier.wait();
                    crl_sync::tick(&tb).unwrap()
                });
                [one.join().unwrap(), two.join().unwrap()]
            })
        })
        .await
        .unwrap();
        let after = a.store.latest_crl(false).unwrap().unwrap().number;
        assert_eq!(
            published.iter().filter(|p| **p).count(),
            1,
            "round {round}: {published:?}"
        );
        assert_eq!(after, before + 1, "round {round}: one new CRL number");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_serving_at_once_publish_one_crl_and_answer_every_request() {
    let Some(pg) = TempPostgres::create("serve_race") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    let account = a.demo_account.unwrap().0;
    let (app_a, app_b) = (
        topca_server::router(Arc::clone(&a)),
        topca_server::router(Arc::clone(&b)),
    );
    served_crl(&app_b, temp.path()).await;
    for round in 0..3 {
        let email = format!("race{round}@example.cn");
        let serial = issue_and_revoke(&app_a, &temp.path().join("a"), account, &email).await;
        let before = a.store.latest_crl(false).unwrap().unwrap().number;
        // Both nodes learn of the revocation at once (as after a tick each).
        a.crl_changed();
        b.crl_changed();
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..8 {
            let app = if i % 2 == 0 {
                app_a.clone()
            } else {
                app_b.clone()
            };
            requests.spawn(async move { get(&app, "/TopCA/crl/current.crl").await });
        }
        let mut served = Vec::new();
        while let Some(answer) = requests.join_next().await {
            let (status, der) = answer.unwrap();
            assert_eq!(
                status,
                StatusCode::OK,
                "round {round}: {}",
                common::text(&der)
            );
            served.push(der);
        }
        let newest = a.store.latest_crl(false).unwrap().unwrap();
        assert_eq!(newest.number, before + 1, "round {round}: one new CRL");
        assert!(
            served.iter().all(|der| *der == newest.der),
            "round {round}: every request got the one new CRL"
        );
        let text = served_crl(&app_b, temp.path()).await;
        assert!(
            lists(&text, &serial),
            "round {round}: {serial} missing:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_publishers_lease_lapses_and_the_other_node_publishes() {
    let Some(pg) = TempPostgres::create("crash") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    let account = a.demo_account.unwrap().0;
    let (app_a, app_b) = (
        topca_server::router(Arc::clone(&a)),
        topca_server::router(Arc::clone(&b)),
    );
    served_crl(&app_b, temp.path()).await;
    let serial =
        issue_and_revoke(&app_a, &temp.path().join("a"), account, "crash@example.cn").await;
    // Node A takes the lease and dies before giving it back.
    let crashed = Lease::take(
        &a.store,
        SystemTime::now(),
        crl_sync::CRL_PUBLISHER,
        Duration::from_secs(2),
    )
    .unwrap()
    .expect("the lease is free");
    std::mem::forget(crashed);
    let held = Lease::take(
        &b.store,
        SystemTime::now(),
        crl_sync::CRL_PUBLISHER,
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(held.is_none(), "node B took a lease node A holds");
    let tick_b = Arc::clone(&b);
    let blocked = tokio::task::spawn_blocking(move || crl_sync::tick(&tick_b))
        .await
        .unwrap()
        .unwrap();
    assert!(!blocked, "node B published while node A held the lease");

    tokio::time::sleep(Duration::from_secs(3)).await;
    let tick_b = Arc::clone(&b);
    let published = tokio::task::spawn_blocking(move || crl_sync::tick(&tick_b))
        .await
        .unwrap()
        .unwrap();
    assert!(published, "node B took over the lapsed lease and published");
    let on_b = served_crl(&app_b, temp.path()).await;
    assert!(
        lists(&on_b, &serial),
        "{serial} missing from node B's CRL:\n{on_b}"
    );
    // Given back after publishing: node A takes it at once.
    let again = Lease::take(
        &a.store,
        SystemTime::now(),
        crl_sync::CRL_PUBLISHER,
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(again.is_some(), "node B kept the lease after publishing");
    again.unwrap().release(&a.store).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_sqlite_node_a_tick_publishes_what_was_revoked_since_the_last_crl() {
    let temp = tempfile::tempdir().unwrap();
    let (state, _) = start(&common::options(temp.path())).unwrap();
    let state = Arc::new(state);
    let account = state.demo_account.unwrap().0;
    let app = topca_server::router(Arc::clone(&state));
    let work = tempfile::tempdir().unwrap();
    served_crl(&app, work.path()).await;
    let tick = Arc::clone(&state);
    let idle = tokio::task::spawn_blocking(move || crl_sync::tick(&tick))
        .await
        .unwrap()
        .unwrap();
    assert!(!idle, "a tick published with nothing revoked");
    let serial = issue_and_revoke(&app, temp.path(), account, "sqlite@example.cn").await;
    let tick = Arc::clone(&state);
    let published = tokio::task::spawn_blocking(move || crl_sync::tick(&tick))
        .await
        .unwrap()
        .unwrap();
    assert!(published, "the revocation did not lead to a CRL");
    let text = served_crl(&app, work.path()).await;
    assert!(lists(&text, &serial), "{serial} missing:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_committed_after_a_crl_made_later_than_its_date_is_published_at_the_next_tick()
{
    for deltas in [false, true] {
        let temp = tempfile::tempdir().unwrap();
        let mut options = common::options(temp.path());
        options.delta_crl = deltas;
        let (state, _) = start(&options).unwrap();
        let state = Arc::new(state);
        let account = state.demo_account.unwrap().0;
        let app = topca_server::router(Arc::clone(&state));
        let work = tempfile::tempdir().unwrap();
        let serial = issue(&app, temp.path(), account, "late@example.cn").await;
        served_crl(&app, work.path()).await;
        if deltas {
            let (status, _) = get(&app, "/TopCA/crl/delta.crl").await;
            assert_eq!(status, StatusCode::OK);
        }
        // The revocation was dated, then a CRL was made, then it committed: it is
        // older than the newest CRL and not in it.
        let newest = [false, true]
            .iter()
            .filter_map(|delta| state.store.latest_crl(*delta).unwrap())
            .map(|c| c.this_update)
            .max()
            .unwrap();
        state
            .store
            .revoke_certificate(
                &Revocation {
                    serial: serial.clone(),
                    at: newest - Duration::from_secs(2),
                    reason: RevocationReason::KeyCompromise,
                },
                AuditRecord {
                    at: newest - Duration::from_secs(2),
                    actor: Actor::System,
                    action: AuditAction::CertificateRevoked,
                    target: serial.clone(),
                    outcome: Outcome::Success,
                    detail: "revoked late in the test".into(),
                },
            )
            .unwrap();
        assert!(!state.store.revoked_since(newest).unwrap());

        let tick = Arc::clone(&state);
        let published = tokio::task::spawn_blocking(move || crl_sync::tick(&tick))
            .await
            .unwrap()
            .unwrap();
        assert!(published, "deltas {deltas}: the late revocation was missed");
        // A delta CRL lists only what came after its base: the full CRL has it.
        let text = served_crl(&app, work.path()).await;
        assert!(
            lists(&text, &serial),
            "deltas {deltas}: {serial} missing:\n{text}"
        );
        let tick = Arc::clone(&state);
        let again = tokio::task::spawn_blocking(move || crl_sync::tick(&tick))
            .await
            .unwrap()
            .unwrap();
        assert!(
            !again,
            "deltas {deltas}: published again with nothing missing"
        );
    }
}
