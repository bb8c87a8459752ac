//! ACME (RFC 8555) over the server's router, with the JWS client of
//! [`acme_client`]: the whole http-01 flow (account, order, challenge answered
//! by a listener of the test, finalize, certificate, renewal information,
//! revocation by the certificate's key), order limits, and the abuses each
//! answered with the RFC's error type and nothing stored: a bad signature, a
//! replayed nonce, a wrong `url`, an unsupported key type or algorithm, a
//! forbidden name, a CSR that does not match its order, another account's
//! order, an oversized body.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod acme_client;
mod common;

use acme_client::{Acme, BASE, Client, b64, csr};
use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use base64::Engine;
use common::send;
use serde_json::{Value, json};
use topca_core::{KeyAlgorithm, SigningKey, store::CertificateStore};
use topca_server::acme::OrderLimits;

#[tokio::test]
async fn certbot_s_flow_issues_a_certificate_under_the_demo_account_and_the_certificate_key_revokes_it()
 {
    let acme = Acme::start().await;
    let (status, body, headers) = send(
        &acme.app,
        Request::get("/acme/directory").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("replay-nonce"));
    let directory: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(directory["newAccount"], format!("{BASE}/acme/new-account"));
    assert_eq!(directory["newOrder"], format!("{BASE}/acme/new-order"));
    let (status, _, _) = send(
        &acme.app,
        Request::get("/acme/nothing/directory")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an unknown profile");

    for algorithm in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa2048,
    ] {
        let mut client = Client::new(algorithm);
        acme.register(&mut client).await;
        // The same key finds the same account.
        let again = Client::from_key(
            SigningKey::from_pkcs8_der(&client.key.to_pkcs8_der().unwrap()).unwrap(),
        );
        let (status, headers, _) = acme
            .post(
                &again,
                "/acme/new-account",
                Some(&json!({"onlyReturnExisting": true})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{algorithm:?}");
        assert_eq!(
            headers["location"].to_str().unwrap(),
            client.kid.as_deref().unwrap()
        );
    }

    let mut client = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut client).await;
    let order = acme.ready_order(&client, &["localhost"]).await;
    let der = csr(acme.dir.path(), "web", "/CN=localhost", &["localhost"]);
    let (status, _, order) = acme
        .post(
            &client,
            order["finalize"].as_str().unwrap(),
            Some(&json!({"csr": b64(&der)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "valid");
    let url = order["certificate"].as_str().unwrap().to_owned();
    let header = client.header(&url, &acme.nonce().await);
    let (status, headers, chain) = acme
        .raw(url.trim_start_matches(BASE), client.jws_with(header, None))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/pem-certificate-chain");
    let chain = String::from_utf8(chain).unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 3, "{chain}");
    let certificate = topca_core::Certificate::from_pem_chain(&chain)
        .unwrap()
        .remove(0);
    let record = acme
        .state
        .store
        .certificate(&certificate.serial_hex())
        .unwrap()
        .unwrap();
    assert_eq!(
        record.account,
        Some(acme.state.demo.accounts[1]),
        "under the demo server account"
    );
    // ARI: the suggested window lies ahead, in the certificate's last third.
    let serial_bytes: Vec<u8> = (0..certificate.serial_hex().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&certificate.serial_hex()[i..i + 2], 16).unwrap())
        .collect();
    let renewal_info = format!("/acme/renewal-info/AAEC.{}", b64(&serial_bytes));
    let window = |body: &[u8]| -> (String, String) {
        let info: Value = serde_json::from_slice(body).unwrap();
        let w = &info["suggestedWindow"];
        (
            w["start"].as_str().unwrap().to_owned(),
            w["end"].as_str().unwrap().to_owned(),
        )
    };
    let now = topca_core::format_rfc3339(std::time::SystemTime::now());
    let (status, body, headers) = send(
        &acme.app,
        Request::get(&renewal_info).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("retry-after"));
    let (start, end) = window(&body);
    assert!(now < start && start < end, "{now} {start} {end}");
    assert_eq!(
        directory["renewalInfo"],
        format!("{BASE}/acme/renewal-info")
    );

    // Revocation signed by the certificate's own key (jwk, no account).
    let pem = std::fs::read_to_string(acme.dir.path().join("web.key")).unwrap();
    let holder = Client::from_key(SigningKey::from_pkcs8_pem(&pem, None).unwrap());
    let stranger = Client::new(KeyAlgorithm::EcdsaP256);
    let revoke = json!({"certificate": b64(certificate.der()), "reason": 1});
    let (status, _, problem) = acme
        .post(&stranger, "/acme/revoke-cert", Some(&revoke))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:unauthorized");
    let (status, _, body) = acme.post(&holder, "/acme/revoke-cert", Some(&revoke)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let record = acme
        .state
        .store
        .certificate(&certificate.serial_hex())
        .unwrap()
        .unwrap();
    assert_eq!(record.status, topca_core::store::CertificateStatus::Revoked);
    let (_, _, problem) = acme.post(&client, "/acme/revoke-cert", Some(&revoke)).await;
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:alreadyRevoked");
    // Once revoked, the window has passed: renew now.
    let (_, body, _) = send(
        &acme.app,
        Request::get(&renewal_info).body(Body::empty()).unwrap(),
    )
    .await;
    let (_, end) = window(&body);
    assert!(end < topca_core::format_rfc3339(std::time::SystemTime::now()));
}

#[tokio::test]
async fn bad_signatures_replayed_nonces_wrong_urls_and_unsupported_keys_are_refused_and_store_nothing()
 {
    let acme = Acme::start().await;
    let client = Client::new(KeyAlgorithm::EcdsaP256);
    let payload = json!({"termsOfServiceAgreed": true});

    // A signature that does not verify.
    let header = client.header(&format!("{BASE}/acme/new-account"), &acme.nonce().await);
    let mut jws: Value = serde_json::from_slice(&client.jws_with(header, Some(&payload))).unwrap();
    let mut signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jws["signature"].as_str().unwrap())
        .unwrap();
    signature[10] ^= 1;
    jws["signature"] = json!(b64(&signature));
    let (status, headers, body) = acme
        .raw("/acme/new-account", jws.to_string().into_bytes())
        .await;
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:malformed");
    assert_eq!(acme.count("acme_accounts"), 0);

    // A nonce used twice: badNonce, with a fresh nonce to retry with.
    let nonce = acme.nonce().await;
    let header = client.header(&format!("{BASE}/acme/new-account"), &nonce);
    let (status, _, _) = acme
        .raw(
            "/acme/new-account",
            client.jws_with(header.clone(), Some(&payload)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let other = Client::new(KeyAlgorithm::Ed25519);
    let replayed = other.header(&format!("{BASE}/acme/new-account"), &nonce);
    let (status, headers, body) = acme
        .raw(
            "/acme/new-account",
            other.jws_with(replayed, Some(&payload)),
        )
        .await;
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:badNonce");
    assert!(headers.contains_key("replay-nonce"));
    let made_up = other.header(&format!("{BASE}/acme/new-account"), "bm90LWEtbm9uY2U");
    let (_, _, body) = acme
        .raw("/acme/new-account", other.jws_with(made_up, Some(&payload)))
        .await;
    assert!(String::from_utf8_lossy(&body).contains("badNonce"));
    assert_eq!(acme.count("acme_accounts"), 1, "only the first account");

    // The url of another resource in the protected header.
    let mut other = other;
    acme.register(&mut other).await;
    let order = json!({"identifiers": [{"type": "dns", "value": "localhost"}]});
    let header = other.header(&format!("{BASE}/acme/new-account"), &acme.nonce().await);
    let (status, _, body) = acme
        .raw("/acme/new-order", other.jws_with(header, Some(&order)))
        .await;
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:unauthorized");
    assert_eq!(acme.count("acme_orders"), 0);

    // A symmetric key, an unknown curve, an algorithm the server does not take.
    for (alg, jwk) in [
        ("HS256", json!({"kty": "oct", "k": "c2VjcmV0"})),
        (
            "ES512",
            json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
        ),
        ("RS256", json!({"kty": "oct", "k": "c2VjcmV0"})),
        (
            "ES256",
            json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}),
        ),
    ] {
        let header = json!({"alg": alg, "jwk": jwk, "nonce": acme.nonce().await,
            "url": format!("{BASE}/acme/new-account")});
        let (status, _, body) = acme
            .raw("/acme/new-account", client.jws_with(header, Some(&payload)))
            .await;
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{alg}");
        assert_eq!(
            problem["type"], "urn:ietf:params:acme:error:badSignatureAlgorithm",
            "{alg}: {problem}"
        );
        assert!(problem["algorithms"].as_array().is_some());
    }
    // An Ed25519 key claiming ES256.
    let ed = Client::new(KeyAlgorithm::Ed25519);
    let mut header = ed.header(&format!("{BASE}/acme/new-account"), &acme.nonce().await);
    header["alg"] = json!("ES256");
    let (_, _, body) = acme
        .raw("/acme/new-account", ed.jws_with(header, Some(&payload)))
        .await;
    assert!(String::from_utf8_lossy(&body).contains("badSignatureAlgorithm"));
    assert_eq!(acme.count("acme_accounts"), 2);

    // An oversized body.
    let (status, headers, body) = acme.raw("/acme/new-order", vec![b'a'; 100 * 1024]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(String::from_utf8_lossy(&body).contains("urn:ietf:params:acme:error:malformed"));
}

#[tokio::test]
async fn forbidden_names_mismatched_csrs_and_other_accounts_orders_are_refused_and_store_nothing() {
    let acme = Acme::start().await;
    let mut client = Client::new(KeyAlgorithm::Ed25519);
    acme.register(&mut client).await;

    // Outside the account's policy, inside it but outside the profile's
    // names, a wildcard outside them, an IP address.
    for (kind, name, error) in [
        ("dns", "evil.com", "rejectedIdentifier"),
        ("dns", "www.example.cn", "rejectedIdentifier"),
        ("dns", "*.example.cn", "rejectedIdentifier"),
        ("ip", "127.0.0.1", "unsupportedIdentifier"),
    ] {
        let order = json!({"identifiers": [{"type": kind, "value": name}]});
        let (status, _, problem) = acme.post(&client, "/acme/new-order", Some(&order)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(
            problem["type"],
            format!("urn:ietf:params:acme:error:{error}"),
            "{name}: {problem}"
        );
    }
    assert_eq!(acme.count("acme_orders"), 0);
    assert_eq!(acme.count("acme_authorizations"), 0);

    let order = acme.ready_order(&client, &["localhost"]).await;
    let finalize = order["finalize"].as_str().unwrap().to_owned();
    let certificates = acme.count("certificates");
    for (file, subject, names) in [
        (
            "extra",
            "/CN=localhost",
            &["localhost", "www.localhost"][..],
        ),
        ("other", "/CN=other.localhost", &["localhost"][..]),
    ] {
        let der = csr(acme.dir.path(), file, subject, names);
        let (status, _, problem) = acme
            .post(&client, &finalize, Some(&json!({"csr": b64(&der)})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{file}");
        assert_eq!(
            problem["type"], "urn:ietf:params:acme:error:badCSR",
            "{problem}"
        );
    }
    let (status, _, problem) = acme
        .post(&client, &finalize, Some(&json!({"csr": "bm90IGEgQ1NS"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:badCSR");
    assert_eq!(acme.count("certificates"), certificates, "nothing issued");

    // The account lists its orders that are not invalid: the ready one.
    let (status, _, account) = acme
        .post(&client, client.kid.as_deref().unwrap(), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, listed) = acme
        .post(&client, account["orders"].as_str().unwrap(), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(
        listed["orders"],
        json!([finalize.trim_end_matches("/finalize")]),
        "{listed}"
    );

    // Another account sees no trace of this one's order, nor may it finalize it.
    let mut stranger = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut stranger).await;
    let order_url = finalize.trim_end_matches("/finalize").to_owned();
    let (status, _, _) = acme.post(&stranger, &order_url, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let der = csr(acme.dir.path(), "good", "/CN=localhost", &["localhost"]);
    let (status, _, _) = acme
        .post(&stranger, &finalize, Some(&json!({"csr": b64(&der)})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(acme.count("certificates"), certificates);

    // The owner still can, once; a second finalize is orderNotReady.
    let (status, _, valid) = acme
        .post(&client, &finalize, Some(&json!({"csr": b64(&der)})))
        .await;
    assert_eq!(status, StatusCode::OK, "{valid}");
    let (status, _, problem) = acme
        .post(&client, &finalize, Some(&json!({"csr": b64(&der)})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:orderNotReady");
    assert_eq!(acme.count("certificates"), certificates + 1);

    // Key rollover: the new key signs an inner JWS naming the account and its
    // old key; then only the new key speaks for the account.
    let kid = client.kid.clone().unwrap();
    let new = Client::new(KeyAlgorithm::EcdsaP384);
    let inner = new.jws_with(
        json!({"alg": new.alg, "jwk": new.jwk, "url": format!("{BASE}/acme/key-change")}),
        Some(&json!({"account": kid, "oldKey": client.jwk})),
    );
    let inner: Value = serde_json::from_slice(&inner).unwrap();
    let (status, _, body) = acme.post(&client, "/acme/key-change", Some(&inner)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, problem) = acme.post(&client, &kid, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let mut rolled = new;
    rolled.kid = Some(kid.clone());
    let (status, _, account) = acme
        .post(
            &rolled,
            &kid,
            Some(&json!({"contact": ["mailto:ops@localhost"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["contact"][0], "mailto:ops@localhost");
    // Another account's key cannot be rolled onto this one.
    let inner = stranger.jws_with(
        json!({"alg": stranger.alg, "jwk": stranger.jwk, "url": format!("{BASE}/acme/key-change")}),
        Some(&json!({"account": kid, "oldKey": rolled.jwk})),
    );
    let inner: Value = serde_json::from_slice(&inner).unwrap();
    let (status, _, _) = acme.post(&rolled, "/acme/key-change", Some(&inner)).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A deactivated account can do nothing more.
    let (status, _, account) = acme
        .post(&rolled, &kid, Some(&json!({"status": "deactivated"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(account["status"], "deactivated");
    let (status, _, problem) = acme.post(&rolled, &order_url, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:unauthorized");
}

#[tokio::test]
async fn new_orders_are_limited_per_account_and_per_identifier() {
    acme_client::clear_of_the_limit_window_turn().await;
    let acme = Acme::start_with(|state| {
        state.acme.order_limits = OrderLimits {
            per_account: 2,
            per_identifier: 3,
        };
    })
    .await;
    let order = json!({"identifiers": [{"type": "dns", "value": "localhost"}]});
    let mut first = Client::new(KeyAlgorithm::Ed25519);
    acme.register(&mut first).await;
    for _ in 0..2 {
        let (status, _, _) = acme.post(&first, "/acme/new-order", Some(&order)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, headers, problem) = acme.post(&first, "/acme/new-order", Some(&order)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:rateLimited");
    assert!(headers.contains_key("retry-after"));
    // Another account: its own count, but the name's count goes on.
    let mut second = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut second).await;
    let (status, _, _) = acme.post(&second, "/acme/new-order", Some(&order)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, problem) = acme.post(&second, "/acme/new-order", Some(&order)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("localhost"));
    assert_eq!(acme.count("acme_orders"), 3);
}
