//! The pages' style sheet and script, served as files (the Content-Security-Policy
//! of [`crate::headers`] allows no inline script or style): `page.js` for the
//! pages' small behaviours and `csr.js` for key pairs made in the browser.

use std::sync::Arc;

use axum::{
    Router,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::AppState;

/// Where the layout links the style sheet.
pub const STYLE: &str = "/TopCA/assets/page.css";
/// Where the layout loads the pages' script.
pub const SCRIPT: &str = "/TopCA/assets/page.js";
/// Where pages that make a key pair in the browser load its script.
pub const CSR_SCRIPT: &str = "/TopCA/assets/csr.js";
/// The SM2 key generator `csr.js` loads (`topca-sm2-web` built by `scripts/build-wasm`).
pub const SM2_WASM: &str = "/TopCA/assets/topca_sm2_web.wasm";

/// The asset routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            STYLE,
            get(|| asset("text/css; charset=utf-8", include_str!("assets/page.css"))),
        )
        .route(
            SCRIPT,
            get(|| asset(JAVASCRIPT, include_str!("assets/page.js"))),
        )
        .route(
            CSR_SCRIPT,
            get(|| asset(JAVASCRIPT, include_str!("assets/csr.js"))),
        )
        .route(
            SM2_WASM,
            get(|| {
                asset(
                    "application/wasm",
                    include_bytes!("assets/topca_sm2_web.wasm").as_slice(),
                )
            }),
        )
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

async fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
