//! The browser's SM2 key generator as the server delivers it: the committed
//! WebAssembly file with its type and cache header, a Content-Security-Policy
//! that lets it compile (and nothing more), and the generator on the pages
//! that take a request, SM2 first under an SM2 CA. The key generation itself
//! runs in Chromium (`e2e/centres.mjs`) and natively in `topca-sm2-web`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{get, options, send, text};
use topca_core::KeyAlgorithm;
use topca_server::setup::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wasm_generator_is_served_with_its_type_and_the_csp_lets_only_wasm_compile() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    let request = Request::get("/TopCA/assets/topca_sm2_web.wasm")
        .body(Body::empty())
        .unwrap();
    let (status, body, headers) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/wasm");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert_eq!(
        body,
        include_bytes!("../src/assets/topca_sm2_web.wasm").as_slice()
    );
    assert!(body.starts_with(b"\0asm"), "a WebAssembly module");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
        "{csp}"
    );
    assert!(
        !csp.contains("'unsafe-eval'") && !csp.contains("'unsafe-inline'"),
        "{csp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_pages_offer_the_generator_with_sm2_first_under_an_sm2_ca() {
    for (algorithm, sm2_selected) in [(KeyAlgorithm::Sm2, true), (KeyAlgorithm::EcdsaP256, false)] {
        let data = tempfile::tempdir().unwrap();
        let mut options = options(data.path());
        options.algorithm = algorithm;
        let (state, _) = start(&options).unwrap();
        let app = topca_server::router(Arc::new(state));
        for path in ["/TopCA/userEnroll/retrieve", "/TopCA/userEnroll/passcode"] {
            let (status, body) = get(&app, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            let page = text(&body);
            assert!(page.contains(r#"id="generate-key""#), "{path}: {page}");
            assert!(page.contains(r#"id="key-password""#), "{path}");
            assert!(page.contains("/TopCA/assets/csr.js"), "{path}");
            assert_eq!(
                page.contains(r#"<option value="sm2" selected>"#),
                sm2_selected,
                "{algorithm:?} {path}"
            );
            assert!(page.contains(r#"<option value="sm2""#), "{path}");
        }
    }
}
