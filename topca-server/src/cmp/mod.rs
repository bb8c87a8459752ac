//! CMP over HTTP (RFC 6712, RFC 9811 paths): `POST /.well-known/cmp` and
//! `POST /.well-known/cmp/p/{profile}` (`tls-server`, `tls-client`) take a DER
//! PKIMessage (`application/pkixcmp`) and answer one, always with 200: a
//! refusal is a protected CMP error message (see [`topca_core::cmp`]).

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use topca_core::{ProfileKind, client::profile_by_name, cmp::Responder};

use crate::{AppError, AppState, state::blocking};

pub mod credential;

/// The media type of CMP messages (RFC 6712 §3.4).
pub const MEDIA_TYPE: &str = "application/pkixcmp";

/// The CMP routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/.well-known/cmp", post(default_profile))
        .route("/.well-known/cmp/p/{profile}", post(with_profile))
        .layer(DefaultBodyLimit::max(topca_core::cmp::MAX_MESSAGE))
}

async fn default_profile(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, AppError> {
    answer(state, ProfileKind::TlsServer, body).await
}

async fn with_profile(
    State(state): State<Arc<AppState>>,
    Path(profile): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let kind = profile_by_name(&profile).ok_or_else(|| {
        AppError::new(
            StatusCode::NOT_FOUND,
            "unknown CMP profile: use /.well-known/cmp/p/tls-server or /.well-known/cmp/p/tls-client",
        )
    })?;
    answer(state, kind, body).await
}

async fn answer(
    state: Arc<AppState>,
    kind: ProfileKind,
    body: Bytes,
) -> Result<Response, AppError> {
    let (der, effects) = blocking(&state, move |s| {
        Ok(Responder::new(&s.ca, &s.store, &s.master, kind).respond(&body))
    })
    .await?;
    if effects.revoked {
        state.crl_changed();
    }
    if der.is_empty() {
        return Err(AppError::internal("protect the CMP answer"));
    }
    Ok(([(header::CONTENT_TYPE, MEDIA_TYPE)], der).into_response())
}
