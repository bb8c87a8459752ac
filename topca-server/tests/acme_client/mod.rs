//! An ACME client for the protocol tests: JWS on TopCA's own keys (ES256,
//! ES384, RS256, EdDSA), and a server on a fresh `--demo` data directory whose
//! http-01 validation reaches a listener of the test.
#![allow(dead_code)] // each test file uses its own part of these helpers

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode},
};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use topca_core::{KeyAlgorithm, OsRandom, SigningKey};
use topca_server::{AppState, setup::start};

use crate::common::{free_port, openssl_outcome, options, send};

pub const BASE: &str = "http://127.0.0.1:8080";

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The contents of the INTEGERs of a DER SEQUENCE of INTEGERs (an
/// ECDSA-Sig-Value, an RSAPublicKey), without their leading zero bytes.
pub fn der_integers(der: &[u8]) -> Vec<Vec<u8>> {
    let length = |at: usize| -> (usize, usize) {
        let first = der[at];
        if first & 0x80 == 0 {
            return (usize::from(first), 1);
        }
        let n = usize::from(first & 0x7f);
        let value = der[at + 1..at + 1 + n]
            .iter()
            .fold(0usize, |acc, b| acc * 256 + usize::from(*b));
        (value, 1 + n)
    };
    let (_, header) = length(1);
    let mut at = 1 + header;
    let mut out = Vec::new();
    while at < der.len() {
        assert_eq!(der[at], 2, "an INTEGER");
        let (len, header) = length(at + 1);
        let start = at + 1 + header;
        let value: Vec<u8> = der[start..start + len]
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(value);
        at = start + len;
    }
    out
}

/// A DER ECDSA-Sig-Value as the JWS `r || s` of `half`-byte integers.
pub fn fixed(der: &[u8], half: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for value in der_integers(der) {
        out.extend(std::iter::repeat_n(0, half - value.len()));
        out.extend(value);
    }
    out
}

/// An ACME client key and its account URL once registered.
pub struct Client {
    pub key: SigningKey,
    pub alg: &'static str,
    pub jwk: Value,
    pub kid: Option<String>,
}

impl Client {
    pub fn new(algorithm: KeyAlgorithm) -> Self {
        let key = SigningKey::generate(algorithm, &OsRandom).unwrap();
        Self::from_key(key)
    }

    pub fn from_key(key: SigningKey) -> Self {
        let point = key.public_key().key_bytes().unwrap();
        let (alg, jwk) = match key.public_key().kind() {
            topca_core::KeyKind::EcdsaP256 => (
                "ES256",
                json!({"crv": "P-256", "kty": "EC", "x": b64(&point[1..33]), "y": b64(&point[33..])}),
            ),
            topca_core::KeyKind::EcdsaP384 => (
                "ES384",
                json!({"crv": "P-384", "kty": "EC", "x": b64(&point[1..49]), "y": b64(&point[49..])}),
            ),
            topca_core::KeyKind::Rsa { .. } => {
                let parts = der_integers(&point);
                (
                    "RS256",
                    json!({"e": b64(&parts[1]), "kty": "RSA", "n": b64(&parts[0])}),
                )
            }
            topca_core::KeyKind::Ed25519 => (
                "EdDSA",
                json!({"crv": "Ed25519", "kty": "OKP", "x": b64(&point)}),
            ),
            other => panic!("no JWK for {other}"),
        };
        Self {
            key,
            alg,
            jwk,
            kid: None,
        }
    }

    pub fn thumbprint(&self) -> String {
        b64(&Sha256::digest(self.jwk.to_string().as_bytes()))
    }

    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        let signature = self.key.sign_bytes(input).unwrap().as_bytes().to_vec();
        match self.alg {
            "ES256" => fixed(&signature, 32),
            "ES384" => fixed(&signature, 48),
            _ => signature,
        }
    }

    /// A JWS of `payload` (`None`: POST-as-GET) for `url` with `header` fields.
    pub fn jws_with(&self, header: Value, payload: Option<&Value>) -> Vec<u8> {
        let protected = b64(header.to_string().as_bytes());
        let payload = payload.map_or_else(String::new, |p| b64(p.to_string().as_bytes()));
        let signature = self.sign(format!("{protected}.{payload}").as_bytes());
        json!({"protected": protected, "payload": payload, "signature": b64(&signature)})
            .to_string()
            .into_bytes()
    }

    /// The protected header for `url` and `nonce`: `kid` once registered, else `jwk`.
    pub fn header(&self, url: &str, nonce: &str) -> Value {
        let mut header = json!({"alg": self.alg, "nonce": nonce, "url": url});
        match &self.kid {
            Some(kid) => header["kid"] = json!(kid),
            None => header["jwk"] = self.jwk.clone(),
        }
        header
    }
}

/// A server on a fresh data directory (`--demo`) whose http-01 validation
/// connects to a listener of the test, which answers the key authorizations in
/// `answers` (by token).
pub struct Acme {
    pub dir: tempfile::TempDir,
    pub state: Arc<AppState>,
    pub app: Router,
    pub answers: Arc<Mutex<HashMap<String, String>>>,
}

impl Acme {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`Acme::start`] with `adjust` applied to the state first.
    pub async fn start_with(adjust: impl FnOnce(&mut AppState)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(dir.path());
        opts.acme_http01_port = free_port();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.acme_http01_port))
            .await
            .unwrap();
        let answers: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let served = Arc::clone(&answers);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let token = request
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.strip_prefix("/.well-known/acme-challenge/"))
                    .unwrap_or_default()
                    .to_owned();
                let answer = served.lock().unwrap().get(&token).cloned();
                let reply = match answer {
                    Some(body) => format!(
                        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    ),
                    None => "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
                };
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        let (mut state, _) = start(&opts).unwrap();
        adjust(&mut state);
        let state = Arc::new(state);
        let app = topca_server::router(Arc::clone(&state));
        Self {
            dir,
            state,
            app,
            answers,
        }
    }

    pub async fn nonce(&self) -> String {
        let request = Request::head("/acme/new-nonce")
            .body(Body::empty())
            .unwrap();
        let (status, _, headers) = send(&self.app, request).await;
        assert_eq!(status, StatusCode::OK);
        headers["replay-nonce"].to_str().unwrap().to_owned()
    }

    pub async fn raw(&self, path: &str, body: Vec<u8>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let request = Request::post(path)
            .header("content-type", "application/jose+json")
            .body(Body::from(body))
            .unwrap();
        let (status, body, headers) = send(&self.app, request).await;
        (status, headers, body)
    }

    /// Posts `payload` signed by `client` to `path`: status, headers, JSON.
    pub async fn post(
        &self,
        client: &Client,
        path: &str,
        payload: Option<&Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{BASE}{path}")
        };
        let header = client.header(&url, &self.nonce().await);
        let (status, headers, body) = self
            .raw(
                url.trim_start_matches(BASE),
                client.jws_with(header, payload),
            )
            .await;
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, headers, json)
    }

    pub async fn register(&self, client: &mut Client) {
        let (status, headers, body) = self
            .post(
                client,
                "/acme/new-account",
                Some(&json!({"termsOfServiceAgreed": true})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        client.kid = Some(headers["location"].to_str().unwrap().to_owned());
    }

    pub fn count(&self, table: &str) -> i64 {
        use diesel::{Connection, RunQueryDsl, sql_types::BigInt};
        let path = self.dir.path().join("topca.db");
        let mut c = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::select(diesel::dsl::sql::<BigInt>(&format!(
            "(SELECT COUNT(*) FROM {table})"
        )))
        .get_result(&mut c)
        .unwrap()
    }

    /// An order for `names`, its challenge answered and validated: the order.
    pub async fn ready_order(&self, client: &Client, names: &[&str]) -> Value {
        let identifiers: Vec<Value> = names
            .iter()
            .map(|n| json!({"type": "dns", "value": n}))
            .collect();
        self.ready_order_with(client, &json!({"identifiers": identifiers}))
            .await
    }

    /// An order of newOrder `payload`, its http-01 challenges answered and
    /// validated: the order.
    pub async fn ready_order_with(&self, client: &Client, payload: &Value) -> Value {
        let (status, headers, order) = self.post(client, "/acme/new-order", Some(payload)).await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let order_url = headers["location"].to_str().unwrap().to_owned();
        for authz in order["authorizations"].as_array().unwrap() {
            let (status, _, authz) = self.post(client, authz.as_str().unwrap(), None).await;
            assert_eq!(status, StatusCode::OK, "{authz}");
            let challenge = authz["challenges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "http-01")
                .unwrap();
            let token = challenge["token"].as_str().unwrap();
            self.answers
                .lock()
                .unwrap()
                .insert(token.to_owned(), format!("{token}.{}", client.thumbprint()));
            let (status, headers, answered) = self
                .post(client, challenge["url"].as_str().unwrap(), Some(&json!({})))
                .await;
            assert_eq!(status, StatusCode::OK, "{answered}");
            assert!(
                headers
                    .get_all("link")
                    .iter()
                    .any(|l| l.to_str().unwrap().contains("rel=\"up\""))
            );
        }
        for _ in 0..100 {
            let (_, _, order) = self.post(client, &order_url, None).await;
            if order["status"] != "pending" {
                assert_eq!(order["status"], "ready", "{order}");
                return order;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the order never became ready");
    }
}

/// A CSR (DER) for `subject` with `names`, and its key file in `dir`.
pub fn csr(dir: &Path, file: &str, subject: &str, names: &[&str]) -> Vec<u8> {
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    csr_with_san(dir, file, subject, &san.join(","))
}

/// A CSR (DER) for `subject` with the subjectAltName `san` as OpenSSL writes
/// it (`DNS:a.cn,IP:127.0.0.1`), and its key file in `dir`.
pub fn csr_with_san(dir: &Path, file: &str, subject: &str, san: &str) -> Vec<u8> {
    let (ok, out) = openssl_outcome(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            subject,
            "-addext",
            &format!("subjectAltName={san}"),
            "-keyout",
            &format!("{file}.key"),
            "-outform",
            "DER",
            "-out",
            &format!("{file}.csr"),
        ],
    );
    assert!(ok, "{out}");
    std::fs::read(dir.join(format!("{file}.csr"))).unwrap()
}

/// Waits, if the hour (the new-order limits' counting window) turns within the
/// next 30 s, until it has turned, so that every order of a test that counts
/// against the limits falls in one window.
pub async fn clear_of_the_limit_window_turn() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let left = 3600 - now % 3600;
    if left <= 30 {
        tokio::time::sleep(std::time::Duration::from_secs(left + 1)).await;
    }
}
