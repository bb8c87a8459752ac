//! Batch machine issuance over HTTP (`POST /api/v1/certificates/batch`): one
//! call issues, stores and audits up to 1,000 certificates that OpenSSL
//! verifies against the returned chain; each bad request (not a CSR, a forged
//! signature, a name the policy forbids, a profile the client may not use)
//! fails alone, in its place; empty, oversized and malformed batches and
//! missing, wrong and revoked tokens are refused whole; concurrent batches get
//! distinct serials.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::path::Path;

use axum::{Router, http::StatusCode};
use base64::Engine;
use common::{
    assert_every_certificate_recorded,
    machine::{machine_server, p256_csr, post_bearer},
    openssl, options,
};
use topca_core::{
    audit::{Actor, AuditAction},
    ra::AccountId,
    store::{AuditStore, CertificateStore},
};
use topca_server::machine_clients::{self};

const URI: &str = "/api/v1/certificates/batch";

/// A P-256 CSR for `cn`, made by OpenSSL in `dir`.
fn csr(dir: &Path, file: &str, cn: &str) -> String {
    p256_csr(dir, file, cn, "")
}

/// `csr` (for `www.example.com`) with its name changed after it was signed.
fn forged(csr: &str) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let body: String = csr.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = engine.decode(body).unwrap();
    let at = der
        .windows(15)
        .position(|w| w == b"www.example.com")
        .unwrap();
    der[at + 2] = b'x';
    let text = engine.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        lines.join("\n")
    )
}

async fn post(app: &Router, token: Option<&str>, body: String) -> (StatusCode, serde_json::Value) {
    post_bearer(app, URI, token, body).await
}

/// A batch of `(csr, profile)`.
fn batch(items: &[(&str, Option<&str>)]) -> String {
    let requests: Vec<_> = items
        .iter()
        .map(|(csr, profile)| serde_json::json!({ "csr": csr, "profile": profile }))
        .collect();
    serde_json::json!({ "requests": requests }).to_string()
}

/// `n` copies of `csr` with the default profile.
fn copies(csr: &str, n: usize) -> String {
    batch(&vec![(csr, None); n])
}

#[tokio::test]
async fn a_batch_issues_each_good_request_and_reports_each_bad_one_in_its_place() {
    let s = machine_server(&["example.com"]);
    let token = s.client("fleet", s.accounts[0]);
    let dir = s.work.path();
    let good = csr(dir, "good", "www.example.com");
    let other = csr(dir, "other", "api.example.com");
    let outside = csr(dir, "outside", "www.example.net");
    let forged = forged(&good);
    // 230 requests: more than one chunk; the bad ones spread over both.
    let mut items: Vec<(&str, Option<&str>)> = Vec::new();
    for i in 0..230 {
        items.push(match i {
            3 => ("not a csr", None),
            5 => (&outside, None),
            7 => (&forged, None),
            9 => (&good, Some("sub-ca")),
            11 => (&good, Some("tls-client")),
            210 => (&outside, Some("tls-server")),
            _ if i % 2 == 0 => (&good, None),
            _ => (&other, Some("tls-server")),
        });
    }
    let (status, answer) = post(&s.app, Some(&token), batch(&items)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 230);
    let refused = [
        (3, "csr_invalid", 400),
        (5, "name_not_allowed", 400),
        (7, "csr_signature_invalid", 400),
        (9, "field_invalid", 400),
        (11, "profile_not_allowed", 403),
        (210, "name_not_allowed", 400),
    ];
    let mut serials = Vec::new();
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["index"], i, "{result}");
        match refused.iter().find(|(index, _, _)| *index == i) {
            Some((_, code, status)) => {
                assert!(result["certificate"].is_null(), "{result}");
                let error = &result["error"];
                assert_eq!(error["code"], *code, "{i}: {result}");
                assert_eq!(error["status"], *status, "{i}: {result}");
                assert!(!error["message"].as_str().unwrap().is_empty());
            }
            None => {
                assert!(result["error"].is_null(), "{i}: {result}");
                serials.push(result["serial"].as_str().unwrap().to_owned());
            }
        }
    }
    let issued = serials.len();
    assert_eq!(issued, 230 - refused.len());
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), issued);
    // Every certificate verifies against the chain; OpenSSL checks a sample.
    std::fs::write(dir.join("chain.pem"), answer["chain"].as_str().unwrap()).unwrap();
    for i in [0, 1, 199, 200, 229] {
        let leaf = format!("leaf{i}.pem");
        std::fs::write(dir.join(&leaf), results[i]["certificate"].as_str().unwrap()).unwrap();
        let verified = openssl(
            dir,
            &[
                "verify",
                "-CAfile",
                "chain.pem",
                "-purpose",
                "sslserver",
                &leaf,
            ],
        );
        assert!(verified.contains(&format!("{leaf}: OK")), "{verified}");
    }
    // The issuing CA comes first in the chain.
    let end = "-----END CERTIFICATE-----";
    let chain = answer["chain"].as_str().unwrap();
    let first = &chain[..chain.find(end).unwrap() + end.len()];
    let chain = topca_core::Certificate::from_pem(first).unwrap();
    let issuer = chain.public_key().unwrap();
    for result in results.iter().filter(|r| r["error"].is_null()) {
        let pem = result["certificate"].as_str().unwrap();
        let certificate = topca_core::Certificate::from_pem(pem).unwrap();
        certificate.verify_signed_by(&issuer).unwrap();
    }
    // Stored under the account, recorded before signing, audited by the client.
    let record = s.state.store.certificate(&serials[0]).unwrap().unwrap();
    assert_eq!(record.account, Some(AccountId(s.accounts[0])));
    let entries = s.state.store.audit_entries().unwrap();
    let audited = entries
        .iter()
        .filter(|e| {
            e.record.action == AuditAction::CertificateIssued
                && e.record.actor == Actor::Client("fleet".into())
        })
        .count();
    assert_eq!(audited, issued);
    assert_eq!(
        assert_every_certificate_recorded(&s.state, 0),
        s.before + issued
    );
}

#[tokio::test]
async fn empty_oversized_and_malformed_batches_are_refused_whole() {
    let s = machine_server(&["example.com"]);
    let token = s.client("fleet", s.accounts[0]);
    let good = csr(s.work.path(), "good", "www.example.com");
    let (status, answer) = post(&s.app, Some(&token), batch(&[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("no requests"),
        "{answer}"
    );
    let (status, answer) = post(&s.app, Some(&token), copies(&good, 1001)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("at most 1000"),
        "{answer}"
    );
    // Bodies over the limit are not read.
    let huge = batch(&[(&"A".repeat(9 * 1024 * 1024), None)]);
    let (status, _) = post(&s.app, Some(&token), huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    for malformed in [
        "{".to_owned(),
        "[]".to_owned(),
        r#"{"requests": {"csr": "x"}}"#.to_owned(),
        r#"{"requests": [{"csr": "x", "admin": true}]}"#.to_owned(),
        r#"{"requests": [], "admin": true}"#.to_owned(),
        r#"{"requests": [{"profile": "tls-server"}]}"#.to_owned(),
    ] {
        let (status, answer) = post(&s.app, Some(&token), malformed.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{malformed}: {answer}");
        assert_eq!(answer["code"], "bad_request", "{malformed}: {answer}");
    }
    // Nothing was issued or reserved.
    assert_eq!(assert_every_certificate_recorded(&s.state, 0), s.before);
}

#[tokio::test]
async fn missing_wrong_and_revoked_tokens_get_one_answer_before_the_body_is_read() {
    let s = machine_server(&["example.com"]);
    let token = s.client("retired", s.accounts[0]);
    let good = csr(s.work.path(), "good", "www.example.com");
    let mut wrong = token.clone();
    wrong.replace_range(10..11, if &token[10..11] == "A" { "B" } else { "A" });
    let guessed = format!("topca_{}", "A".repeat(43));
    let mut answers = Vec::new();
    for token in [None, Some(wrong.as_str()), Some(guessed.as_str()), Some("")] {
        for body in [copies(&good, 2), "{".to_owned()] {
            let (status, answer) = post(&s.app, token, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
            answers.push(answer["code"].clone());
        }
    }
    machine_clients::revoke(&options(s.data.path()), "retired").unwrap();
    let (status, answer) = post(&s.app, Some(&token), copies(&good, 2)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    answers.push(answer["code"].clone());
    answers.dedup();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(assert_every_certificate_recorded(&s.state, 0), s.before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_batches_get_distinct_stored_serials() {
    let s = machine_server(&["example.com"]);
    let token = s.client("burst", s.accounts[0]);
    let good = csr(s.work.path(), "burst", "burst.example.com");
    let calls = (0..8).map(|_| {
        let (app, token, body) = (s.app.clone(), token.clone(), copies(&good, 60));
        tokio::spawn(async move { post(&app, Some(&token), body).await })
    });
    let mut serials = Vec::new();
    for call in calls {
        let (status, answer) = call.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{answer}");
        for result in answer["results"].as_array().unwrap() {
            serials.push(result["serial"].as_str().unwrap().to_owned());
        }
    }
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 8 * 60);
    assert_eq!(
        assert_every_certificate_recorded(&s.state, 0),
        s.before + 8 * 60
    );
}

#[tokio::test]
async fn a_full_batch_of_a_thousand_is_issued() {
    let s = machine_server(&["example.com"]);
    let token = s.client("bulk", s.accounts[0]);
    let good = csr(s.work.path(), "bulk", "bulk.example.com");
    let (status, answer) = post(&s.app, Some(&token), copies(&good, 1000)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["serial"].is_string()));
    assert_eq!(
        assert_every_certificate_recorded(&s.state, 0),
        s.before + 1000
    );
}

#[tokio::test]
async fn the_batch_route_is_described() {
    let s = machine_server(&["example.com"]);
    let (status, body) = common::get(&s.app, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let description: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let post = &description["paths"][URI]["post"];
    for status in ["200", "400", "401", "413"] {
        assert!(post["responses"][status].is_object(), "{status}: {post}");
    }
    assert_eq!(post["security"][0]["client_token"], serde_json::json!([]));
    let schemas = &description["components"]["schemas"];
    for schema in ["BatchBody", "BatchIssued", "BatchResult", "ItemError"] {
        assert!(schemas[schema].is_object(), "{schema}");
    }
}

#[tokio::test]
async fn a_chunk_the_database_refuses_reports_each_of_its_requests_and_stores_nothing() {
    use diesel::{Connection, SqliteConnection, connection::SimpleConnection};
    use topca_core::store::IssuanceStore;
    let s = machine_server(&["example.com"]);
    let token = s.client("fleet", s.accounts[0]);
    let good = csr(s.work.path(), "good", "www.example.com");
    let items = [
        (good.as_str(), None),
        ("not a csr", None),
        (good.as_str(), None),
    ];
    let database = s.data.path().join("topca.db");
    let mut raw = SqliteConnection::establish(database.to_str().unwrap()).unwrap();
    raw.batch_execute(
        "CREATE TRIGGER injected_failure BEFORE INSERT ON certificates \
         BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END;",
    )
    .unwrap();
    let (status, answer) = post(&s.app, Some(&token), batch(&items)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[1]["error"]["code"], "csr_invalid", "{answer}");
    for i in [0, 2] {
        assert_eq!(
            results[i]["error"]["code"], "database_unavailable",
            "{answer}"
        );
        assert_eq!(results[i]["error"]["status"], 503, "{answer}");
        // The database's own words stay in the log.
        let message = results[i]["error"]["message"].as_str().unwrap();
        assert!(!message.contains("injected"), "{message}");
    }
    // Signed but not stored: two open reservations by the client, nothing else.
    let open = s.state.store.unfinished_issuances(10).unwrap();
    assert_eq!(open.len(), 2);
    assert!(
        open.iter()
            .all(|r| r.requester == Actor::Client("fleet".into()))
    );
    assert_eq!(assert_every_certificate_recorded(&s.state, 2), s.before);
    raw.batch_execute("DROP TRIGGER injected_failure;").unwrap();
    let (status, answer) = post(&s.app, Some(&token), batch(&items)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["results"][0]["serial"].is_string(), "{answer}");
    assert!(answer["results"][2]["serial"].is_string(), "{answer}");
    assert_eq!(assert_every_certificate_recorded(&s.state, 2), s.before + 2);
}
