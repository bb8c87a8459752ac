//! Starting the server: options from the config file, then variables, then
//! flags; and HTTPS with a certificate from the server's own CA.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use common::{https_get, https_options, serve_https};
use topca_core::store::CertificateStore;
use topca_server::setup::{Options, start};

#[test]
fn options_come_from_the_config_file_then_variables_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("topca.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:9443\"\nalgorithm = \"p384\"\nocsp_algorithm = \"p256\"\ndelta_crl = true\n[mail]\nfrom = \"CA <ca@example.cn>\"\n",
    )
    .unwrap();
    let args = |extra: &[&str]| {
        let mut all = vec!["--data-dir".to_owned(), dir.path().display().to_string()];
        all.extend(extra.iter().map(|s| (*s).to_owned()));
        all
    };
    let from_file = Options::parse(args(&[])).unwrap();
    assert_eq!(from_file.listen.port(), 9443);
    assert_eq!(from_file.algorithm, topca_core::KeyAlgorithm::EcdsaP384);
    assert_eq!(
        from_file.ocsp_algorithm,
        Some(topca_core::KeyAlgorithm::EcdsaP256)
    );
    assert!(from_file.delta_crl);
    assert_eq!(from_file.crl_refresh, std::time::Duration::from_secs(600));
    assert_eq!(from_file.mail_from, "CA <ca@example.cn>");
    let flagged =
        Options::parse(args(&["--algorithm", "sm2", "--listen", "127.0.0.1:9000"])).unwrap();
    assert_eq!(flagged.algorithm, topca_core::KeyAlgorithm::Sm2);
    assert_eq!(flagged.listen.port(), 9000);

    std::fs::write(&config, "ocsp_algorithm = \"dsa\"\n").unwrap();
    let err = Options::parse(args(&[])).unwrap_err().to_string();
    assert!(
        err.contains("OCSP responder") && err.contains("\"dsa\""),
        "{err}"
    );
    std::fs::write(&config, "listen = \"127.0.0.1:1\"\ncolour = \"red\"\n").unwrap();
    let err = Options::parse(args(&[])).unwrap_err().to_string();
    assert!(
        err.contains("topca.toml") && err.contains("colour"),
        "{err}"
    );
    std::fs::remove_file(&config).unwrap();
    let err = Options::parse(args(&["--algorithm", "dsa"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not one of"), "{err}");
    let err = Options::parse(args(&["--bogus"])).unwrap_err().to_string();
    assert!(err.contains("unknown option --bogus"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_certificate_from_its_own_ca() {
    let data = tempfile::tempdir().unwrap();
    let opts = https_options(data.path());
    let port = opts.listen.port();
    let (state, report) = start(&opts).unwrap();
    assert!(
        report
            .iter()
            .any(|l| l.contains(&format!("https://127.0.0.1:{port}/TopCA/userEnroll"))),
        "{report:?}"
    );
    let root = state.root.to_pem();
    let state = Arc::new(state);
    let server = serve_https(&opts, Arc::clone(&state)).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("root.pem"), root).unwrap();
    let dir = work.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let verify = [
            "-CAfile",
            "root.pem",
            "-verify_return_error",
            "-verify_ip",
            "127.0.0.1",
        ];
        https_get(&dir, port, "/TopCA/ca/chain.pem", &verify)
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("HTTP/1.1 200") && text.contains("BEGIN CERTIFICATE"),
        "{text}"
    );
    assert!(text.contains("verify return:1"), "{text}");
    server.abort();
    // The server's own TLS certificate was recorded before it was signed, then
    // stored and audited like the OCSP responder's.
    common::assert_every_certificate_recorded(&state, 0);
    let own = state
        .store
        .certificates_by_holder_name("127.0.0.1")
        .unwrap();
    assert!(
        own.iter()
            .any(|c| c.usage == topca_core::lifecycle::CertificateUsage::OwnTls),
        "{own:?}"
    );
}
