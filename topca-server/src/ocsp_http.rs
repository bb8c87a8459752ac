//! The OCSP responder over HTTP (RFC 6960 appendix A, RFC 5019): POST with the
//! DER request as the body, GET with it base64 in the URL. Pre-signed answers to
//! a GET carry HTTP caching headers up to their nextUpdate (RFC 5019 §6.2), so
//! caches and CDNs in front of the CA can serve them too; answers signed for the
//! request (a nonce, several certificates) carry none. A pre-signed response
//! kept in memory is served on the request's own thread; everything else
//! (the store, signing) runs on the blocking pool.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use topca_core::{format_http_date, ocsp::CachedResponse};

use crate::{AppError, AppState, ocsp_cache, state::blocking};

/// The largest POST body taken (a request about 32 certificates, signed, fits
/// many times); larger ones get 413.
pub const MAX_REQUEST: usize = 16 * 1024;
/// The media type of an OCSP response.
const OCSP_RESPONSE: &str = "application/ocsp-response";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/TopCA/ocsp",
            post(ocsp_post).layer(DefaultBodyLimit::max(MAX_REQUEST)),
        )
        .route("/TopCA/ocsp/{request}", get(ocsp_get))
}

async fn ocsp_post(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, AppError> {
    let answer = match ocsp_cache::from_memory(&state, &body) {
        Some(answer) => answer,
        None => blocking(&state, move |state| ocsp_cache::answer(state, &body)).await?,
    };
    Ok((
        [(header::CONTENT_TYPE, OCSP_RESPONSE)],
        Bytes::from_owner(answer.der),
    )
        .into_response())
}

async fn ocsp_get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(request): Path<String>,
) -> Result<Response, AppError> {
    // RFC 6960 appendix A.1: the DER request, base64, URL-encoded (axum decoded it).
    let der = base64::engine::general_purpose::STANDARD
        .decode(request.trim())
        .unwrap_or_default();
    let answer = match ocsp_cache::from_memory(&state, &der) {
        Some(answer) => answer,
        None => blocking(&state, move |state| ocsp_cache::answer(state, &der)).await?,
    };
    let Some(presigned) = answer.presigned else {
        return Ok((
            [(header::CONTENT_TYPE, OCSP_RESPONSE)],
            Bytes::from_owner(answer.der),
        )
            .into_response());
    };
    let now = state.ca.environment().clock().now();
    let mut response = if if_none_match(&headers, &presigned.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, OCSP_RESPONSE)],
            Bytes::from_owner(answer.der),
        )
            .into_response()
    };
    let caching = response.headers_mut();
    for (name, value) in caching_headers(&presigned, now) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            caching.insert(name, value);
        }
    }
    Ok(response)
}

/// The caching headers of a pre-signed response served at `now`: fresh until
/// its nextUpdate, then to be fetched again (RFC 5019 §6.2).
fn caching_headers(
    response: &CachedResponse,
    now: std::time::SystemTime,
) -> [(header::HeaderName, String); 4] {
    let left = response
        .next_update
        .duration_since(now)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    [
        (
            header::CACHE_CONTROL,
            format!("max-age={left}, public, no-transform, must-revalidate"),
        ),
        (
            header::LAST_MODIFIED,
            format_http_date(response.this_update),
        ),
        (header::EXPIRES, format_http_date(response.next_update)),
        (header::ETAG, response.etag.clone()),
    ]
}

/// Whether `If-None-Match` names `etag` (or `*`).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}
