//! The pages' style sheet and scripts, served as files (the Content-Security-Policy
//! of [`crate::headers`] allows no inline script or style): `page.js` for the
//! pages' small behaviours and `csr.js` for key pairs made in the browser.
//!
//! Pages link every asset by a versioned URL (`?v=` and the first 16 hex digits
//! of its SHA-256, [`versioned`]). An answer to the current version may be kept
//! for a year (`immutable`): a new build links a new URL. Any other URL answers
//! `no-cache` with an `ETag`, so a stale link is revalidated.

use std::{collections::HashMap, sync::Arc, sync::LazyLock};

use axum::{
    Router,
    extract::RawQuery,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use sha2::{Digest, Sha256};

use crate::AppState;

/// Where the layout links the style sheet.
pub const STYLE: &str = "/TopCA/assets/page.css";
/// Where the layout loads the pages' script.
pub const SCRIPT: &str = "/TopCA/assets/page.js";
/// Where pages that make a key pair in the browser load its script.
pub const CSR_SCRIPT: &str = "/TopCA/assets/csr.js";
/// The SM2 key generator `csr.js` loads (`topca-sm2-web` built by `scripts/build-wasm`).
pub const SM2_WASM: &str = "/TopCA/assets/topca_sm2_web.wasm";

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// Every asset: (route, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        STYLE,
        "text/css; charset=utf-8",
        include_bytes!("assets/page.css"),
    ),
    (SCRIPT, JAVASCRIPT, include_bytes!("assets/page.js")),
    (CSR_SCRIPT, JAVASCRIPT, include_bytes!("assets/csr.js")),
    (
        SM2_WASM,
        "application/wasm",
        include_bytes!("assets/topca_sm2_web.wasm"),
    ),
];

/// Each asset's version: the first 16 hex digits of its SHA-256, by route.
static VERSIONS: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|(route, _, bytes)| {
            let digest = Sha256::digest(bytes);
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            (*route, hex)
        })
        .collect()
});

/// The URL of the asset at `route` with its version, for pages to link.
pub fn versioned(route: &str) -> String {
    match VERSIONS.get(route) {
        Some(version) => format!("{route}?v={version}"),
        None => route.to_owned(),
    }
}

/// The asset routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(STYLE, get(|q: RawQuery, h: HeaderMap| asset(STYLE, q, h)))
        .route(SCRIPT, get(|q: RawQuery, h: HeaderMap| asset(SCRIPT, q, h)))
        .route(
            CSR_SCRIPT,
            get(|q: RawQuery, h: HeaderMap| asset(CSR_SCRIPT, q, h)),
        )
        .route(
            SM2_WASM,
            get(|q: RawQuery, h: HeaderMap| asset(SM2_WASM, q, h)),
        )
}

async fn asset(route: &'static str, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let Some(&(_, content_type, bytes)) = ASSETS.iter().find(|(r, _, _)| *r == route) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let version = VERSIONS.get(route).map_or("", String::as_str);
    let etag = format!("\"{version}\"");
    let current = query.as_deref() == Some(&format!("v={version}"));
    let cache = if current {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    if unchanged {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, cache.to_owned()),
            ],
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CACHE_CONTROL, cache.to_owned()),
            (header::ETAG, etag),
        ],
        bytes,
    )
        .into_response()
}
