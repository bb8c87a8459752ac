//! ACME IP address identifiers (RFC 8738) over the server's router: taken only
//! when the directory's account allows IP addresses (`unsupportedIdentifier`
//! otherwise), written canonically, validated by http-01 at the address itself
//! (127.0.0.1 here) and never by dns-01; the CSR must name the address as an
//! iPAddress name, exactly; the certificate carries it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod acme_client;
mod common;

use acme_client::{Acme, BASE, Client, b64, csr_with_san};
use axum::http::StatusCode;
use serde_json::{Value, json};
use topca_core::{
    Certificate, KeyAlgorithm,
    store::{AccountStore, ClientStore},
};

/// Lets the demo server account (the default directory's) certify IP addresses.
fn allow_ip_addresses(acme: &Acme) {
    let account = acme.state.demo.accounts[1];
    let mut policy = acme.state.store.server_policy(account).unwrap().unwrap();
    policy.allow_ip_addresses = true;
    acme.state
        .store
        .put_server_policy(account, &policy)
        .unwrap();
    assert!(acme.state.store.client_by_name("acme").unwrap().is_some());
}

async fn new_order(acme: &Acme, client: &Client, kind: &str, value: &str) -> (StatusCode, Value) {
    let (status, _, body) = acme
        .post(
            client,
            "/acme/new-order",
            Some(&json!({"identifiers": [{"type": kind, "value": value}]})),
        )
        .await;
    (status, body)
}

#[tokio::test]
async fn an_ip_identifier_is_validated_by_http_01_at_the_address_and_certified_as_an_ip_address_name()
 {
    let acme = Acme::start().await;
    let mut client = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut client).await;

    // Not enabled for the directory: unsupportedIdentifier, nothing stored.
    let (status, problem) = new_order(&acme, &client, "ip", "127.0.0.1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        problem["type"], "urn:ietf:params:acme:error:unsupportedIdentifier",
        "{problem}"
    );
    assert_eq!(acme.count("acme_orders"), 0);

    allow_ip_addresses(&acme);
    for (kind, value, error) in [
        ("ip", "300.1.1.1", "malformed"),
        ("ip", "localhost", "malformed"),
        ("ip", "127.0.0.1/8", "malformed"),
        ("ip", "0.0.0.0", "rejectedIdentifier"),
        ("ip", "::", "rejectedIdentifier"),
        ("ip", "224.0.0.1", "rejectedIdentifier"),
        ("ip", "255.255.255.255", "rejectedIdentifier"),
        // An address is not a DNS identifier.
        ("dns", "127.0.0.1", "rejectedIdentifier"),
        ("email", "a@localhost", "unsupportedIdentifier"),
    ] {
        let (status, problem) = new_order(&acme, &client, kind, value).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{value}: {problem}");
        assert_eq!(
            problem["type"],
            format!("urn:ietf:params:acme:error:{error}"),
            "{value}: {problem}"
        );
    }
    assert_eq!(acme.count("acme_orders"), 0);

    // IPv6 is written as RFC 5952 does.
    let (status, order) = new_order(&acme, &client, "ip", "0:0:0:0:0:0:0:1").await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(
        order["identifiers"],
        json!([{"type": "ip", "value": "::1"}])
    );

    // http-01 and tls-alpn-01, never dns-01; the identifier typed ip.
    let order = acme
        .ready_order_with(
            &client,
            &json!({"identifiers": [{"type": "ip", "value": "127.0.0.1"}]}),
        )
        .await;
    assert_eq!(
        order["identifiers"],
        json!([{"type": "ip", "value": "127.0.0.1"}])
    );
    let authz = order["authorizations"][0].as_str().unwrap().to_owned();
    let (_, _, authz) = acme.post(&client, &authz, None).await;
    assert_eq!(
        authz["identifier"],
        json!({"type": "ip", "value": "127.0.0.1"})
    );
    let mut kinds: Vec<&str> = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["http-01", "tls-alpn-01"]);
    assert_eq!(authz["status"], "valid");

    // The CSR must name the address as an iPAddress name, and only it.
    let finalize = order["finalize"].as_str().unwrap().to_owned();
    let certificates = acme.count("certificates");
    for (file, san) in [
        ("as-dns", "DNS:127.0.0.1"),
        ("other", "IP:127.0.0.2"),
        ("extra", "IP:127.0.0.1,IP:10.0.0.1"),
        ("named", "IP:127.0.0.1,DNS:localhost"),
    ] {
        let der = csr_with_san(acme.dir.path(), file, "/O=TopCA test", san);
        let (status, _, problem) = acme
            .post(&client, &finalize, Some(&json!({"csr": b64(&der)})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{san}: {problem}");
        assert_eq!(
            problem["type"], "urn:ietf:params:acme:error:badCSR",
            "{problem}"
        );
    }
    assert_eq!(acme.count("certificates"), certificates);

    let der = csr_with_san(acme.dir.path(), "ip", "/CN=127.0.0.1", "IP:127.0.0.1");
    let (status, _, valid) = acme
        .post(&client, &finalize, Some(&json!({"csr": b64(&der)})))
        .await;
    assert_eq!(status, StatusCode::OK, "{valid}");
    let url = valid["certificate"].as_str().unwrap().to_owned();
    let header = client.header(&url, &acme.nonce().await);
    let (status, _, chain) = acme
        .raw(url.trim_start_matches(BASE), client.jws_with(header, None))
        .await;
    assert_eq!(status, StatusCode::OK);
    let chain = String::from_utf8(chain).unwrap();
    let certificate = Certificate::from_pem_chain(&chain).unwrap().remove(0);
    std::fs::write(acme.dir.path().join("ip.pem"), certificate.to_pem()).unwrap();
    let text = common::openssl(
        acme.dir.path(),
        &["x509", "-in", "ip.pem", "-noout", "-ext", "subjectAltName"],
    );
    assert!(text.contains("IP Address:127.0.0.1"), "{text}");
    assert!(!text.contains("DNS:"), "{text}");
}
