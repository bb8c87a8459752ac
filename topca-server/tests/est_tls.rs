//! EST with a TLS client certificate (RFC 7030 §3.3.2): a certificate this CA
//! issued to an account authenticates simpleenroll and simplereenroll (which
//! keeps its subject and names), and serverkeygen envelopes the key (CMS) to
//! it; foreign, CA and revoked certificates get 401.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, sync::Arc};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use base64::Engine;
use common::{openssl, options, send};
use der::Encode;
use topca_core::{
    Certificate, OsRandom, SystemClock,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    cmp::credential,
    lifecycle::RevocationReason,
    store::{CertificateStore, Revocation},
};
use topca_server::{AppState, setup::start, tls::Peer};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A base64 DER CSR for `subject` signed by the key file `key` (made by
/// openssl in `dir`), with the attributes of `attributes` (config lines).
fn csr(dir: &Path, key: &str, subject: &str, attributes: &str) -> String {
    let config = dir.join("req.cnf");
    std::fs::write(
        &config,
        format!(
            "[req]\ndistinguished_name = dn\nattributes = attrs\nprompt = no\n[dn]\nCN = {subject}\n[attrs]\n{attributes}\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            key,
            "-config",
            config.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            "req.der",
        ],
    );
    b64(&std::fs::read(dir.join("req.der")).unwrap())
}

/// The extended key usages OpenSSL reads in `certificate`.
fn purposes(dir: &Path, certificate: &Certificate) -> Vec<String> {
    std::fs::write(dir.join("purposes.pem"), certificate.to_pem()).unwrap();
    let text = openssl(
        dir,
        &[
            "x509",
            "-in",
            "purposes.pem",
            "-noout",
            "-ext",
            "extendedKeyUsage",
        ],
    );
    text.lines()
        .skip(1)
        .flat_map(|l| l.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// POST `body` to the EST operation `op`, over a connection that presented
/// `certificate` (or with HTTP Basic `basic`).
async fn est(
    app: &Router,
    op: &str,
    certificate: Option<&[u8]>,
    basic: Option<&str>,
    body: &str,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::post(format!("/.well-known/est/{op}"))
        .header(header::CONTENT_TYPE, "application/pkcs10");
    if let Some(basic) = basic {
        request = request.header(header::AUTHORIZATION, basic);
    }
    let mut request = request.body(Body::from(body.to_owned())).unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(Peer {
            addr: "127.0.0.1:40000".parse().unwrap(),
            certificate: certificate.map(<[u8]>::to_vec),
        }));
    let (status, body, _) = send(app, request).await;
    (status, body)
}

/// The certificate of a certs-only answer.
fn issued(body: &[u8]) -> Certificate {
    let compact: String = String::from_utf8(body.to_vec())
        .unwrap()
        .split_whitespace()
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .unwrap();
    let certs = topca_core::pkcs7::parse_certs_only(&der).unwrap();
    Certificate::from_der(&certs[0].to_der().unwrap()).unwrap()
}

#[tokio::test]
async fn a_certificate_of_this_ca_authenticates_est_and_receives_an_enveloped_key() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let (state, _) = start(&options(dir)).unwrap();
    let state = Arc::new(state);
    let basic = basic_credential(&state);
    let app = topca_server::router(Arc::clone(&state));
    p256_key(dir, "ec.key");
    p256_key(dir, "new.key");

    // A client certificate, enrolled with the credential.
    let request = csr(dir, "ec.key", "est-tls.example.cn", "");
    let (status, body) = est(&app, "simpleenroll", None, Some(&basic), &request).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let client = issued(&body);

    // simplereenroll with it: a new key, the old subject and names.
    let request = csr(dir, "new.key", "est-tls.example.cn", "");
    let (status, body) = est(&app, "simplereenroll", Some(client.der()), None, &request).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let renewed = issued(&body);
    assert_eq!(renewed.subject(), client.subject());
    assert_eq!(
        topca_core::cmp::est::alt_names_of(&renewed).unwrap(),
        topca_core::cmp::est::alt_names_of(&client).unwrap()
    );
    assert_ne!(renewed.public_key().unwrap(), client.public_key().unwrap());
    assert_eq!(purposes(dir, &renewed), ["TLS Web Server Authentication"]);

    // Another subject is no re-enrollment; simpleenroll takes it for the account.
    let other = csr(dir, "new.key", "est-other.example.cn", "");
    let (status, _) = est(&app, "simplereenroll", Some(client.der()), None, &other).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = est(&app, "simpleenroll", Some(client.der()), None, &other).await;
    assert_eq!(status, StatusCode::OK);
    let outside = csr(dir, "new.key", "est.example.com", "");
    let (status, _) = est(&app, "simpleenroll", Some(client.der()), None, &outside).await;
    assert!(
        status.is_client_error(),
        "a name outside the account's policy"
    );

    // serverkeygen enveloped to the client certificate, opened by openssl cms.
    let envelope = csr(
        dir,
        "new.key",
        "est-keygen.example.cn",
        "1.2.840.113549.1.9.16.2.54 = client-certificate",
    );
    let (status, _) = est(&app, "serverkeygen", None, Some(&basic), &envelope).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "nothing to encrypt to");
    let (status, body) = est(&app, "serverkeygen", Some(client.der()), None, &envelope).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let text = String::from_utf8(body).unwrap();
    let parts: Vec<&str> = text
        .split("--topca-est-serverkeygen")
        .filter(|p| p.contains("Content-Type"))
        .collect();
    assert!(parts[0].contains("smime-type=server-generated-key"));
    let enveloped = base64::engine::general_purpose::STANDARD
        .decode(
            parts[0]
                .split_once("\r\n\r\n")
                .unwrap()
                .1
                .split_whitespace()
                .collect::<String>(),
        )
        .unwrap();
    std::fs::write(dir.join("key.p7m"), enveloped).unwrap();
    std::fs::write(dir.join("client.pem"), client.to_pem()).unwrap();
    openssl(
        dir,
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            "key.p7m",
            "-recip",
            "client.pem",
            "-inkey",
            "ec.key",
            "-out",
            "key.der",
        ],
    );
    let key = topca_core::SigningKey::from_pkcs8_der(&std::fs::read(dir.join("key.der")).unwrap())
        .unwrap();
    let certificate = issued(parts[1].split_once("\r\n\r\n").unwrap().1.as_bytes());
    assert_eq!(&certificate.public_key().unwrap(), key.public_key());
    let symmetric = csr(
        dir,
        "new.key",
        "est-keygen.example.cn",
        "1.2.840.113549.1.9.16.2.37 = shared",
    );
    let (status, _) = est(&app, "serverkeygen", Some(client.der()), None, &symmetric).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "symmetric envelopes");

    // Certificates that do not authenticate: the CA's own, garbage, revoked.
    let chain = state.ca.chain();
    for (what, der) in [
        ("issuing CA", chain[0].der().to_vec()),
        ("root", chain[chain.len() - 1].der().to_vec()),
        ("garbage", b"not a certificate".to_vec()),
    ] {
        let (status, _) = est(&app, "simplereenroll", Some(&der), None, &request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    }
    let now = std::time::SystemTime::now();
    state
        .store
        .revoke_certificate(
            &Revocation {
                serial: client.serial_hex(),
                at: now,
                reason: RevocationReason::KeyCompromise,
            },
            AuditRecord {
                at: now,
                actor: Actor::System,
                action: AuditAction::CertificateRevoked,
                target: client.serial_hex(),
                outcome: Outcome::Success,
                detail: "test".into(),
            },
        )
        .unwrap();
    let (status, _) = est(&app, "simplereenroll", Some(client.der()), None, &request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked");
}

/// One EST simpleenroll over a new TLS connection to `port`, the CSR's
/// challengePassword made from that connection's channel binding by `bind`:
/// the status line, and the binding.
async fn enroll_over_tls(
    dir: &Path,
    port: u16,
    roots: &rustls::RootCertStore,
    basic: &str,
    bind: impl FnOnce([u8; 32]) -> [u8; 32],
) -> (String, [u8; 32]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots.clone())
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let binding = tls
        .get_ref()
        .1
        .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
        .unwrap();
    let request = csr(
        dir,
        "ec.key",
        "est-bound.example.cn",
        &format!("challengePassword = {}", b64(&bind(binding))),
    );
    tls.write_all(
        format!(
            "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {basic}\r\nContent-Type: application/pkcs10\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{request}",
            request.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    (
        answer.lines().next().unwrap_or_default().to_owned(),
        binding,
    )
}

#[tokio::test]
async fn a_challenge_password_must_be_the_connections_channel_binding() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let options = common::https_options(dir);
    let (state, _) = start(&options).unwrap();
    let state = Arc::new(state);
    let basic = basic_credential(&state);
    let mut roots = rustls::RootCertStore::empty();
    for certificate in state
        .ca
        .chain()
        .into_iter()
        .chain(state.tls_root.as_ref().map(|r| r.certificate()))
    {
        roots
            .add(rustls::pki_types::CertificateDer::from(
                certificate.der().to_vec(),
            ))
            .unwrap();
    }
    let _server = common::serve_https(&options, Arc::clone(&state)).await;
    let port = options.listen.port();
    p256_key(dir, "ec.key");

    let (status, first) = enroll_over_tls(dir, port, &roots, &basic, |b| b).await;
    assert!(status.contains(" 200 "), "{status}");
    // The binding of another connection (a relayed request) is refused.
    let (status, second) = enroll_over_tls(dir, port, &roots, &basic, |_| first).await;
    assert_ne!(first, second);
    assert!(status.contains(" 400 "), "{status}");
}

/// A P-256 key made by OpenSSL in `dir/file`.
fn p256_key(dir: &Path, file: &str) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            file,
        ],
    );
}

/// A TLS client certificate for `name` with a fresh key in `dir/key`, issued
/// to the demo server account as a device enrolled out of band would hold.
fn device_certificate(state: &AppState, dir: &Path, key: &str, name: &str) -> Certificate {
    p256_key(dir, key);
    let request = base64::engine::general_purpose::STANDARD
        .decode(csr(dir, key, name, ""))
        .unwrap();
    credential::issue(
        &state.ca,
        &state.store,
        state.demo.accounts[1],
        "device enrolment",
        &topca_core::CertificateRequest::from_der(&request).unwrap(),
        topca_core::ProfileKind::TlsClient,
    )
    .unwrap()
}

/// HTTP Basic with a new CMP credential of the demo server account.
fn basic_credential(state: &AppState) -> String {
    let (made, secret) = credential::add(
        &state.store,
        &state.master,
        &OsRandom,
        &SystemClock,
        Actor::System,
        state.demo.accounts[1],
    )
    .unwrap();
    format!(
        "Basic {}",
        b64(format!("{}:{}", made.reference, secret.as_str()).as_bytes())
    )
}

/// A TLS client certificate renews as a TLS client certificate (not as a
/// server one, which EST's simple enrollment issues).
#[tokio::test]
async fn a_client_certificate_renews_as_a_client_certificate() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let (state, _) = start(&options(dir)).unwrap();
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let client = device_certificate(&state, dir, "client.key", "device-7.example.cn");
    p256_key(dir, "renewed.key");
    assert_eq!(purposes(dir, &client), ["TLS Web Client Authentication"]);

    let request = csr(dir, "renewed.key", "device-7.example.cn", "");
    let (status, body) = est(&app, "simplereenroll", Some(client.der()), None, &request).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let renewed = issued(&body);
    assert_eq!(renewed.subject(), client.subject());
    assert_eq!(purposes(dir, &renewed), ["TLS Web Client Authentication"]);
}

/// The approval path takes a TLS client certificate as well as HTTP Basic:
/// 202 with Retry-After while the request waits, one application however
/// often the client asks, and invisible to another client.
#[tokio::test]
async fn a_client_certificate_enrolls_under_approval() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let (state, _) = start(&options(dir)).unwrap();
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let device = device_certificate(&state, dir, "device.key", "device-9.example.cn");
    p256_key(dir, "wait.key");

    // A CSR without an e-mail address: the RA could not mail the holder.
    let waiting = csr(dir, "wait.key", "device-9.example.cn", "");
    let (status, body) = est(
        &app,
        "approval/simpleenroll",
        Some(device.der()),
        None,
        &waiting,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("emailAddress"));

    std::fs::write(
        dir.join("req.cnf"),
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = device-9.example.cn\nemailAddress = ops@example.cn\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req", "-new", "-key", "wait.key", "-config", "req.cnf", "-outform", "DER", "-out",
            "wait.der",
        ],
    );
    let waiting = b64(&std::fs::read(dir.join("wait.der")).unwrap());
    for _ in 0..2 {
        let (status, body) = est(
            &app,
            "approval/simpleenroll",
            Some(device.der()),
            None,
            &waiting,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let pending = topca_core::store::AdminStore::requests_anywhere(
        &state.store,
        topca_core::lifecycle::RequestState::Submitted,
        10,
    )
    .unwrap();
    assert_eq!(pending.len(), 1, "asking again registers nothing more");

    // Another client (a credential of the same account) cannot see it.
    let basic = basic_credential(&state);
    let (status, _) = est(&app, "approval/simpleenroll", None, Some(&basic), &waiting).await;
    assert!(status.is_client_error(), "another client: {status}");
    // Without any authentication: 401.
    let (status, _) = est(&app, "approval/simpleenroll", None, None, &waiting).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
