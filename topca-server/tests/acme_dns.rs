//! ACME dns-01 (RFC 8555 §8.4) against a small DNS server of the test (UDP,
//! TXT records from a map): a wildcard order gets only a dns-01 challenge,
//! validates through the TXT record of `_acme-challenge.NAME`, and issues a
//! certificate for `*.localhost`; a wrong TXT record and a name without one
//! make the order invalid; wildcards stay refused where the account's policy
//! does not allow them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod acme_client;
mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use acme_client::{Acme, Client, b64, csr};
use axum::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use topca_core::{KeyAlgorithm, ra::ServerPolicy, store::AccountStore};

/// TXT records by name: a wildcard and its base name share `_acme-challenge.NAME`.
type Records = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// The answer to DNS `query` from `records`: the TXT records of its name, or
/// NXDOMAIN.
fn dns_answer(query: &[u8], records: &Records) -> Vec<u8> {
    let mut at = 12;
    let mut labels = Vec::new();
    while query[at] != 0 {
        let len = usize::from(query[at]);
        labels.push(String::from_utf8_lossy(&query[at + 1..at + 1 + len]).to_string());
        at += 1 + len;
    }
    let question_end = at + 5;
    let name = labels.join(".").to_ascii_lowercase();
    let mut answer = query[..question_end].to_vec();
    match records.lock().unwrap().get(&name) {
        Some(texts) => {
            answer[2..4].copy_from_slice(&[0x85, 0x80]);
            answer[6..8].copy_from_slice(&(texts.len() as u16).to_be_bytes());
            for text in texts {
                answer.extend([0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 0]);
                answer.extend(((text.len() + 1) as u16).to_be_bytes());
                answer.push(text.len() as u8);
                answer.extend(text.as_bytes());
            }
        }
        None => answer[2..4].copy_from_slice(&[0x85, 0x83]),
    }
    answer
}

/// A UDP DNS server answering TXT queries from `records` (NXDOMAIN else).
async fn dns_server(records: Records) -> std::net::SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 512];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            let answer = dns_answer(&buf[..n], &records);
            let _ = socket.send_to(&answer, peer).await;
        }
    });
    address
}

/// A DNS server whose UDP answers are all truncated (the TC bit, no record)
/// and which answers over TCP on the same port when `tcp` (counting the TCP
/// queries in `asked`).
async fn truncating_dns_server(
    records: Records,
    tcp: bool,
    asked: Arc<Mutex<usize>>,
) -> std::net::SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 512];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            let mut answer = buf[..n].to_vec();
            answer[2..4].copy_from_slice(&[0x87, 0x80]);
            let _ = socket.send_to(&answer, peer).await;
        }
    });
    if tcp {
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let records = Arc::clone(&records);
                let asked = Arc::clone(&asked);
                tokio::spawn(async move {
                    let mut length = [0u8; 2];
                    stream.read_exact(&mut length).await.unwrap();
                    let mut query = vec![0u8; usize::from(u16::from_be_bytes(length))];
                    stream.read_exact(&mut query).await.unwrap();
                    *asked.lock().unwrap() += 1;
                    let answer = dns_answer(&query, &records);
                    let mut message = (answer.len() as u16).to_be_bytes().to_vec();
                    message.extend(answer);
                    let _ = stream.write_all(&message).await;
                });
            }
        });
    }
    address
}

/// Orders `names`, answers each dns-01 challenge by putting its TXT record
/// (`wrong` puts another value) and waits: the final order.
async fn dns_order(
    acme: &Acme,
    client: &Client,
    records: &Records,
    names: &[&str],
    wrong: bool,
) -> Value {
    let identifiers: Vec<Value> = names
        .iter()
        .map(|n| json!({"type": "dns", "value": n}))
        .collect();
    let (status, headers, order) = acme
        .post(
            client,
            "/acme/new-order",
            Some(&json!({"identifiers": identifiers})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order_url = headers["location"].to_str().unwrap().to_owned();
    for authz in order["authorizations"].as_array().unwrap() {
        let (_, _, authz) = acme.post(client, authz.as_str().unwrap(), None).await;
        let value = authz["identifier"]["value"].as_str().unwrap();
        let kinds: Vec<&str> = authz["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        if authz["wildcard"] == true {
            assert_eq!(kinds, ["dns-01"], "a wildcard is validated by dns-01 only");
            assert!(!value.starts_with('*'));
        } else {
            assert!(kinds.contains(&"http-01") && kinds.contains(&"dns-01"));
        }
        let challenge = authz["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "dns-01")
            .unwrap();
        let token = challenge["token"].as_str().unwrap();
        let digest = Sha256::digest(format!("{token}.{}", client.thumbprint()).as_bytes());
        let text = if wrong { b64(&[0u8; 32]) } else { b64(&digest) };
        if value != "absent.localhost" {
            records
                .lock()
                .unwrap()
                .entry(format!("_acme-challenge.{value}"))
                .or_default()
                .push(text);
        }
        let (status, _, answered) = acme
            .post(client, challenge["url"].as_str().unwrap(), Some(&json!({})))
            .await;
        assert_eq!(status, StatusCode::OK, "{answered}");
    }
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
async fn dns_01_validates_wildcards_through_the_resolver() {
    let records: Records = Arc::default();
    let resolver = dns_server(Arc::clone(&records)).await;
    let acme = Acme::start_with(|state| state.acme.dns_resolver = Some(resolver)).await;
    let mut client = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut client).await;

    // Wildcards only where the account's policy allows them (the demo's does).
    let account = acme.state.demo.accounts[1];
    let policy = acme.state.store.server_policy(account).unwrap().unwrap();
    assert!(policy.allow_wildcards);
    let strict = ServerPolicy {
        allow_wildcards: false,
        ..policy.clone()
    };
    acme.state
        .store
        .put_server_policy(account, &strict)
        .unwrap();
    let order = json!({"identifiers": [{"type": "dns", "value": "*.localhost"}]});
    let (status, _, problem) = acme.post(&client, "/acme/new-order", Some(&order)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        problem["type"],
        "urn:ietf:params:acme:error:rejectedIdentifier"
    );
    acme.state
        .store
        .put_server_policy(account, &policy)
        .unwrap();

    let order = dns_order(
        &acme,
        &client,
        &records,
        &["*.localhost", "localhost"],
        false,
    )
    .await;
    assert_eq!(order["status"], "ready", "{order}");
    let der = csr(
        acme.dir.path(),
        "wild",
        "/CN=localhost",
        &["*.localhost", "localhost"],
    );
    let (status, _, order) = acme
        .post(
            &client,
            order["finalize"].as_str().unwrap(),
            Some(&json!({"csr": b64(&der)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "valid");

    let order = dns_order(&acme, &client, &records, &["*.localhost"], true).await;
    assert_eq!(order["status"], "invalid", "a wrong TXT record");
    assert_eq!(
        order["error"]["type"],
        "urn:ietf:params:acme:error:incorrectResponse"
    );

    let order = dns_order(&acme, &client, &records, &["absent.localhost"], false).await;
    assert_eq!(order["status"], "invalid", "no TXT record");
}

#[tokio::test]
async fn a_truncated_udp_answer_is_asked_again_over_tcp() {
    let records: Records = Arc::default();
    let asked: Arc<Mutex<usize>> = Arc::default();
    let resolver = truncating_dns_server(Arc::clone(&records), true, Arc::clone(&asked)).await;
    let acme = Acme::start_with(|state| state.acme.dns_resolver = Some(resolver)).await;
    let mut client = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut client).await;
    let order = dns_order(&acme, &client, &records, &["*.localhost"], false).await;
    assert_eq!(order["status"], "ready", "{order}");
    assert_eq!(*asked.lock().unwrap(), 1, "one query over TCP");

    // A resolver that truncates over UDP and takes no TCP: a dns problem.
    let resolver = truncating_dns_server(Arc::clone(&records), false, Arc::default()).await;
    let acme = Acme::start_with(|state| state.acme.dns_resolver = Some(resolver)).await;
    let mut client = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut client).await;
    let order = dns_order(&acme, &client, &records, &["*.localhost"], false).await;
    assert_eq!(order["status"], "invalid", "{order}");
    assert_eq!(
        order["error"]["type"], "urn:ietf:params:acme:error:dns",
        "{order}"
    );
    assert!(
        order["error"]["detail"].as_str().unwrap().contains("TCP"),
        "{order}"
    );
}
