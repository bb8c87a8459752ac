//! Pre-signed OCSP over HTTP: a request without a nonce is answered with the same
//! bytes every time (GET with caching headers up to nextUpdate, POST too), the
//! background job signs ahead, a revocation changes the answer at once, a
//! request with a nonce is signed for it (nonce echoed), and bad or oversized
//! requests get `malformedRequest` or 413, and a revocation no node answered is
//! signed anew at the next tick. OpenSSL checks the answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, sync::Arc};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode, header},
};
use base64::Engine;
use common::{ec_csr, get, openssl, options, outbox_pin, post_json, send};
use topca_core::store::OcspStore;
use topca_server::{AppState, ocsp_cache, setup::start};

const PASSWORD: &str = "ocsp-holder-password-1";
/// `OCSPResponse { responseStatus malformedRequest }`.
const MALFORMED: [u8; 5] = [0x30, 0x03, 0x0A, 0x01, 0x01];

/// A server on `dir`, its router, and the CA files (`chain.pem`, `issuing.pem`)
/// written to `work`.
async fn server(dir: &Path, work: &Path) -> (Arc<AppState>, Router) {
    let (state, _) = start(&options(dir)).unwrap();
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let (_, chain) = get(&app, "/TopCA/ca/chain.pem").await;
    std::fs::write(work.join("chain.pem"), &chain).unwrap();
    let (_, issuing) = get(&app, "/TopCA/ca/issuing.cer").await;
    std::fs::write(work.join("issuing.der"), &issuing).unwrap();
    openssl(
        work,
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
    (state, app)
}

/// Applies for and retrieves a certificate on `app` (data directory `dir`),
/// written to `work/NAME.pem`; its serial.
async fn holder(app: &Router, state: &AppState, dir: &Path, work: &Path, name: &str) -> String {
    let account = state.demo_account.unwrap().0;
    let (status, applied) = post_json(
        app,
        &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "OCSP 用户", "email": format!("{name}@example.cn"),
            "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let csr = ec_csr(work, name);
    let (status, retrieved) = post_json(
        app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": outbox_pin(dir), "password": PASSWORD, "csr": csr}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    let pem = retrieved["certificate"]["pem"].as_str().unwrap();
    std::fs::write(work.join(format!("{name}.pem")), pem).unwrap();
    retrieved["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Revokes `serial` (keyCompromise) through the API on `app`.
async fn revoke(app: &Router, state: &AppState, serial: &str) {
    let account = state.demo_account.unwrap().0;
    let (status, revoked) = post_json(
        app,
        &format!("/api/v1/accounts/{account}/revocations"),
        serde_json::json!({"serial": serial, "password": PASSWORD, "reason": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
}

/// An OCSP request made by OpenSSL about `work/NAME.pem`, with a nonce or not,
/// also written to `work/FILE`.
fn request(work: &Path, name: &str, nonce: bool, file: &str) -> Vec<u8> {
    let cert = format!("{name}.pem");
    let mut args = vec![
        "ocsp",
        "-issuer",
        "issuing.pem",
        "-cert",
        cert.as_str(),
        "-reqout",
        file,
    ];
    if !nonce {
        args.push("-no_nonce");
    }
    openssl(work, &args);
    std::fs::read(work.join(file)).unwrap()
}

/// The GET URI of `request` (RFC 6960 A.1: base64, URL-encoded).
fn get_uri(request: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(request);
    let encoded = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("/TopCA/ocsp/{encoded}")
}

async fn ocsp_get(app: &Router, request: &[u8]) -> (StatusCode, Vec<u8>, HeaderMap) {
    send(
        app,
        Request::get(get_uri(request)).body(Body::empty()).unwrap(),
    )
    .await
}

async fn ocsp_post(app: &Router, body: Vec<u8>) -> (StatusCode, Vec<u8>, HeaderMap) {
    send(
        app,
        Request::post("/TopCA/ocsp")
            .header(header::CONTENT_TYPE, "application/ocsp-request")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

/// What `openssl ocsp -respin` says of `response` about `work/NAME.pem`,
/// verifying its signature against the chain (and the nonce of `request_file`
/// when given).
fn check(work: &Path, name: &str, response: &[u8], request_file: Option<&str>) -> String {
    std::fs::write(work.join("response.der"), response).unwrap();
    let cert = format!("{name}.pem");
    let mut args = vec![
        "ocsp",
        "-respin",
        "response.der",
        "-CAfile",
        "chain.pem",
        "-resp_text",
    ];
    // With a request to check the nonce against, `-cert` would make another.
    match request_file {
        Some(file) => args.extend(["-reqin", file]),
        None => args.extend(["-issuer", "issuing.pem", "-cert", cert.as_str()]),
    }
    openssl(work, &args)
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(&name)
        .unwrap_or_else(|| panic!("{name} missing: {headers:?}"))
        .to_str()
        .unwrap()
}

/// `Sun, 06 Dec 2026 18:40:00 GMT` (HTTP) and `Dec  6 18:40:00 2026 GMT`
/// (OpenSSL) name the same second.
fn same_time(http: &str, openssl: &str) -> bool {
    let h: Vec<&str> = http.split_whitespace().collect();
    let o: Vec<&str> = openssl.split_whitespace().collect();
    h.len() == 6
        && o.len() == 5
        && h[2] == o[0]
        && h[1].parse::<u32>().ok() == o[1].parse::<u32>().ok()
        && h[4] == o[2]
        && h[3] == o[3]
}

fn metric(state: &AppState, line_start: &str) -> u64 {
    topca_server::metrics::exposition(state)
        .lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_nonce_gets_the_same_signed_bytes_with_caching_headers() {
    let (data, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (dir, w) = (data.path(), work.path());
    let (state, app) = server(dir, w).await;
    holder(&app, &state, dir, w, "alice").await;
    let req = request(w, "alice", false, "alice.req");

    let (status, first, headers) = ocsp_get(&app, &req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, header::CONTENT_TYPE),
        "application/ocsp-response"
    );
    let out = check(w, "alice", &first, None);
    assert!(out.contains("alice.pem: good"), "{out}");
    assert!(out.contains("Response verify OK"), "{out}");

    // Served again: byte for byte, by GET and by POST, without signing.
    let signed_before = metric(&state, "topca_ocsp_answers_total{source=\"signed\"}");
    let (_, second, again) = ocsp_get(&app, &req).await;
    assert_eq!(second, first);
    let (status, posted, post_headers) = ocsp_post(&app, req.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(posted, first);
    assert_eq!(
        header(&post_headers, header::CONTENT_TYPE),
        "application/ocsp-response"
    );
    assert_eq!(
        metric(&state, "topca_ocsp_answers_total{source=\"signed\"}"),
        signed_before
    );
    assert!(metric(&state, "topca_ocsp_answers_total{source=\"presigned\"}") >= 2);
    assert!(metric(&state, "topca_ocsp_responses_total{outcome=\"ok\"}") >= 3);

    // Caching headers, consistent with the response's own times.
    let cache_control = header(&again, header::CACHE_CONTROL);
    let max_age: u64 = cache_control
        .strip_prefix("max-age=")
        .and_then(|rest| rest.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&max_age), "{cache_control}");
    assert!(
        cache_control.ends_with(", public, no-transform, must-revalidate"),
        "{cache_control}"
    );
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    let expires = header(&again, header::EXPIRES);
    assert!(
        same_time(expires, &field("Next Update:")),
        "{expires}\n{out}"
    );
    let modified = header(&again, header::LAST_MODIFIED);
    assert!(
        same_time(modified, &field("This Update:")),
        "{modified}\n{out}"
    );
    let etag = header(&again, header::ETAG).to_owned();
    assert_eq!(header(&headers, header::ETAG), etag);
    // A cache revalidating gets 304.
    let (status, body, _) = send(
        &app,
        Request::get(get_uri(&req))
            .header(header::IF_NONE_MATCH, &etag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_changes_the_answer_at_once_on_the_node_that_revoked() {
    let (data, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (dir, w) = (data.path(), work.path());
    let (state, app) = server(dir, w).await;
    let serial = holder(&app, &state, dir, w, "bob").await;
    let req = request(w, "bob", false, "bob.req");
    let (_, good, good_headers) = ocsp_get(&app, &req).await;
    assert!(check(w, "bob", &good, None).contains("bob.pem: good"));

    revoke(&app, &state, &serial).await;
    let (status, revoked, headers) = ocsp_get(&app, &req).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(revoked, good);
    assert_ne!(
        header(&headers, header::ETAG),
        header(&good_headers, header::ETAG)
    );
    let out = check(w, "bob", &revoked, None);
    assert!(out.contains("bob.pem: revoked"), "{out}");
    assert!(out.contains("keyCompromise"), "{out}");
    assert!(out.contains("Response verify OK"), "{out}");
    // Stored for the other nodes, revoked.
    let stored = state.store.ocsp_response(&serial).unwrap().unwrap();
    assert!(stored.revoked);
    assert_eq!(stored.der, revoked);
    // The background job does not undo it.
    let ticked = Arc::clone(&state);
    tokio::task::spawn_blocking(move || ocsp_cache::tick(&ticked).unwrap())
        .await
        .unwrap();
    let (_, again, _) = ocsp_get(&app, &req).await;
    assert_eq!(again, revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_job_signs_every_unexpired_certificate_ahead() {
    let (data, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (dir, w) = (data.path(), work.path());
    let (state, app) = server(dir, w).await;
    let serials = [
        holder(&app, &state, dir, w, "carol").await,
        holder(&app, &state, dir, w, "dave").await,
    ];
    let ticked = Arc::clone(&state);
    let signed = tokio::task::spawn_blocking(move || ocsp_cache::tick(&ticked).unwrap())
        .await
        .unwrap();
    // The two holders' and the responder's own certificate at least.
    assert!(signed >= 2, "{signed}");
    for serial in &serials {
        assert!(state.store.ocsp_response(serial).unwrap().is_some());
    }
    // Nothing is due at the next round.
    let ticked = Arc::clone(&state);
    let again = tokio::task::spawn_blocking(move || ocsp_cache::tick(&ticked).unwrap())
        .await
        .unwrap();
    assert_eq!(again, 0);
    // A certificate issued since is found by the next tick, which looks only
    // at the certificates issued since the last one (by notBefore).
    let erin = holder(&app, &state, dir, w, "erin").await;
    let ticked = Arc::clone(&state);
    let third = tokio::task::spawn_blocking(move || ocsp_cache::tick(&ticked).unwrap())
        .await
        .unwrap();
    assert_eq!(third, 1);
    assert!(state.store.ocsp_response(&erin).unwrap().is_some());
    // Asked, it is served without signing.
    let signed_before = metric(&state, "topca_ocsp_answers_total{source=\"signed\"}");
    let req = request(w, "carol", false, "carol.req");
    let (_, body, headers) = ocsp_get(&app, &req).await;
    assert!(headers.contains_key(header::CACHE_CONTROL));
    assert!(check(w, "carol", &body, None).contains("carol.pem: good"));
    assert_eq!(
        metric(&state, "topca_ocsp_answers_total{source=\"signed\"}"),
        signed_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_nonce_is_signed_for_it_and_the_nonce_echoed() {
    let (data, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (dir, w) = (data.path(), work.path());
    let (state, app) = server(dir, w).await;
    holder(&app, &state, dir, w, "erin").await;
    let plain = request(w, "erin", false, "plain.req");
    let (_, presigned, _) = ocsp_get(&app, &plain).await;

    let with_nonce = request(w, "erin", true, "nonce.req");
    let (status, first, headers) = ocsp_post(&app, with_nonce.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(first, presigned);
    let out = check(w, "erin", &first, Some("nonce.req"));
    assert!(out.contains("Cert Status: good"), "{out}");
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(!out.contains("WARNING: no nonce"), "{out}");
    assert!(out.contains("OCSP Nonce"), "{out}");
    // By GET too, and never with caching headers.
    let (_, by_get, get_headers) = ocsp_get(&app, &with_nonce).await;
    assert!(!check(w, "erin", &by_get, Some("nonce.req")).contains("WARNING: no nonce"));
    assert!(!headers.contains_key(header::CACHE_CONTROL));
    assert!(!get_headers.contains_key(header::CACHE_CONTROL));
    // Another nonce, another answer.
    let other = request(w, "erin", true, "other.req");
    let (_, second, _) = ocsp_post(&app, other).await;
    assert_ne!(second, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_unknown_and_oversized_requests() {
    let (data, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (dir, w) = (data.path(), work.path());
    let (state, app) = server(dir, w).await;

    for body in [b"not DER".to_vec(), vec![], vec![0x30, 0x80, 0x00]] {
        let (status, answer, _) = ocsp_post(&app, body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, MALFORMED);
    }
    for path in ["/TopCA/ocsp/%21%21%21", "/TopCA/ocsp/MAMCAQE%3D"] {
        let (status, answer) = get(&app, path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, MALFORMED, "{path}");
    }
    let (status, _, _) = ocsp_post(&app, vec![0x30; 1024 * 1024]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // A serial this CA never issued: "unknown", signed, not kept.
    openssl(
        w,
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-serial",
            "0x0123456789",
            "-no_nonce",
            "-reqout",
            "stranger.req",
        ],
    );
    let stranger = std::fs::read(w.join("stranger.req")).unwrap();
    let (status, answer, headers) = ocsp_get(&app, &stranger).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!headers.contains_key(header::CACHE_CONTROL));
    std::fs::write(w.join("stranger.der"), &answer).unwrap();
    let out = openssl(
        w,
        &[
            "ocsp",
            "-respin",
            "stranger.der",
            "-issuer",
            "issuing.pem",
            "-serial",
            "0x0123456789",
            "-CAfile",
            "chain.pem",
        ],
    );
    assert!(out.contains(": unknown"), "{out}");
    assert!(state.store.ocsp_response("0123456789").unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_no_node_answered_is_signed_anew_by_the_next_tick() {
    use topca_core::{
        audit::{Actor, AuditAction, AuditRecord, Outcome},
        lifecycle::RevocationReason,
        store::{CertificateStore, Revocation},
    };
    let (data, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (dir, w) = (data.path(), work.path());
    let (state, app) = server(dir, w).await;
    let serial = holder(&app, &state, dir, w, "frank").await;
    let req = request(w, "frank", false, "frank.req");
    let (_, good, _) = ocsp_get(&app, &req).await;
    // Revoked in the database by a node that stopped before answering it.
    let now = std::time::SystemTime::now();
    state
        .store
        .revoke_certificate(
            &Revocation {
                serial: serial.clone(),
                at: now,
                reason: RevocationReason::KeyCompromise,
            },
            AuditRecord {
                at: now,
                actor: Actor::System,
                action: AuditAction::CertificateRevoked,
                target: serial.clone(),
                outcome: Outcome::Success,
                detail: "revoked by a node that stopped".into(),
            },
        )
        .unwrap();
    let (_, still, _) = ocsp_get(&app, &req).await;
    assert_eq!(still, good, "served from memory until the next tick");
    let ticked = Arc::clone(&state);
    tokio::task::spawn_blocking(move || ocsp_cache::tick(&ticked).unwrap())
        .await
        .unwrap();
    let (_, revoked, _) = ocsp_get(&app, &req).await;
    let out = check(w, "frank", &revoked, None);
    assert!(out.contains("frank.pem: revoked"), "{out}");
    assert!(state.store.ocsp_response(&serial).unwrap().unwrap().revoked);
}
