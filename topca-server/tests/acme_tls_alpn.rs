//! ACME tls-alpn-01 (RFC 8737) against a TLS listener of the test that
//! offers `acme-tls/1` and shows a self-signed certificate made by OpenSSL
//! with the critical acmeIdentifier extension: the right digest validates,
//! a wrong digest or a non-critical extension makes the order invalid.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod acme_client;
mod common;

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use acme_client::{Acme, Client};
use axum::http::StatusCode;
use common::{free_port, openssl_outcome};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use topca_core::{KeyAlgorithm, store::AccountStore};

type Shown = Arc<Mutex<Option<Arc<rustls::ServerConfig>>>>;

/// A TLS listener on `port` showing the configuration in `shown`.
async fn listener(port: u16, shown: Shown) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let Some(config) = shown.lock().unwrap().clone() else {
                continue;
            };
            tokio::spawn(async move {
                let _ = tokio_rustls::TlsAcceptor::from(config).accept(stream).await;
            });
        }
    });
}

/// The SNI names the validator sent.
type Seen = Arc<Mutex<Vec<String>>>;

/// Shows one certificate whatever the client asks (WebPKI would refuse the
/// unknown critical extension of a challenge certificate), noting the SNI.
#[derive(Debug)]
struct Always(Arc<rustls::sign::CertifiedKey>, Seen);

impl rustls::server::ResolvesServerCert for Always {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            self.1.lock().unwrap().push(name.to_owned());
        }
        Some(Arc::clone(&self.0))
    }
}

/// A challenge certificate naming `san` (OpenSSL syntax, `DNS:localhost`)
/// with `extension` (OpenSSL syntax); the SNI sent goes to `seen`.
fn challenge_config(
    dir: &Path,
    san: &str,
    extension: &str,
    seen: &Seen,
) -> Arc<rustls::ServerConfig> {
    let (ok, out) = openssl_outcome(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "alpn-key.pem",
            "-out",
            "alpn-cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            &format!("subjectAltName={san}"),
            "-addext",
            extension,
        ],
    );
    assert!(ok, "{out}");
    let cert = CertificateDer::from_pem_file(dir.join("alpn-cert.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("alpn-key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let signing = provider.key_provider.load_private_key(key).unwrap();
    let shown = rustls::sign::CertifiedKey::new(vec![cert], signing);
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Always(Arc::new(shown), Arc::clone(seen))));
    config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    Arc::new(config)
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Orders localhost and answers its tls-alpn-01 challenge with a certificate
/// whose acmeIdentifier is made by `extension` from the digest: the final order.
async fn alpn_order(
    acme: &Acme,
    client: &Client,
    shown: &Shown,
    extension: impl Fn(&str) -> String,
) -> Value {
    let seen = Seen::default();
    let localhost = json!({"type": "dns", "value": "localhost"});
    alpn_order_of(
        acme,
        client,
        shown,
        (&localhost, "DNS:localhost", &seen),
        extension,
    )
    .await
}

/// Orders `identifier` and answers its tls-alpn-01 challenge with a
/// certificate naming `san` whose acmeIdentifier is made by `extension` from
/// the digest: the final order (the SNI sent goes to `seen`).
async fn alpn_order_of(
    acme: &Acme,
    client: &Client,
    shown: &Shown,
    (identifier, san, seen): (&Value, &str, &Seen),
    extension: impl Fn(&str) -> String,
) -> Value {
    let order = json!({"identifiers": [identifier]});
    let (status, headers, order) = acme.post(client, "/acme/new-order", Some(&order)).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order_url = headers["location"].to_str().unwrap().to_owned();
    let authz = order["authorizations"][0].as_str().unwrap();
    let (_, _, authz) = acme.post(client, authz, None).await;
    let challenge = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "tls-alpn-01")
        .unwrap()
        .clone();
    let token = challenge["token"].as_str().unwrap();
    let digest = Sha256::digest(format!("{token}.{}", client.thumbprint()).as_bytes());
    let config = challenge_config(acme.dir.path(), san, &extension(&hex(&digest)), seen);
    *shown.lock().unwrap() = Some(config);
    let (status, _, answered) = acme
        .post(client, challenge["url"].as_str().unwrap(), Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    for _ in 0..100 {
        let (_, _, order) = acme.post(client, &order_url, None).await;
        if order["status"] != "pending" {
            return order;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the order stayed pending");
}

#[tokio::test]
async fn tls_alpn_01_checks_the_acme_identifier_of_the_certificate_shown() {
    let port = free_port();
    let shown: Shown = Arc::default();
    listener(port, Arc::clone(&shown)).await;
    let acme = Acme::start_with(|state| state.acme.tls_alpn_port = port).await;
    let mut client = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut client).await;

    let order = alpn_order(&acme, &client, &shown, |digest| {
        format!("1.3.6.1.5.5.7.1.31=critical,DER:04:20:{digest}")
    })
    .await;
    assert_eq!(order["status"], "ready", "{order}");

    let order = alpn_order(&acme, &client, &shown, |_| {
        format!("1.3.6.1.5.5.7.1.31=critical,DER:04:20:{}", hex(&[7u8; 32]))
    })
    .await;
    assert_eq!(order["status"], "invalid", "a wrong digest: {order}");
    assert_eq!(
        order["error"]["type"],
        "urn:ietf:params:acme:error:incorrectResponse"
    );

    let order = alpn_order(&acme, &client, &shown, |digest| {
        format!("1.3.6.1.5.5.7.1.31=DER:04:20:{digest}")
    })
    .await;
    assert_eq!(order["status"], "invalid", "not critical: {order}");
}

#[tokio::test]
async fn tls_alpn_01_for_an_ip_address_sends_its_reverse_name_and_wants_one_ip_address_name() {
    let port = free_port();
    let shown: Shown = Arc::default();
    listener(port, Arc::clone(&shown)).await;
    let acme = Acme::start_with(|state| state.acme.tls_alpn_port = port).await;
    let account = acme.state.demo.accounts[1];
    let mut policy = acme.state.store.server_policy(account).unwrap().unwrap();
    policy.allow_ip_addresses = true;
    acme.state
        .store
        .put_server_policy(account, &policy)
        .unwrap();
    let mut client = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut client).await;
    let ip = json!({"type": "ip", "value": "127.0.0.1"});
    let good = |digest: &str| format!("1.3.6.1.5.5.7.1.31=critical,DER:04:20:{digest}");

    let seen = Seen::default();
    let order = alpn_order_of(&acme, &client, &shown, (&ip, "IP:127.0.0.1", &seen), good).await;
    assert_eq!(order["status"], "ready", "{order}");
    assert_eq!(*seen.lock().unwrap(), ["1.0.0.127.in-addr.arpa"]);

    // The address as a DNS name, or another address: refused.
    for san in [
        "DNS:127.0.0.1",
        "IP:127.0.0.2",
        "IP:127.0.0.1,DNS:localhost",
    ] {
        let seen = Seen::default();
        let order = alpn_order_of(&acme, &client, &shown, (&ip, san, &seen), good).await;
        assert_eq!(order["status"], "invalid", "{san}: {order}");
        assert_eq!(
            order["error"]["type"],
            "urn:ietf:params:acme:error:incorrectResponse"
        );
    }
}
