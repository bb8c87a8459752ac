//! What the server's integration tests share.
#![allow(dead_code)] // each test file uses its own part of these helpers

pub mod cluster;
pub mod machine;

use std::{
    ffi::OsStr,
    io::Write,
    path::Path,
    process::{Command, Output, Stdio},
    sync::Arc,
};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use topca_core::{
    OsRandom, SystemClock,
    ra::{AdminRole, admin::create_admin},
};
use topca_server::{
    AppState,
    serve::{ServeLimits, serve},
    setup::Options,
    tls::{Peer, TlsSource},
};
use tower::ServiceExt;

/// The CSRF token the tests send as both the cookie and the form field.
pub const CSRF: &str = "0123456789abcdef0123456789abcdef";

/// The password of the administrators the tests make.
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// Options for a server on `dir` with embedded defaults: SQLite, the outbox, a
/// P-256 CA, plain HTTP, and the demonstration accounts (`--demo`) the centres'
/// tests apply under. `dir`, when it exists (a fresh temporary folder), is made
/// private (0700) as the server requires of its data directory.
pub fn options(dir: &Path) -> Options {
    if dir.is_dir() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    Options {
        data_dir: dir.to_owned(),
        listen: "127.0.0.1:8080".parse().unwrap(),
        algorithm: topca_core::KeyAlgorithm::EcdsaP256,
        ocsp_algorithm: None,
        database_url: None,
        mail_url: None,
        mail_from: "TopCA <ca@localhost>".into(),
        mail_trusted_ca: None,
        public_url: None,
        delta_crl: false,
        tls: TlsSource::Off,
        crl_refresh: std::time::Duration::from_secs(600),
        kmc_quarantine: std::time::Duration::from_secs(24 * 3600),
        demo: true,
        trusted_proxies: Default::default(),
        metrics_allow: Default::default(),
        acme_http01_port: 80,
        acme_dns_resolver: None,
        acme_tls_alpn_port: 443,
        acme_order_limits: Default::default(),
    }
}

/// A local port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// [`options`] listening on a free local port.
pub fn options_on_free_port(dir: &Path) -> Options {
    let mut options = options(dir);
    options.listen = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    options
}

/// [`options_on_free_port`] over HTTPS with a certificate from the server's own CA.
pub fn https_options(dir: &Path) -> Options {
    let mut options = options_on_free_port(dir);
    options.tls = TlsSource::SelfIssued;
    options
}

/// Serves `state` over HTTPS on `options.listen` (see [`https_options`]);
/// handlers see the client certificate.
pub async fn serve_https(options: &Options, state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    serve_https_with(options, state, ServeLimits::default()).await
}

/// [`serve_https`] under `limits`.
pub async fn serve_https_with(
    options: &Options,
    state: Arc<AppState>,
    limits: ServeLimits,
) -> tokio::task::JoinHandle<()> {
    let config = topca_server::tls::server_config(&options.tls, &state, "127.0.0.1")
        .unwrap()
        .unwrap();
    let app = topca_server::router(state);
    let tcp = tokio::net::TcpListener::bind(options.listen).await.unwrap();
    tokio::spawn(serve(
        tcp,
        Some(config),
        app,
        limits,
        std::future::pending(),
    ))
}

/// Serves `state` over plain HTTP on a free local port under `limits`: the
/// address, and the server task.
pub async fn serve_http(
    state: Arc<AppState>,
    limits: ServeLimits,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let app = topca_server::router(state);
    let server = tokio::spawn(serve(tcp, None, app, limits, std::future::pending()));
    (addr, server)
}

/// `openssl s_client -quiet` from `dir` to the local `port`, with `args` besides,
/// sending `GET path` on a connection closed after the answer.
pub fn https_get(dir: &Path, port: u16, path: &str, args: &[impl AsRef<OsStr>]) -> Output {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-quiet",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `openssl ARGS` in `dir`: whether it succeeded, and what it printed
/// (standard output, then standard error).
pub fn openssl_outcome(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs `openssl ARGS` in `dir`, which must succeed; what it printed.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let (ok, text) = openssl_outcome(dir, args);
    assert!(ok, "openssl {args:?}: {text}");
    text
}

/// Sends `request` to the router in-process: the status, body and headers.
pub async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Vec<u8>, HeaderMap) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, body, headers)
}

/// Posts `json` to `uri`: the status and the JSON answer.
pub async fn post_json(
    app: &Router,
    uri: &str,
    json: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let (status, body, _) = send(
        app,
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json.to_string()))
            .unwrap(),
    )
    .await;
    (status, serde_json::from_slice(&body).unwrap())
}

/// A form posted to `uri` with the [`CSRF`] cookie (`body` carries the field).
pub fn form(uri: &str, body: String) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("topca_csrf={CSRF}"))
        .body(Body::from(body))
        .unwrap()
}

/// An administrator's log-in through the API: the status and the answer (with
/// the session `token` when it succeeds).
pub async fn log_in(app: &Router, name: &str, password: &str) -> (StatusCode, serde_json::Value) {
    post_json(
        app,
        "/api/v1/admin/sessions",
        serde_json::json!({"name": name, "password": password}),
    )
    .await
}

/// Makes administrators with [`ADMIN_PASSWORD`], one role each.
pub fn admins(state: &AppState, list: &[(&str, AdminRole)]) {
    for (name, role) in list {
        create_admin(
            &state.store,
            name,
            ADMIN_PASSWORD,
            vec![*role],
            &OsRandom,
            &SystemClock,
        )
        .unwrap();
    }
}

/// The mail decoder shared with `topca-mail`'s tests.
pub const DECODER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../topca-mail/tests/smtp_sink.py"
);

/// A mail from the server's outbox, decoded.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    /// The recipient.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

impl OutboxMail {
    /// The first indented line of the body: the PIN or code a mail carries.
    pub fn secret_line(&self) -> Option<String> {
        self.body
            .lines()
            .find(|l| l.starts_with("    "))
            .map(|l| l.trim().to_owned())
    }
}

/// Every mail in `dir/outbox`, newest first.
pub fn outbox(dir: &Path) -> Vec<OutboxMail> {
    use base64::Engine;
    let mut files: Vec<_> = std::fs::read_dir(dir.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .rev()
        .map(|file| {
            let out = Command::new("python3")
                .args([DECODER, "decode"])
                .arg(file)
                .output()
                .unwrap();
            let mut mail = OutboxMail {
                to: String::new(),
                subject: String::new(),
                body: String::new(),
            };
            for line in String::from_utf8(out.stdout).unwrap().lines() {
                let (key, value) = line.split_once('\t').unwrap();
                let value = String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(value)
                        .unwrap(),
                )
                .unwrap();
                match key {
                    "to" => mail.to = value,
                    "subject" => mail.subject = value,
                    "body" => mail.body = value,
                    _ => {}
                }
            }
            mail
        })
        .collect()
}

/// An API call with an administrator's bearer token: the status and the JSON
/// answer (`null` when the body is not JSON).
pub async fn call_as(
    app: &Router,
    token: &str,
    method: &str,
    uri: &str,
    json: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json");
    let body = json.map_or_else(Body::empty, |j| Body::from(j.to_string()));
    let (status, body, _) = send(app, builder.body(body).unwrap()).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// The session token of an administrator logged in through the API.
pub async fn token(app: &Router, name: &str, password: &str) -> String {
    let (status, answer) = log_in(app, name, password).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["token"].as_str().unwrap().to_owned()
}

/// `request` as if it came over a connection from `ip` (the router called
/// in-process otherwise sees the unspecified address).
pub fn from_address(mut request: Request<Body>, ip: &str) -> Request<Body> {
    let addr = std::net::SocketAddr::new(ip.parse().unwrap(), 40_000);
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(Peer {
            addr,
            certificate: None,
        }));
    request
}

/// A JSON POST of `json` to `uri`, to send with [`send`].
pub fn json_request(uri: &str, json: &serde_json::Value) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json.to_string()))
        .unwrap()
}

/// The body of the newest mail in `dir/outbox` containing `needle`.
pub fn outbox_mail_containing(dir: &Path, needle: &str) -> String {
    outbox(dir)
        .into_iter()
        .find(|mail| mail.body.contains(needle))
        .map(|mail| mail.body)
        .unwrap_or_else(|| panic!("no mail with {needle:?} in the outbox"))
}

/// The PIN of the newest approval mail in `dir/outbox`.
pub fn outbox_pin(dir: &Path) -> String {
    outbox_mail_containing(dir, "PIN")
        .lines()
        .find(|l| l.starts_with("    "))
        .expect("the PIN line")
        .trim()
        .to_owned()
}

/// The internal number (what administrators act on) of the request the holder
/// knows by `reference`, as the user API answers it (`applied["request"]`).
pub fn request_number(state: &AppState, reference: &serde_json::Value) -> u64 {
    let reference = topca_core::ra::RequestRef(reference.as_str().expect("a reference").to_owned());
    topca_core::store::RequestStore::request_by_reference(&state.store, &reference)
        .unwrap()
        .expect("the request")
        .id
        .0
}

/// A GET of `uri`: the status and the body.
pub async fn get(app: &Router, uri: &str) -> (StatusCode, Vec<u8>) {
    let (status, body, _) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    (status, body)
}

/// `body` as text (lossy UTF-8).
pub fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

/// A P-256 key made by OpenSSL in `dir` (`NAME.key`) and its CSR (PEM).
pub fn ec_csr(dir: &Path, name: &str) -> String {
    ec_csr_for(dir, name, "/CN=user")
}

/// [`ec_csr`] with the subject `subject` (OpenSSL's `/CN=…` form).
pub fn ec_csr_for(dir: &Path, name: &str, subject: &str) -> String {
    let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
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
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    assert!(ok, "{out}");
    std::fs::read_to_string(dir.join(csr)).unwrap()
}

/// Checks record before sign over everything `state`'s database holds: every
/// certificate (valid or revoked) was reserved with the SHA-256 of the TBS it
/// carries and its reservation is marked issued, each has its
/// `CertificateIssued` audit entry, `unfinished` reservations are still open,
/// and the keyed audit chain verifies. Returns how many certificates there are.
pub fn assert_every_certificate_recorded(state: &AppState, unfinished: usize) -> usize {
    use topca_core::{
        audit::{AuditAction, AuditKey, Outcome, verify_chain},
        store::{AuditStore, CertificateStore, IssuanceStore, tbs_sha256},
    };
    let far = std::time::SystemTime::now() + std::time::Duration::from_secs(100 * 365 * 86_400);
    let mut serials: Vec<String> = state
        .store
        .certificates_ending_between(std::time::SystemTime::UNIX_EPOCH, far)
        .unwrap()
        .into_iter()
        .map(|c| c.serial)
        .collect();
    state
        .store
        .for_each_revoked(None, &mut |r| {
            serials.push(r.serial.clone());
            Ok(())
        })
        .unwrap();
    let entries = state.store.audit_entries().unwrap();
    for serial in &serials {
        let record = state.store.certificate(serial).unwrap().unwrap();
        let reservation = state.store.reservation(serial).unwrap();
        assert!(
            reservation
                .as_ref()
                .is_some_and(|r| r.issued && r.tbs_sha256 == tbs_sha256(&record.der).unwrap()),
            "{serial} ({:?}) stored without its reservation: {reservation:?}",
            record.usage
        );
        assert!(
            entries
                .iter()
                .any(|e| e.record.action == AuditAction::CertificateIssued
                    && e.record.target == *serial
                    && e.record.outcome == Outcome::Success),
            "{serial} ({:?}) has no issuance audit entry",
            record.usage
        );
    }
    let open = state.store.unfinished_issuances(1_000).unwrap();
    assert_eq!(open.len(), unfinished, "open reservations: {open:?}");
    verify_chain(&entries, Some(&AuditKey::derive(&state.master)), None).unwrap();
    serials.len()
}
