//! ACME (RFC 8555) over the server's router, with a JWS client written here on
//! TopCA's own keys: the whole http-01 flow (account, order, challenge answered
//! by a listener of the test, finalize, certificate, revocation by the
//! certificate's key), and the abuses each answered with the RFC's error type
//! and nothing stored: a bad signature, a replayed nonce, a wrong `url`, an
//! unsupported key type or algorithm, a forbidden name, a CSR that does not
//! match its order, another account's order, an oversized body.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

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
use common::{free_port, openssl_outcome, options, send};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use topca_core::{KeyAlgorithm, OsRandom, SigningKey, store::CertificateStore};
use topca_server::{AppState, limits::RateLimiter, setup::start};

const BASE: &str = "http://127.0.0.1:8080";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The contents of the INTEGERs of a DER SEQUENCE of INTEGERs (an
/// ECDSA-Sig-Value, an RSAPublicKey), without their leading zero bytes.
fn der_integers(der: &[u8]) -> Vec<Vec<u8>> {
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
fn fixed(der: &[u8], half: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for value in der_integers(der) {
        out.extend(std::iter::repeat_n(0, half - value.len()));
        out.extend(value);
    }
    out
}

/// An ACME client key and its account URL once registered.
struct Client {
    key: SigningKey,
    alg: &'static str,
    jwk: Value,
    kid: Option<String>,
}

impl Client {
    fn new(algorithm: KeyAlgorithm) -> Self {
        let key = SigningKey::generate(algorithm, &OsRandom).unwrap();
        Self::from_key(key)
    }

    fn from_key(key: SigningKey) -> Self {
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

    fn thumbprint(&self) -> String {
        b64(&Sha256::digest(self.jwk.to_string().as_bytes()))
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let signature = self.key.sign_bytes(input).unwrap().as_bytes().to_vec();
        match self.alg {
            "ES256" => fixed(&signature, 32),
            "ES384" => fixed(&signature, 48),
            _ => signature,
        }
    }

    /// A JWS of `payload` (`None`: POST-as-GET) for `url` with `header` fields.
    fn jws_with(&self, header: Value, payload: Option<&Value>) -> Vec<u8> {
        let protected = b64(header.to_string().as_bytes());
        let payload = payload.map_or_else(String::new, |p| b64(p.to_string().as_bytes()));
        let signature = self.sign(format!("{protected}.{payload}").as_bytes());
        json!({"protected": protected, "payload": payload, "signature": b64(&signature)})
            .to_string()
            .into_bytes()
    }

    /// The protected header for `url` and `nonce`: `kid` once registered, else `jwk`.
    fn header(&self, url: &str, nonce: &str) -> Value {
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
struct Acme {
    dir: tempfile::TempDir,
    state: Arc<AppState>,
    app: Router,
    answers: Arc<Mutex<HashMap<String, String>>>,
}

impl Acme {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`Acme::start`] with `adjust` applied to the state first.
    async fn start_with(adjust: impl FnOnce(&mut AppState)) -> Self {
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

    async fn nonce(&self) -> String {
        let request = Request::head("/acme/new-nonce")
            .body(Body::empty())
            .unwrap();
        let (status, _, headers) = send(&self.app, request).await;
        assert_eq!(status, StatusCode::OK);
        headers["replay-nonce"].to_str().unwrap().to_owned()
    }

    async fn raw(&self, path: &str, body: Vec<u8>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let request = Request::post(path)
            .header("content-type", "application/jose+json")
            .body(Body::from(body))
            .unwrap();
        let (status, body, headers) = send(&self.app, request).await;
        (status, headers, body)
    }

    /// Posts `payload` signed by `client` to `path`: status, headers, JSON.
    async fn post(
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

    async fn register(&self, client: &mut Client) {
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

    fn count(&self, table: &str) -> i64 {
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
    async fn ready_order(&self, client: &Client, names: &[&str]) -> Value {
        let identifiers: Vec<Value> = names
            .iter()
            .map(|n| json!({"type": "dns", "value": n}))
            .collect();
        let (status, headers, order) = self
            .post(
                client,
                "/acme/new-order",
                Some(&json!({"identifiers": identifiers})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let order_url = headers["location"].to_str().unwrap().to_owned();
        for authz in order["authorizations"].as_array().unwrap() {
            let (status, _, authz) = self.post(client, authz.as_str().unwrap(), None).await;
            assert_eq!(status, StatusCode::OK, "{authz}");
            let challenge = &authz["challenges"][0];
            assert_eq!(challenge["type"], "http-01");
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
fn csr(dir: &Path, file: &str, subject: &str, names: &[&str]) -> Vec<u8> {
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
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
            &format!("subjectAltName={}", san.join(",")),
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
    // names, a wildcard, an IP address.
    for (kind, name, error) in [
        ("dns", "evil.com", "rejectedIdentifier"),
        ("dns", "www.example.cn", "rejectedIdentifier"),
        ("dns", "*.localhost", "rejectedIdentifier"),
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
    let acme = Acme::start_with(|state| {
        state.acme.orders_per_account = RateLimiter::new(2, Duration::from_secs(3600));
        state.acme.orders_per_identifier = RateLimiter::new(3, Duration::from_secs(3600));
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
