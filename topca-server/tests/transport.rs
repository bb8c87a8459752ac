//! The server's connections under abuse: silent and slow clients over HTTPS and
//! plain HTTP, idle kept-alive connections, floods past the connection caps; the
//! security headers and cookie attributes on every kind of answer; and the
//! self-issued HTTPS chain clients verify under an SM2 CA (its TLS root).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use common::{https_get, https_options, options, serve_http, serve_https_with};
use rustls::pki_types::{CertificateDer, ServerName};
use std::{
    io::{Read, Write},
    net::TcpStream,
};
use topca_core::{audit::AuditAction, store::AuditStore};
use topca_server::{AppState, serve::ServeLimits, setup::start, tls_root::TLS_ROOT_PATH};

/// Limits with short deadlines, so the tests see them pass.
fn short(handshake: u64, headers: u64) -> ServeLimits {
    ServeLimits {
        handshake_timeout: Duration::from_millis(handshake),
        header_read_timeout: Duration::from_millis(headers),
        ..ServeLimits::default()
    }
}

/// A (blocking) TCP connection to `server` from the loopback address `from`
/// (127.0.0.x).
async fn connect_from(from: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("any 127.0.0.x is a local address");
    let stream = socket.connect(server).await.unwrap().into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

/// Reads one HTTP/1.1 response (headers and a `Content-Length` body): its text.
fn read_response(stream: &mut impl Read) -> String {
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before the response ended: {data:?}");
        data.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return text.into_owned();
            }
        }
    }
}

/// Whether the server closes `stream` (end of stream or reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// `GET path` on a new connection from `from`: the response text.
async fn get(server: SocketAddr, from: [u8; 4], path: &str) -> String {
    let mut stream = connect_from(from, server).await;
    send_get(&mut stream, path, "close");
    read_response(&mut stream)
}

/// The values of header `name` in a response's text.
fn header_values(response: &str, name: &str) -> Vec<String> {
    let head = response.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// `method path` with `body` (JSON when not empty) on a new connection from
/// 127.0.0.1: the response text.
async fn call(server: SocketAddr, method: &str, path: &str, body: &str) -> String {
    let mut stream = connect_from([127, 0, 0, 1], server).await;
    stream
        .write_all(
            format!(
                "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    read_response(&mut stream)
}

fn send_get(stream: &mut impl Write, path: &str, connection: &str) {
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: {connection}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
}

/// A rustls client trusting `root`: `GET path` over TLS to 127.0.0.1:`port`.
fn tls_get(port: u16, root: &[u8], path: &str) -> String {
    tls_request(
        port,
        root,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
}

/// A rustls client trusting `root`: `request` (HTTP/1.1 text) over TLS to
/// 127.0.0.1:`port`, the response text.
fn tls_request(port: u16, root: &[u8], request: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(root.to_vec())).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(request.as_bytes()).unwrap();
    read_response(&mut tls)
}

/// A server state on a fresh data directory (P-256 CA).
fn state(dir: &std::path::Path) -> Arc<AppState> {
    Arc::new(start(&options(dir)).unwrap().0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_silent_tls_connections_do_not_delay_a_real_https_request() {
    let dir = tempfile::tempdir().unwrap();
    let opts = https_options(dir.path());
    let state = Arc::new(start(&opts).unwrap().0);
    let root = state.root.der().to_vec();
    let server = serve_https_with(&opts, state, ServeLimits::default()).await;
    let port = opts.listen.port();
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(("127.0.0.1", port)).unwrap());
    }
    // Every silent connection has been accepted and is waiting for its handshake.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let response = tls_get(port, &root, "/TopCA/ca/chain.pem");
    let took = started.elapsed();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("BEGIN CERTIFICATE"), "{response}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    drop(silent);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tls_connection_is_closed_after_the_handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let opts = https_options(dir.path());
    let state = Arc::new(start(&opts).unwrap().0);
    let server = serve_https_with(&opts, state, short(500, 10_000)).await;
    let mut silent = TcpStream::connect(opts.listen).unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut silent, Duration::from_secs(5)));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_one_byte_at_a_time_are_cut_off_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, server) = serve_http(state(dir.path()), short(10_000, 1_000)).await;
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut writer = stream.try_clone().unwrap();
    // Ten seconds of headers, one byte every 100 ms.
    let headers = format!(
        "GET /TopCA/ca/chain.pem HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(50)
    );
    let started = Instant::now();
    let trickle = std::thread::spawn(move || {
        for byte in headers.bytes() {
            if writer.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut buf = Vec::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let read = stream.read_to_end(&mut buf);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "closed after {took:?}: {read:?}"
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("200 OK"), "{text}");
    let _ = stream.shutdown(std::net::Shutdown::Both);
    trickle.join().unwrap();
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, server) = serve_http(state(dir.path()), short(10_000, 1_000)).await;
    let mut stream = TcpStream::connect(addr).unwrap();
    send_get(&mut stream, "/TopCA/ca/chain.pem", "keep-alive");
    let first = read_response(&mut stream);
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // Still open for a second request right away...
    send_get(&mut stream, "/TopCA/ca/chain.pem", "keep-alive");
    let second = read_response(&mut stream);
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    // ...and closed once it has been idle for the header timeout.
    let started = Instant::now();
    assert!(closed_within(&mut stream, Duration::from_secs(5)));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_caps_are_closed_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ServeLimits {
        max_connections: 8,
        max_connections_per_source: 4,
        ..ServeLimits::default()
    };
    let (addr, server) = serve_http(state(dir.path()), limits).await;
    // One address holds its 4 connections: its fifth is closed at once...
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from([127, 0, 0, 1], addr).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fifth = connect_from([127, 0, 0, 1], addr).await;
    assert!(closed_within(&mut fifth, Duration::from_millis(500)));
    // ...while another address is served.
    let response = get(addr, [127, 0, 0, 2], "/TopCA/ca/chain.pem").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // Filling the total cap from other addresses closes the next one anywhere.
    for from in [[127, 0, 0, 3], [127, 0, 0, 4]] {
        for _ in 0..2 {
            held.push(connect_from(from, addr).await);
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ninth = connect_from([127, 0, 0, 5], addr).await;
    assert!(closed_within(&mut ninth, Duration::from_millis(500)));
    // A connection given back makes room again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = get(addr, [127, 0, 0, 5], "/TopCA/ca/chain.pem").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.abort();
}

/// A page, an API answer, an API error, a missing page and a file: what each
/// kind of answer looks like.
const KINDS: [(&str, &str, &str); 5] = [
    ("GET", "/TopCA/userEnroll", "200"),
    ("GET", "/api/v1/accounts?keyword=%E6%BC%94%E7%A4%BA", "200"),
    ("POST", "/api/v1/admin/sessions", "4"),
    ("GET", "/TopCA/no-such-page", "404"),
    ("GET", "/TopCA/ca/chain.pem", "200"),
];

/// Checks the security headers of `response` (`https`: with HSTS).
fn assert_security_headers(response: &str, https: bool) {
    let one = |name: &str| {
        let values = header_values(response, name);
        assert_eq!(values.len(), 1, "{name} in {response}");
        values[0].clone()
    };
    let csp = one("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(one("x-frame-options"), "DENY");
    assert_eq!(one("x-content-type-options"), "nosniff");
    assert_eq!(one("referrer-policy"), "same-origin");
    let hsts = header_values(response, "strict-transport-security");
    if https {
        assert_eq!(hsts, ["max-age=31536000"], "{response}");
    } else {
        assert!(hsts.is_empty(), "{response}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_answer_has_the_security_headers_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, server) = serve_http(state(dir.path()), ServeLimits::default()).await;
    for (method, path, status) in KINDS {
        let response = call(addr, method, path, if method == "POST" { "{}" } else { "" }).await;
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}")),
            "{method} {path}: {response}"
        );
        assert_security_headers(&response, false);
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_answer_has_the_security_headers_and_hsts_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let opts = https_options(dir.path());
    let state = Arc::new(start(&opts).unwrap().0);
    let root = state.root.der().to_vec();
    let server = serve_https_with(&opts, state, ServeLimits::default()).await;
    let port = opts.listen.port();
    for (method, path, status) in KINDS {
        let request = if method == "POST" {
            format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
            )
        } else {
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        };
        let response = tls_request(port, &root, &request);
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}")),
            "{method} {path}: {response}"
        );
        assert_security_headers(&response, true);
    }
    server.abort();
}

/// The `Set-Cookie` headers of the CSRF cookie (a form page) and the language
/// cookie, fetched with `fetch`.
fn cookies_of(fetch: impl Fn(&str) -> String) -> Vec<String> {
    let mut cookies = header_values(&fetch("/TopCA/userEnroll/retrieve"), "set-cookie");
    cookies.extend(header_values(&fetch("/TopCA/lang?to=en"), "set-cookie"));
    assert!(
        cookies.iter().any(|c| c.starts_with("topca_csrf="))
            && cookies.iter().any(|c| c.starts_with("topca_lang=")),
        "{cookies:?}"
    );
    cookies
}

fn attributes(cookie: &str) -> Vec<String> {
    cookie
        .split(';')
        .skip(1)
        .map(|a| {
            a.trim()
                .split('=')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_httponly_and_samesite_and_secure_only_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, server) = serve_http(state(dir.path()), ServeLimits::default()).await;
    let handle = tokio::runtime::Handle::current();
    let plain = tokio::task::block_in_place(|| {
        cookies_of(|path| handle.block_on(get(addr, [127, 0, 0, 1], path)))
    });
    for cookie in &plain {
        let attributes = attributes(cookie);
        assert!(attributes.contains(&"httponly".into()), "{cookie}");
        assert!(attributes.contains(&"samesite".into()), "{cookie}");
        assert!(!attributes.contains(&"secure".into()), "{cookie}");
    }
    server.abort();

    let dir = tempfile::tempdir().unwrap();
    let opts = https_options(dir.path());
    let state = Arc::new(start(&opts).unwrap().0);
    let root = state.root.der().to_vec();
    let server = serve_https_with(&opts, state, ServeLimits::default()).await;
    let port = opts.listen.port();
    let secure = tokio::task::block_in_place(|| cookies_of(|path| tls_get(port, &root, path)));
    for cookie in &secure {
        let attributes = attributes(cookie);
        assert!(attributes.contains(&"httponly".into()), "{cookie}");
        assert!(attributes.contains(&"samesite".into()), "{cookie}");
        assert_eq!(
            attributes.iter().filter(|a| *a == "secure").count(),
            1,
            "{cookie}"
        );
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_load_scripts_and_styles_only_from_files_the_policy_allows() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let account = state.demo_account.unwrap().0;
    let (addr, server) = serve_http(state, ServeLimits::default()).await;
    let pages = [
        "/TopCA/userEnroll".to_owned(),
        format!("/TopCA/userEnroll/home?account={account}"),
        format!("/TopCA/userEnroll/apply?account={account}"),
        "/TopCA/userEnroll/retrieve".to_owned(),
        "/TopCA/userEnroll/passcode".to_owned(),
        "/TopCA/serverEnroll".to_owned(),
        "/TopCA/admin/login".to_owned(),
        "/TopCA/ca".to_owned(),
        "/TopCA/userEnroll/home?account=999999".to_owned(),
    ];
    let mut scripts = std::collections::BTreeSet::new();
    for path in &pages {
        let page = get(addr, [127, 0, 0, 1], path).await;
        assert!(page.contains("<html"), "{path}: {page}");
        let body = page.split("\r\n\r\n").nth(1).unwrap();
        assert!(!body.contains("<style"), "{path}: inline style");
        assert!(!body.contains(" style="), "{path}: style attribute");
        assert!(!body.contains("javascript:"), "{path}: javascript: URL");
        assert!(
            !body.contains(" on"),
            "{path}: possible event handler attribute"
        );
        for tag in body.split("<script").skip(1) {
            let tag = tag.split('>').next().unwrap();
            let src = tag
                .split("src=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("{path}: inline script <script{tag}>"));
            scripts.insert(src.to_owned());
        }
    }
    assert!(scripts.len() >= 2, "{scripts:?}");
    for src in scripts
        .iter()
        .map(String::as_str)
        .chain(["/TopCA/assets/page.css"])
    {
        let file = get(addr, [127, 0, 0, 1], src).await;
        assert!(file.starts_with("HTTP/1.1 200"), "{src}: {file}");
        let kind = &header_values(&file, "content-type")[0];
        assert!(
            kind.starts_with("text/javascript") || kind.starts_with("text/css"),
            "{src}: {kind}"
        );
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_an_sm2_ca_the_self_issued_chain_verifies_against_the_published_tls_root() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = https_options(dir.path());
    opts.algorithm = topca_core::KeyAlgorithm::Sm2;
    let (state, report) = start(&opts).unwrap();
    let tls_root = state.tls_root.as_ref().expect("an SM2 CA gets a TLS root");
    let fingerprint = tls_root.certificate().sha256_fingerprint();
    let root_der = tls_root.certificate().der().to_vec();
    // The start report says which root clients must trust, and where it is.
    assert!(
        report
            .iter()
            .any(|l| l.contains(TLS_ROOT_PATH) && l.contains(&fingerprint)),
        "{report:?}"
    );
    // Its key is kept encrypted and private.
    let key_path = dir.path().join("ca").join("tls-root.key");
    let key = std::fs::read_to_string(&key_path).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
    let root_pem = std::fs::read_to_string(dir.path().join("ca").join("tls-root.pem")).unwrap();
    let state = Arc::new(state);
    let server = serve_https_with(&opts, Arc::clone(&state), ServeLimits::default()).await;
    let port = opts.listen.port();
    // A rustls client trusting only the TLS root verifies the served chain and
    // downloads the root.
    let response = tokio::task::block_in_place(|| tls_get(port, &root_der, TLS_ROOT_PATH));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(&root_pem), "{response}");
    // So does OpenSSL with the downloaded file.
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("tls-root.pem"), &root_pem).unwrap();
    let out = tokio::task::block_in_place(|| {
        https_get(
            work.path(),
            port,
            "/TopCA/ca/chain.pem",
            &[
                "-CAfile",
                "tls-root.pem",
                "-verify_return_error",
                "-verify_ip",
                "127.0.0.1",
            ],
        )
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("verify return:1") && text.contains("HTTP/1.1 200"),
        "{text}"
    );
    // The root's creation and the TLS certificate are in the audit log.
    let entries = state.store.audit_entries().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.record.action == AuditAction::CaCreated
                && e.record.target.contains("TopCA TLS Root"))
    );
    assert!(
        entries
            .iter()
            .any(|e| e.record.action == AuditAction::CertificateIssued
                && e.record.detail.contains("TopCA TLS Root"))
    );
    // ... and in the certificates table, recorded before it was signed.
    common::assert_every_certificate_recorded(&state, 0);
    server.abort();
    // A restart keeps the same root.
    let (again, _) = start(&opts).unwrap();
    assert_eq!(
        again.tls_root.unwrap().certificate().sha256_fingerprint(),
        fingerprint
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_p256_ca_the_ca_issues_the_tls_certificate_and_there_is_no_tls_root() {
    let dir = tempfile::tempdir().unwrap();
    let opts = https_options(dir.path());
    let (state, report) = start(&opts).unwrap();
    assert!(state.tls_root.is_none());
    assert!(!dir.path().join("ca").join("tls-root.pem").exists());
    assert!(
        report
            .iter()
            .any(|l| l.contains("/TopCA/ca/chain.pem") && l.starts_with("HTTPS")),
        "{report:?}"
    );
    let root = state.root.der().to_vec();
    let state = Arc::new(state);
    let server = serve_https_with(&opts, Arc::clone(&state), ServeLimits::default()).await;
    let port = opts.listen.port();
    let response = tokio::task::block_in_place(|| tls_get(port, &root, TLS_ROOT_PATH));
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let entries = state.store.audit_entries().unwrap();
    let issuer = state.ca.certificate().subject_text();
    assert!(
        entries
            .iter()
            .any(|e| e.record.action == AuditAction::CertificateIssued
                && e.record.detail.contains(&issuer))
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_stalls_is_answered_408_at_the_request_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ServeLimits {
        request_timeout: Duration::from_millis(1_000),
        ..ServeLimits::default()
    };
    let (addr, server) = serve_http(state(dir.path()), limits).await;
    let mut stream = connect_from([127, 0, 0, 1], addr).await;
    // The headers promise 100 bytes; 2 come, then nothing.
    stream
        .write_all(
            b"POST /api/v1/admin/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"",
        )
        .unwrap();
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let response = read_response(&mut stream);
    let took = started.elapsed();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(3),
        "answered after {took:?}"
    );
    assert_security_headers(&response, false);
    assert!(closed_within(&mut stream, Duration::from_secs(1)));
    server.abort();
}
