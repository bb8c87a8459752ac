//! Revocation status over HTTP: OpenSSL's OCSP client sees certificates good,
//! then revoked, for RSA, ECDSA and SM2 CAs and an RSA CA with a P-256
//! responder, with the CRLs following; the responder follows the configured
//! algorithm across restarts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, sync::Arc};

use axum::http::StatusCode;
use common::{ec_csr, get, openssl_outcome, options_on_free_port, outbox_pin, post_json};
use topca_core::{KeyAlgorithm, KeyKind};
use topca_server::{AppState, setup::start};

/// The kind of key the server's OCSP responder signs with.
fn responder_kind(state: &AppState) -> KeyKind {
    state.ocsp.read().unwrap().key().public_key().kind()
}

/// A changed `ocsp_algorithm` replaces the stored responder at the next start,
/// and the responder's key is the CA's again once the setting is removed.
#[test]
fn the_responder_follows_the_configured_algorithm_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let mut opts = options_on_free_port(data.path());
    opts.algorithm = KeyAlgorithm::Rsa2048;
    let mut serials = Vec::new();
    for (ocsp_algorithm, kind) in [
        (None, KeyAlgorithm::Rsa2048.kind()),
        (None, KeyAlgorithm::Rsa2048.kind()),
        (
            Some(KeyAlgorithm::EcdsaP256),
            KeyAlgorithm::EcdsaP256.kind(),
        ),
        (
            Some(KeyAlgorithm::EcdsaP256),
            KeyAlgorithm::EcdsaP256.kind(),
        ),
        (None, KeyAlgorithm::Rsa2048.kind()),
    ] {
        opts.ocsp_algorithm = ocsp_algorithm;
        let (state, _) = start(&opts).unwrap();
        assert_eq!(responder_kind(&state), kind, "{ocsp_algorithm:?}");
        serials.push(state.ocsp.read().unwrap().certificate().serial_hex());
    }
    // Kept while the setting stays, replaced when it changes.
    assert_eq!(serials[0], serials[1]);
    assert_ne!(serials[1], serials[2]);
    assert_eq!(serials[2], serials[3]);
    assert_ne!(serials[3], serials[4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_ocsp_over_http_sees_good_then_revoked_for_rsa_ecdsa_and_sm2() {
    for (algorithm, ocsp_algorithm) in [
        (KeyAlgorithm::Rsa2048, None),
        (KeyAlgorithm::EcdsaP256, None),
        (KeyAlgorithm::Sm2, None),
        // An RSA CA with a delegated P-256 responder (`ocsp_algorithm`).
        (KeyAlgorithm::Rsa2048, Some(KeyAlgorithm::EcdsaP256)),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut opts = options_on_free_port(data.path());
        let port = opts.listen.port();
        opts.algorithm = algorithm;
        opts.ocsp_algorithm = ocsp_algorithm;
        opts.delta_crl = algorithm == KeyAlgorithm::EcdsaP256;
        let (state, _) = start(&opts).unwrap();
        assert_eq!(
            responder_kind(&state),
            ocsp_algorithm.unwrap_or(algorithm).kind()
        );
        let account = state.demo_account.unwrap().0;
        let app = topca_server::router(Arc::new(state));
        let listener = tokio::net::TcpListener::bind(opts.listen).await.unwrap();
        let server = tokio::spawn(axum::serve(listener, app.clone()).into_future());

        let (status, _) = post_json(&app, &format!("/api/v1/accounts/{account}/applications"),
            serde_json::json!({"name": "OCSP 用户", "email": "ocsp@example.cn", "password": "ocsp-password-1"})).await;
        assert_eq!(status, StatusCode::OK);
        let work = tempfile::tempdir().unwrap();
        let w = work.path().to_owned();
        let csr = ec_csr(&w, "user");
        let (status, retrieved) = post_json(
            &app,
            "/api/v1/retrievals",
            serde_json::json!({
            "pin": outbox_pin(data.path()), "password": "ocsp-password-1", "csr": csr}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{retrieved}");
        std::fs::write(
            w.join("user.pem"),
            retrieved["certificate"]["pem"].as_str().unwrap(),
        )
        .unwrap();
        let (_, chain) = get(&app, "/TopCA/ca/chain.pem").await;
        std::fs::write(w.join("chain.pem"), &chain).unwrap();
        let (_, issuing) = get(&app, "/TopCA/ca/issuing.cer").await;
        std::fs::write(w.join("issuing.der"), &issuing).unwrap();
        assert!(
            openssl_outcome(
                &w,
                &[
                    "x509",
                    "-inform",
                    "DER",
                    "-in",
                    "issuing.der",
                    "-out",
                    "issuing.pem"
                ]
            )
            .0
        );

        // The URL the certificate names, asked by OpenSSL with a nonce it checks.
        let (_, text) = openssl_outcome(&w, &["x509", "-in", "user.pem", "-noout", "-ocsp_uri"]);
        let url = text.trim().to_owned();
        assert_eq!(url, format!("http://127.0.0.1:{port}/TopCA/ocsp"));
        // OpenSSL 3.0 checks SM2 signatures with the empty signer ID (README):
        // SM2 answers are read without signature verification.
        let verify: &[&str] = if algorithm == KeyAlgorithm::Sm2 {
            &["-noverify"]
        } else {
            &["-CAfile", "chain.pem"]
        };
        let ask = move |w: &Path| {
            let mut args = vec![
                "ocsp",
                "-issuer",
                "issuing.pem",
                "-cert",
                "user.pem",
                "-url",
                url.as_str(),
            ];
            args.extend_from_slice(verify);
            openssl_outcome(w, &args)
        };
        let w2 = w.clone();
        let ask2 = ask.clone();
        let (ok, out) = tokio::task::spawn_blocking(move || ask2(&w2))
            .await
            .unwrap();
        assert!(ok && out.contains("user.pem: good"), "{algorithm:?}: {out}");
        assert!(
            !out.contains("WARNING: no nonce"),
            "{algorithm:?}: nonce echoed: {out}"
        );
        if verify.len() == 2 {
            assert!(out.contains("Response verify OK"), "{algorithm:?}: {out}");
        }

        if opts.delta_crl {
            // The full CRL is published before the revocation: the delta carries it.
            let (status, _) = get(&app, "/TopCA/crl/current.crl").await;
            assert_eq!(status, StatusCode::OK);
        }
        let serial = retrieved["certificate"]["serial"].as_str().unwrap();
        let (status, _) = post_json(
            &app,
            &format!("/api/v1/accounts/{account}/revocations"),
            serde_json::json!({"serial": serial, "password": "ocsp-password-1", "reason": 4}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let w2 = w.clone();
        let ask2 = ask.clone();
        let (ok, out) = tokio::task::spawn_blocking(move || ask2(&w2))
            .await
            .unwrap();
        assert!(
            ok && out.contains("user.pem: revoked") && out.contains("superseded"),
            "{algorithm:?}: {out}"
        );

        if opts.delta_crl {
            let (_, cert_text) =
                openssl_outcome(&w, &["x509", "-in", "user.pem", "-noout", "-text"]);
            assert!(cert_text.contains("X509v3 Freshest CRL"), "{cert_text}");
            let (status, delta) = get(&app, "/TopCA/crl/delta.crl").await;
            assert_eq!(status, StatusCode::OK);
            std::fs::write(w.join("delta.crl"), &delta).unwrap();
            let (ok, out) = openssl_outcome(
                &w,
                &[
                    "crl",
                    "-inform",
                    "DER",
                    "-in",
                    "delta.crl",
                    "-noout",
                    "-text",
                ],
            );
            assert!(
                ok && out.contains("Delta CRL Indicator") && out.contains(serial),
                "{out}"
            );
        } else {
            let (status, _) = get(&app, "/TopCA/crl/delta.crl").await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
        server.abort();
    }
}
