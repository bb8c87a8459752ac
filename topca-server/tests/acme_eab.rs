//! ACME external account binding (RFC 8555 §7.3.4): once a profile has an EAB
//! key, a new account needs a binding; a binding with an unknown, foreign or
//! used key id, a wrong MAC, another account key, a wrong url, a nonce or a
//! non-MAC algorithm is refused and stores nothing; a good one makes the
//! account, which can then order, and spends the key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod acme_client;
mod common;

use acme_client::{Acme, BASE, Client, b64};
use axum::http::StatusCode;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use topca_core::{KeyAlgorithm, OsRandom, store::AcmeEabStore};
use topca_server::acme::eab;

const NEW_ACCOUNT: &str = "/acme/new-account";

/// An EAB JWS with `header` over `jwk`, MACed (HS256) with `key`.
fn binding(header: &Value, jwk: &Value, key: &[u8]) -> Value {
    let protected = b64(header.to_string().as_bytes());
    let payload = b64(jwk.to_string().as_bytes());
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(format!("{protected}.{payload}").as_bytes());
    let signature = b64(&mac.finalize().into_bytes());
    json!({"protected": protected, "payload": payload, "signature": signature})
}

fn standard(kid: &str) -> Value {
    json!({"alg": "HS256", "kid": kid, "url": format!("{BASE}{NEW_ACCOUNT}")})
}

async fn new_account(acme: &Acme, client: &Client, eab: Option<Value>) -> (StatusCode, Value) {
    let mut payload = json!({"termsOfServiceAgreed": true});
    if let Some(eab) = eab {
        payload["externalAccountBinding"] = eab;
    }
    let (status, _, body) = acme.post(client, NEW_ACCOUNT, Some(&payload)).await;
    (status, body)
}

fn decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[tokio::test]
async fn a_profile_with_eab_keys_takes_only_bound_accounts_and_each_key_once() {
    let acme = Acme::start().await;
    // Before any key, the default profile takes accounts without a binding.
    let mut early = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut early).await;

    let (kid, hmac) = eab::make(&acme.state.store, &acme.state.master, &OsRandom, "", "t").unwrap();
    let hmac = decode(&hmac);
    assert_eq!(hmac.len(), 32, "a 256-bit HMAC key");
    let stored = acme.state.store.acme_eab_key(&kid).unwrap().unwrap();
    assert!(
        !stored.sealed_key.windows(32).any(|w| w == hmac.as_slice()),
        "the HMAC key is not stored in clear"
    );
    let (other_kid, other_hmac) = eab::make(
        &acme.state.store,
        &acme.state.master,
        &OsRandom,
        "other",
        "t",
    )
    .unwrap();
    let accounts = acme.count("acme_accounts");

    let client = Client::new(KeyAlgorithm::EcdsaP256);
    let (status, body) = new_account(&acme, &client, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        body["type"],
        "urn:ietf:params:acme:error:externalAccountRequired"
    );

    let unauthorized = "urn:ietf:params:acme:error:unauthorized";
    let malformed = "urn:ietf:params:acme:error:malformed";
    let stranger = Client::new(KeyAlgorithm::EcdsaP256);
    let wrong_url = json!({"alg": "HS256", "kid": kid, "url": format!("{BASE}/acme/new-order")});
    let with_nonce = json!({"alg": "HS256", "kid": kid, "nonce": "abc",
        "url": format!("{BASE}{NEW_ACCOUNT}")});
    let rs256 = json!({"alg": "RS256", "kid": kid, "url": format!("{BASE}{NEW_ACCOUNT}")});
    let refused: [(&str, Value, &str); 8] = [
        (
            "an unknown kid",
            binding(&standard("nokey"), &client.jwk, &hmac),
            unauthorized,
        ),
        (
            "a wrong HMAC key",
            binding(&standard(&kid), &client.jwk, &[7u8; 32]),
            unauthorized,
        ),
        (
            "another profile's key",
            binding(&standard(&other_kid), &client.jwk, &decode(&other_hmac)),
            unauthorized,
        ),
        (
            "another account key",
            binding(&standard(&kid), &stranger.jwk, &hmac),
            unauthorized,
        ),
        (
            "a wrong url",
            binding(&wrong_url, &client.jwk, &hmac),
            unauthorized,
        ),
        (
            "a nonce",
            binding(&with_nonce, &client.jwk, &hmac),
            malformed,
        ),
        (
            "a signature algorithm",
            binding(&rs256, &client.jwk, &hmac),
            malformed,
        ),
        ("not a JWS", json!({"protected": 1}), malformed),
    ];
    for (what, eab, kind) in refused {
        let (status, body) = new_account(&acme, &client, Some(eab)).await;
        assert!(status.is_client_error(), "{what}: {status} {body}");
        assert_eq!(body["type"], kind, "{what}: {body}");
    }
    assert_eq!(acme.count("acme_accounts"), accounts, "nothing stored");

    let mut client = client;
    let (status, body) = new_account(
        &acme,
        &client,
        Some(binding(&standard(&kid), &client.jwk, &hmac)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(acme.count("acme_accounts"), accounts + 1);
    let used = acme.state.store.acme_eab_key(&kid).unwrap().unwrap();
    assert!(used.account.is_some(), "the key is spent");
    // The bound account orders under the profile.
    let (_, _, registered) = acme
        .post(
            &client,
            NEW_ACCOUNT,
            Some(&json!({"onlyReturnExisting": true})),
        )
        .await;
    assert_eq!(registered["status"], "valid");
    client.kid = Some(
        acme.post(
            &client,
            NEW_ACCOUNT,
            Some(&json!({"onlyReturnExisting": true})),
        )
        .await
        .1["location"]
            .to_str()
            .unwrap()
            .to_owned(),
    );
    acme.ready_order(&client, &["localhost"]).await;

    // The spent key binds no second account.
    let second = Client::new(KeyAlgorithm::EcdsaP256);
    let (status, body) = new_account(
        &acme,
        &second,
        Some(binding(&standard(&kid), &second.jwk, &hmac)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["type"], unauthorized);
    assert_eq!(acme.count("acme_accounts"), accounts + 1);

    // Accounts made before the first key go on working.
    acme.ready_order(&early, &["localhost"]).await;
}

#[tokio::test]
async fn a_revoked_key_binds_nothing_and_revoking_a_used_key_deactivates_its_account() {
    let acme = Acme::start().await;
    let ra = || topca_core::audit::Actor::Admin("ra".into());
    let (unused, unused_hmac) =
        eab::make(&acme.state.store, &acme.state.master, &OsRandom, "", "t").unwrap();
    let (used, used_hmac) =
        eab::make(&acme.state.store, &acme.state.master, &OsRandom, "", "t").unwrap();
    eab::revoke(&acme.state.store, &topca_core::SystemClock, ra(), &unused).unwrap();
    let accounts = acme.count("acme_accounts");
    let client = Client::new(KeyAlgorithm::EcdsaP256);
    let (status, body) = new_account(
        &acme,
        &client,
        Some(binding(
            &standard(&unused),
            &client.jwk,
            &decode(&unused_hmac),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["type"], "urn:ietf:params:acme:error:unauthorized");
    assert_eq!(acme.count("acme_accounts"), accounts, "nothing stored");

    // A used key: its account orders until the key is revoked, then is deactivated.
    let mut client = client;
    let (status, body) = new_account(
        &acme,
        &client,
        Some(binding(&standard(&used), &client.jwk, &decode(&used_hmac))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    client.kid = Some(
        acme.post(
            &client,
            NEW_ACCOUNT,
            Some(&json!({"onlyReturnExisting": true})),
        )
        .await
        .1["location"]
            .to_str()
            .unwrap()
            .to_owned(),
    );
    acme.ready_order(&client, &["localhost"]).await;
    let key = eab::revoke(&acme.state.store, &topca_core::SystemClock, ra(), &used).unwrap();
    assert!(key.revoked.is_some() && key.account.is_some());
    let order = json!({"identifiers": [{"type": "dns", "value": "localhost"}]});
    let (status, _, body) = acme.post(&client, "/acme/new-order", Some(&order)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["type"], "urn:ietf:params:acme:error:unauthorized");
    assert!(
        eab::revoke(&acme.state.store, &topca_core::SystemClock, ra(), &used).is_err(),
        "revoked once"
    );
}
