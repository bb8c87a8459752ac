//! Operations: `/readyz` names what is not ready, `/metrics` is a Prometheus
//! exposition whose counters move with issuance, revocation and OCSP, and only
//! loopback clients and `metrics_allow` read it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use common::{ec_csr, from_address, get, options, outbox_pin, post_json, send, serve_http, text};
use topca_server::{proxies::TrustedProxies, serve::ServeLimits, setup::start};

/// `GET path` over a real connection to `addr`: the status and body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap();
    (status, body)
}

/// Parses the text exposition format: every sample `name{labels}` to its value.
/// Fails on a line that is neither a comment nor a sample, and on a sample
/// whose family has no `# TYPE`.
fn parse(exposition: &str) -> HashMap<String, f64> {
    let mut types = HashMap::new();
    let mut samples = HashMap::new();
    for line in exposition.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        assert!(types.contains_key(family), "no TYPE for {line}");
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "twice: {line}"
        );
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_issuance_revocation_and_ocsp() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let account = state.demo_account.unwrap().0;
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    let (addr, server) = serve_http(Arc::clone(&state), ServeLimits::default()).await;

    let (status, before) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200, "{before}");
    let before = parse(&before);
    let ok = |name: &str| format!("{name}{{outcome=\"ok\"}}");
    let count = |m: &HashMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);

    // Apply, retrieve (an issuance), revoke, and ask OCSP.
    let (status, _) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "运维", "email": "ops@example.cn", "password": "ops-password-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let work = tempfile::tempdir().unwrap();
    let csr = ec_csr(work.path(), "user");
    let (status, retrieved) = post_json(
        &app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": outbox_pin(data.path()), "password": "ops-password-1", "csr": csr}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    let serial = retrieved["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = post_json(
        &app,
        &format!("/api/v1/accounts/{account}/revocations"),
        serde_json::json!({"serial": serial, "password": "ops-password-1", "reason": 4}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(
        &app,
        Request::post("/TopCA/ocsp")
            .header("content-type", "application/ocsp-request")
            .body(Body::from(vec![0x30, 0x00]))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&app, "/TopCA/crl/current.crl").await;
    assert_eq!(status, StatusCode::OK);

    let (status, after) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let samples = parse(&after);
    for (name, at_least) in [
        ("topca_issuances_total", 1.0),
        ("topca_revocations_total", 1.0),
        ("topca_ocsp_responses_total", 1.0),
    ] {
        let moved = count(&samples, &ok(name)) - count(&before, &ok(name));
        assert!(moved >= at_least, "{name} moved by {moved}:\n{after}");
    }
    let hist = "topca_revocations_duration_seconds_count";
    assert!(count(&samples, hist) >= 1.0, "{after}");
    assert!(
        count(
            &samples,
            "topca_issuances_duration_seconds_bucket{le=\"+Inf\"}"
        ) >= count(&samples, &ok("topca_issuances_total")),
        "{after}"
    );
    // Requests are counted under their route template, never their path.
    assert!(
        count(
            &samples,
            "topca_http_requests_total{route=\"/api/v1/retrievals\",status=\"200\"}"
        ) >= 1.0,
        "{after}"
    );
    assert!(!after.contains(&serial), "a serial in a label:\n{after}");
    let (_, _) = get(&app, "/no/such/page/12345").await;
    let (_, again) = http_get(addr, "/metrics").await;
    assert!(!again.contains("12345"), "{again}");
    assert!(again.contains("route=\"unmatched\""), "{again}");
    // The gauges read at scrape time.
    for gauge in [
        "topca_crl_age_seconds",
        "topca_crl_entries",
        "topca_crl_bytes",
        "topca_requests_awaiting_approval",
        "topca_password_hash_queue",
        "topca_db_pool_connections",
        "topca_db_pool_idle_connections",
    ] {
        assert!(samples.contains_key(gauge), "{gauge} missing:\n{after}");
    }
    assert_eq!(samples["topca_crl_entries"], 1.0, "{after}");
    assert!(samples["topca_crl_bytes"] > 100.0, "{after}");
    server.abort();
}

#[tokio::test]
async fn metrics_are_served_to_loopback_and_metrics_allow_only() {
    let data = tempfile::tempdir().unwrap();
    let mut opts = options(data.path());
    opts.metrics_allow = TrustedProxies::parse(&["10.9.0.0/16"]).unwrap();
    let (state, _) = start(&opts).unwrap();
    let app = topca_server::router(Arc::new(state));
    let scrape = |ip: &str| from_address(Request::get("/metrics").body(Body::empty()).unwrap(), ip);
    for (ip, expected) in [
        ("127.0.0.1", StatusCode::OK),
        ("::1", StatusCode::OK),
        ("10.9.3.4", StatusCode::OK),
        ("203.0.113.9", StatusCode::NOT_FOUND),
        ("10.8.0.1", StatusCode::NOT_FOUND),
    ] {
        let (status, body, _) = send(&app, scrape(ip)).await;
        assert_eq!(status, expected, "{ip}");
        if expected == StatusCode::NOT_FOUND {
            assert!(!text(&body).contains("topca_"), "{ip}");
        }
    }
    // Without a known peer, and through a local proxy, nobody is trusted.
    let (status, _) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut proxied = scrape("127.0.0.1");
    proxied
        .headers_mut()
        .insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
    let (status, _, _) = send(&app, proxied).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_failed_check_and_a_flood_shares_one_result() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let ready: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ready["status"], "ok");
    for check in ["database", "ca_key", "mail", "crl"] {
        assert_eq!(ready["checks"][check], "ok", "{ready}");
    }

    // The outbox folder becomes a file: mail cannot leave.
    let outbox = data.path().join("outbox");
    std::fs::rename(&outbox, data.path().join("outbox.moved")).unwrap();
    std::fs::write(&outbox, b"not a folder").unwrap();
    // Within the cache time the last result stands.
    let (status, _) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(topca_server::readiness::CACHE_FOR).await;
    // Fifty at once: one check runs, all get its answer.
    let calls = (0..50).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { get(&app, "/readyz").await })
    });
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", text(&body));
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["failed"], serde_json::json!(["mail"]), "{answer}");
        assert_eq!(answer["checks"]["database"], "ok", "{answer}");
    }
    std::fs::remove_file(&outbox).unwrap();
    std::fs::rename(data.path().join("outbox.moved"), &outbox).unwrap();
}

/// A self-signed P-256 certificate for `cn` written to `dir/tls.pem` and `dir/tls.key`.
fn tls_files(dir: &std::path::Path, cn: &str) {
    common::openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-days",
            "2",
            "-keyout",
            "tls.key.new",
            "-out",
            "tls.pem.new",
        ],
    );
    std::fs::rename(dir.join("tls.key.new"), dir.join("tls.key")).unwrap();
    std::fs::rename(dir.join("tls.pem.new"), dir.join("tls.pem")).unwrap();
}

/// The subject of the certificate a new TLS connection to `port` sees.
async fn served_subject(dir: &std::path::Path, port: u16) -> String {
    let dir = dir.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_files_are_reloaded_on_sighup_and_a_bad_file_keeps_the_old_certificate() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let f = files.path();
    tls_files(f, "first.example");
    let mut opts = common::options_on_free_port(data.path());
    opts.tls = topca_server::tls::TlsSource::Files {
        certificate: f.join("tls.pem"),
        key: f.join("tls.key"),
    };
    let port = opts.listen.port();
    let (state, _) = start(&opts).unwrap();
    let server = common::serve_https(&opts, Arc::new(state)).await;
    assert!(served_subject(f, port).await.contains("first.example"));

    tls_files(f, "second.example");
    let pid = std::process::id().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(hup.success());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(served_subject(f, port).await.contains("second.example"));

    // A broken key: the old certificate stays, after a signal and a poll.
    std::fs::write(f.join("tls.key"), "not a key").unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    tokio::time::sleep(topca_server::tls_reload::POLL + std::time::Duration::from_secs(1)).await;
    assert!(served_subject(f, port).await.contains("second.example"));

    // Fixed files are picked up by their modification time alone.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    tls_files(f, "third.example");
    tokio::time::sleep(topca_server::tls_reload::POLL + std::time::Duration::from_secs(1)).await;
    assert!(served_subject(f, port).await.contains("third.example"));
    server.abort();
}
