//! Record before sign through the server: a database write that fails after the
//! signature leaves a reservation the operator lists (`topca-server issuance
//! unfinished`) and OCSP answers "revoked" for (RFC 6960 §2.2), with nothing
//! half-written; fifty concurrent retrievals of one request issue once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use common::{
    assert_every_certificate_recorded, ec_csr, from_address, get, json_request, openssl_outcome,
    options, outbox_pin, post_json, send, text,
};
use diesel::{Connection, SqliteConnection, connection::SimpleConnection};
use topca_core::{
    ProfileKind,
    audit::{Actor, AuditAction},
    lifecycle::RequestState,
    store::{AuditStore, CertificateStore, IssuanceStore, RequestStore},
};
use topca_server::{AppState, limits::RateLimiter, setup::start};

const PASSWORD: &str = "record-password-1";

/// A server on `dir` whose per-source limits stay out of the way, the demo
/// account's id, and its router.
fn server(dir: &Path) -> (Arc<AppState>, u64, Router) {
    let (mut state, _) = start(&options(dir)).unwrap();
    state.limits.holder_secret_per_source = RateLimiter::new(10_000, Duration::from_secs(60));
    let account = state.demo_account.unwrap().0;
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    (state, account, app)
}

/// Applies for `email` under the automatic demo account; the request's number
/// and the mailed PIN.
async fn apply(
    app: &Router,
    state: &AppState,
    data: &Path,
    account: u64,
    email: &str,
) -> (u64, String) {
    let (status, applied) = post_json(
        app,
        &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "记录 用户", "email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    (
        common::request_number(state, &applied["request"]),
        outbox_pin(data),
    )
}

/// The OCSP answer of the server for `serial` (hex), as OpenSSL reads it.
async fn ocsp_status(app: &Router, work: &Path, serial: &str) -> String {
    let serial = format!("0x{serial}");
    let (ok, out) = openssl_outcome(
        work,
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-serial",
            &serial,
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
    );
    assert!(ok, "{out}");
    let request = std::fs::read(work.join("req.der")).unwrap();
    let (status, response, _) = send(
        app,
        Request::post("/TopCA/ocsp")
            .header("content-type", "application/ocsp-request")
            .body(Body::from(request))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    std::fs::write(work.join("resp.der"), response).unwrap();
    let (ok, out) = openssl_outcome(
        work,
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-serial",
            &serial,
            "-respin",
            "resp.der",
            "-CAfile",
            "chain.pem",
            "-no_nonce",
        ],
    );
    assert!(ok, "{out}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_failing_after_the_signature_leaves_a_reservation_that_ocsp_calls_revoked() {
    let data = tempfile::tempdir().unwrap();
    let (state, account, app) = server(data.path());
    let email = "crash@example.cn";
    let (request, pin) = apply(&app, &state, data.path(), account, email).await;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let csr = ec_csr(w, "user");

    // The database refuses every new certificate from now on: the certificate
    // is signed, then its write fails.
    let database = data.path().join("topca.db");
    let mut raw = SqliteConnection::establish(database.to_str().unwrap()).unwrap();
    raw.batch_execute(
        "CREATE TRIGGER injected_failure BEFORE INSERT ON certificates \
         BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END;",
    )
    .unwrap();
    let retrieval = serde_json::json!({"pin": pin, "password": PASSWORD, "csr": csr});
    let (status, failed) = post_json(&app, "/api/v1/retrievals", retrieval.clone()).await;
    assert!(status.is_server_error(), "{status}: {failed}");

    // What is left: one open reservation saying who asked for what, nothing else.
    let open = state.store.unfinished_issuances(10).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let reservation = &open[0];
    assert_eq!(reservation.profile, ProfileKind::UserSigning);
    assert_eq!(reservation.requester, Actor::User(email.into()));
    assert_eq!(reservation.account.map(|a| a.0), Some(account));
    assert_eq!(reservation.request.map(|r| r.0), Some(request));
    let serial = reservation.serial.clone();
    assert!(state.store.certificate(&serial).unwrap().is_none());
    assert!(state.store.certificates_by_email(email).unwrap().is_empty());
    let stored = state
        .store
        .request(topca_core::ra::RequestId(request))
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.state,
        RequestState::Approved,
        "the request did not move"
    );
    assert!(
        !state
            .store
            .audit_entries()
            .unwrap()
            .iter()
            .any(|e| e.record.target == serial),
        "no audit entry of a write that was rolled back"
    );

    // OCSP: revoked since 1970 for certificateHold (RFC 6960 §2.2); a serial
    // never reserved stays unknown.
    let (_, chain) = get(&app, "/TopCA/ca/chain.pem").await;
    std::fs::write(w.join("chain.pem"), &chain).unwrap();
    let (_, issuing) = get(&app, "/TopCA/ca/issuing.cer").await;
    std::fs::write(w.join("issuing.der"), &issuing).unwrap();
    let (ok, out) = openssl_outcome(
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
    assert!(ok, "{out}");
    let answer = ocsp_status(&app, w, &serial).await;
    assert!(
        answer.contains(": revoked")
            && answer.contains("Reason: certificateHold")
            && answer.contains("Revocation Time: Jan  1 00:00:00 1970 GMT")
            && answer.contains("Response verify OK"),
        "{answer}"
    );
    let answer = ocsp_status(&app, w, "7A6B5C4D3E2F").await;
    assert!(answer.contains(": unknown"), "{answer}");

    // The operator's list, from the command line.
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_topca-server"))
        .args(["issuance", "unfinished", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let listing = text(&listed.stdout);
    assert!(listed.status.success(), "{listing}{}", text(&listed.stderr));
    assert!(
        listing.contains("1 unfinished issuance")
            && listing.contains(&serial)
            && listing.contains("user signing")
            && listing.contains(&format!("user {email}"))
            && listing.contains(&format!("request {request}")),
        "{listing}"
    );

    // Once the database accepts writes again the holder retrieves: a new serial,
    // recorded, stored and audited; the abandoned one stays listed.
    raw.batch_execute("DROP TRIGGER injected_failure;").unwrap();
    let (status, retrieved) = post_json(&app, "/api/v1/retrievals", retrieval).await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    let issued = retrieved["certificate"]["serial"].as_str().unwrap();
    assert_ne!(issued, serial);
    assert_every_certificate_recorded(&state, 1);
    let answer = ocsp_status(&app, w, issued).await;
    assert!(answer.contains(": good"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_retrievals_of_one_request_issue_once() {
    let data = tempfile::tempdir().unwrap();
    let (state, account, app) = server(data.path());
    let email = "race@example.cn";
    let (request, pin) = apply(&app, &state, data.path(), account, email).await;
    let work = tempfile::tempdir().unwrap();
    let csr = ec_csr(work.path(), "race");
    let retrieval = serde_json::json!({"pin": pin, "password": PASSWORD, "csr": csr});
    let racers: Vec<_> = (0..50)
        .map(|i| {
            let (app, body) = (app.clone(), retrieval.clone());
            tokio::spawn(async move {
                let call = from_address(
                    json_request("/api/v1/retrievals", &body),
                    &format!("10.0.0.{}", i + 1),
                );
                let (status, body, _) = send(&app, call).await;
                (status, text(&body))
            })
        })
        .collect();
    let mut issued = 0;
    for racer in racers {
        let (status, body) = racer.await.unwrap();
        if status == StatusCode::OK {
            issued += 1;
        } else {
            // Refused: the request was issued meanwhile (or the write lost the
            // race), or the password hashing limit turned the caller away.
            let busy = status == StatusCode::SERVICE_UNAVAILABLE && body.contains("busy");
            assert!(status.is_client_error() || busy, "{status}: {body}");
        }
    }
    assert_eq!(issued, 1);
    let stored = state.store.certificates_by_email(email).unwrap();
    assert_eq!(stored.len(), 1, "one certificate for one request");
    let request_target = format!("request {request}");
    let audited = state
        .store
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.record.action == AuditAction::CertificateIssued && e.record.detail == request_target
        })
        .count();
    assert_eq!(audited, 1, "one issuance audited");
    // Racers that signed before losing the write left their reservations open:
    // signed, never delivered, answered as revoked; none was stored.
    let open = state.store.unfinished_issuances(100).unwrap();
    assert!(
        open.iter()
            .all(|r| r.request.map(|q| q.0) == Some(request) && r.serial != stored[0].serial),
        "{open:?}"
    );
    assert_every_certificate_recorded(&state, open.len());
}
