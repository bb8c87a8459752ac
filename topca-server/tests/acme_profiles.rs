//! ACME certificate profiles (draft-ietf-acme-profiles) and short-lived
//! certificates (RFC 9608) over the server's router: the directory lists the
//! profiles of its machine client, a newOrder selects one and the order echoes
//! it, finalize issues under it; a short-lived certificate lasts at most 7
//! days, has no CRL or OCSP pointer, carries noRevAvail and still verifies with
//! OpenSSL. A profile the directory does not offer is `invalidProfile` and
//! stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod acme_client;
mod common;

use acme_client::{Acme, BASE, Client, b64, csr};
use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use common::{openssl_outcome, send};
use serde_json::{Value, json};
use topca_core::{
    Certificate, KeyAlgorithm, ProfileKind,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    client::NewClient,
    store::ClientStore,
};

/// Adds the ACME directory `acme-short` (`/acme/short/directory`) for the demo
/// server account, offering `profiles`, for localhost (as the demo's `acme`:
/// the registry refuses a bare top-level name, so the store is written).
fn add_directory(acme: &Acme, profiles: Vec<ProfileKind>) {
    let now = std::time::SystemTime::now();
    acme.state
        .store
        .create_client(
            NewClient {
                name: "acme-short".into(),
                account: acme.state.demo.accounts[1],
                profiles,
                allowed_names: vec!["localhost".into()],
                validity_days: 90,
                token_hash: [7; 32],
                created: now,
            },
            AuditRecord {
                at: now,
                actor: Actor::System,
                action: AuditAction::ClientAdded,
                target: "client acme-short".into(),
                outcome: Outcome::Success,
                detail: String::new(),
            },
        )
        .unwrap();
}

async fn register_at(acme: &Acme, client: &mut Client, profile: &str) {
    let (status, headers, body) = acme
        .post(
            client,
            &format!("/acme/{profile}/new-account"),
            Some(&json!({"termsOfServiceAgreed": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    client.kid = Some(headers["location"].to_str().unwrap().to_owned());
}

/// Finalizes a ready `order` with a CSR for localhost: the order and the
/// certificate chain (PEM).
async fn finalize(acme: &Acme, client: &Client, order: &Value, file: &str) -> (Value, String) {
    let der = csr(acme.dir.path(), file, "/CN=localhost", &["localhost"]);
    let (status, _, order) = acme
        .post(
            client,
            order["finalize"].as_str().unwrap(),
            Some(&json!({"csr": b64(&der)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let url = order["certificate"].as_str().unwrap().to_owned();
    let header = client.header(&url, &acme.nonce().await);
    let (status, _, chain) = acme
        .raw(url.trim_start_matches(BASE), client.jws_with(header, None))
        .await;
    assert_eq!(status, StatusCode::OK);
    (order, String::from_utf8(chain).unwrap())
}

/// (critical, DER value) of extension `oid` of `certificate`.
fn extension(certificate: &Certificate, oid: &str) -> Option<(bool, Vec<u8>)> {
    certificate
        .x509()
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id.to_string() == oid)
        .map(|e| (e.critical, e.extn_value.as_bytes().to_vec()))
}

/// Whether OpenSSL verifies the leaf of `chain` up to its root.
fn openssl_verifies(acme: &Acme, chain: &str, file: &str) -> (bool, String) {
    let parts = Certificate::from_pem_chain(chain).unwrap();
    assert_eq!(parts.len(), 3);
    let dir = acme.dir.path();
    std::fs::write(dir.join(format!("{file}.pem")), parts[0].to_pem()).unwrap();
    std::fs::write(dir.join(format!("{file}-ca.pem")), parts[1].to_pem()).unwrap();
    std::fs::write(dir.join(format!("{file}-root.pem")), parts[2].to_pem()).unwrap();
    openssl_outcome(
        dir,
        &[
            "verify",
            "-CAfile",
            &format!("{file}-root.pem"),
            "-untrusted",
            &format!("{file}-ca.pem"),
            "-purpose",
            "sslserver",
            &format!("{file}.pem"),
        ],
    )
}

const NO_REV_AVAIL: &str = "2.5.29.56";
const CRL_DISTRIBUTION_POINTS: &str = "2.5.29.31";
const AUTHORITY_INFO_ACCESS: &str = "1.3.6.1.5.5.7.1.1";
/// id-ad-ocsp, DER-encoded as it appears inside an AccessDescription.
const AD_OCSP_DER: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];

#[tokio::test]
async fn an_order_selects_a_listed_profile_and_a_short_lived_certificate_has_no_revocation_pointers()
 {
    let acme = Acme::start().await;
    add_directory(
        &acme,
        vec![ProfileKind::TlsServer, ProfileKind::ShortLivedTlsServer],
    );

    // The default directory offers its client's one profile; the new one both.
    let directory = |path: &'static str| {
        let app = acme.app.clone();
        async move {
            let (status, body, _) =
                send(&app, Request::get(path).body(Body::empty()).unwrap()).await;
            assert_eq!(status, StatusCode::OK);
            serde_json::from_slice::<Value>(&body).unwrap()
        }
    };
    let default = directory("/acme/directory").await;
    let listed: Vec<&String> = default["meta"]["profiles"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(listed, ["tls-server"], "{default}");
    let short = directory("/acme/short/directory").await;
    let profiles = short["meta"]["profiles"].as_object().unwrap();
    assert_eq!(profiles.len(), 2, "{short}");
    assert!(profiles["tls-server"].as_str().unwrap().contains("90 days"));
    let description = profiles["short-lived"].as_str().unwrap();
    assert!(
        description.contains("7 days") && description.contains("RFC 9608"),
        "{description}"
    );

    let mut client = Client::new(KeyAlgorithm::EcdsaP256);
    register_at(&acme, &mut client, "short").await;
    let identifiers = json!([{"type": "dns", "value": "localhost"}]);

    // Short-lived: echoed by the order, issued for at most 7 days, with
    // noRevAvail and without CRL or OCSP pointers; OpenSSL still verifies it.
    let order = acme
        .ready_order_with(
            &client,
            &json!({"identifiers": identifiers, "profile": "short-lived"}),
        )
        .await;
    assert_eq!(order["profile"], "short-lived", "{order}");
    let (valid, chain) = finalize(&acme, &client, &order, "short").await;
    assert_eq!(valid["profile"], "short-lived");
    let certificate = Certificate::from_pem_chain(&chain).unwrap().remove(0);
    let life = certificate
        .not_after()
        .duration_since(certificate.not_before())
        .unwrap();
    assert!(life.as_secs() <= 7 * 86_400 + 60, "{life:?}");
    assert!(life.as_secs() >= 6 * 86_400, "{life:?}");
    assert_eq!(
        extension(&certificate, NO_REV_AVAIL),
        Some((false, vec![0x05, 0x00])),
        "noRevAvail: NULL, not critical"
    );
    assert_eq!(extension(&certificate, CRL_DISTRIBUTION_POINTS), None);
    assert_eq!(
        extension(&certificate, "2.5.29.46"),
        None,
        "no freshest CRL"
    );
    if let Some((_, aia)) = extension(&certificate, AUTHORITY_INFO_ACCESS) {
        assert!(
            !aia.windows(AD_OCSP_DER.len()).any(|w| w == AD_OCSP_DER),
            "no OCSP pointer"
        );
    }
    let (ok, out) = openssl_verifies(&acme, &chain, "short");
    assert!(ok, "{out}");
    let text = common::openssl(
        acme.dir.path(),
        &["x509", "-in", "short.pem", "-noout", "-text"],
    );
    assert!(!text.contains("OCSP - URI"), "{text}");
    assert!(!text.contains("CRL Distribution"), "{text}");

    // Revocation still works for it: the pre-signer and the next CRL take it.
    let short_serial = certificate.serial_hex();
    let revoke = json!({"certificate": b64(certificate.der()), "reason": 4});
    let (status, _, body) = acme.post(&client, "/acme/revoke-cert", Some(&revoke)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let state = std::sync::Arc::clone(&acme.state);
    // (The revocation may have published the CRL already; then the tick has
    // nothing to do.)
    tokio::task::spawn_blocking(move || {
        topca_server::ocsp_cache::tick(&state).unwrap();
        topca_server::crl_sync::tick(&state).unwrap()
    })
    .await
    .unwrap();
    let (status, crl, _) = send(
        &acme.app,
        Request::get("/TopCA/crl/current.crl")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    std::fs::write(acme.dir.path().join("current.crl"), crl).unwrap();
    let listed = common::openssl(
        acme.dir.path(),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "current.crl",
            "-noout",
            "-text",
        ],
    );
    assert!(listed.contains(&short_serial), "{listed}");

    // No profile: the client's first, with its CRL and OCSP pointers.
    let order = acme.ready_order(&client, &["localhost"]).await;
    assert_eq!(order["profile"], "tls-server", "{order}");
    let (_, chain) = finalize(&acme, &client, &order, "long").await;
    let certificate = Certificate::from_pem_chain(&chain).unwrap().remove(0);
    assert_eq!(extension(&certificate, NO_REV_AVAIL), None);
    assert!(extension(&certificate, CRL_DISTRIBUTION_POINTS).is_some());
    let (_, aia) = extension(&certificate, AUTHORITY_INFO_ACCESS).unwrap();
    assert!(aia.windows(AD_OCSP_DER.len()).any(|w| w == AD_OCSP_DER));
    let life = certificate
        .not_after()
        .duration_since(certificate.not_before())
        .unwrap();
    assert!(life.as_secs() > 80 * 86_400, "{life:?}");
    let (ok, out) = openssl_verifies(&acme, &chain, "long");
    assert!(ok, "{out}");
}

#[tokio::test]
async fn a_profile_the_directory_does_not_offer_is_invalid_profile_and_stores_nothing() {
    acme_client::clear_of_the_limit_window_turn().await;
    let acme = Acme::start().await;
    add_directory(&acme, vec![ProfileKind::ShortLivedTlsServer]);
    let mut default = Client::new(KeyAlgorithm::Ed25519);
    acme.register(&mut default).await;
    let mut short = Client::new(KeyAlgorithm::EcdsaP256);
    register_at(&acme, &mut short, "short").await;
    let identifiers = json!([{"type": "dns", "value": "localhost"}]);
    let long_name = "x".repeat(10_000);
    for (client, profile, error) in [
        // Another directory's profile, a profile of no machine client, a
        // profile this directory's client does not have, made-up names.
        (&default, json!("short-lived"), "invalidProfile"),
        (&default, json!("tls-client"), "invalidProfile"),
        (&short, json!("tls-server"), "invalidProfile"),
        (&short, json!("gold"), "invalidProfile"),
        (&short, json!(""), "invalidProfile"),
        (&short, json!(long_name), "invalidProfile"),
        (&short, json!(7), "malformed"),
        (&short, json!(["short-lived"]), "malformed"),
    ] {
        let (status, _, problem) = acme
            .post(
                client,
                "/acme/new-order",
                Some(&json!({"identifiers": identifiers, "profile": profile})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{profile}: {problem}");
        assert_eq!(
            problem["type"],
            format!("urn:ietf:params:acme:error:{error}"),
            "{problem}"
        );
        assert!(problem["detail"].as_str().unwrap().len() < 300, "{problem}");
    }
    assert_eq!(acme.count("acme_orders"), 0);
    assert_eq!(acme.count("acme_authorizations"), 0);
    assert_eq!(acme.count("acme_order_counts"), 0, "nothing counted");

    // The directory's only profile is what an order without one gets.
    let (status, _, order) = acme
        .post(
            &short,
            "/acme/new-order",
            Some(&json!({"identifiers": identifiers})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["profile"], "short-lived");

    // 60 orders at once selecting it: each its own order echoing it, until the
    // name's 50 an hour are taken (one already); the rest are refused.
    let mut tasks = Vec::new();
    let shared = std::sync::Arc::new(acme);
    let short = std::sync::Arc::new(short);
    for _ in 0..60 {
        let acme = std::sync::Arc::clone(&shared);
        let short = std::sync::Arc::clone(&short);
        let identifiers = identifiers.clone();
        tasks.push(tokio::spawn(async move {
            acme.post(
                &short,
                "/acme/new-order",
                Some(&json!({"identifiers": identifiers, "profile": "short-lived"})),
            )
            .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let (status, _, order) = task.await.unwrap();
        if status == StatusCode::CREATED {
            assert_eq!(order["profile"], "short-lived");
            created += 1;
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{order}");
        }
    }
    assert_eq!(created, 49);
    assert_eq!(shared.count("acme_orders"), 50);
}
