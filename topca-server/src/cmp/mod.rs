//! CMP over HTTP (RFC 6712, RFC 9811 paths): `POST /.well-known/cmp` and
//! `POST /.well-known/cmp/p/{profile}` (`tls-server`, `tls-client`, and
//! `approval` for requests an RA administrator approves) take a DER
//! PKIMessage (`application/pkixcmp`) and answer one, always with 200: a
//! refusal is a protected CMP error message (see [`topca_core::cmp`]).

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use topca_core::{ProfileKind, client::profile_by_name, cmp::Responder};

use crate::{
    AppError, AppState,
    limits::ClientAddr,
    secret_limits::{Protocol, SourceGuard},
    state::blocking,
};

pub mod credential;
mod est;

/// The media type of CMP messages (RFC 6712 §3.4).
pub const MEDIA_TYPE: &str = "application/pkixcmp";

/// The CMP routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/.well-known/cmp", post(default_profile))
        .route("/.well-known/cmp/p/{profile}", post(with_profile))
        .route_layer(DefaultBodyLimit::max(topca_core::cmp::MAX_MESSAGE))
        .merge(est::routes())
}

async fn default_profile(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    body: Bytes,
) -> Result<Response, AppError> {
    answer(state, client, Path::Now(ProfileKind::TlsServer), body).await
}

async fn with_profile(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    axum::extract::Path(profile): axum::extract::Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    if profile == APPROVAL {
        return answer(state, client, Path::Approval, body).await;
    }
    // CMP issues the two long-lived TLS profiles (not short-lived ones).
    let kind = profile_by_name(&profile)
        .filter(|k| matches!(k, ProfileKind::TlsServer | ProfileKind::TlsClient))
        .ok_or_else(|| {
            AppError::new(
                StatusCode::NOT_FOUND,
                "unknown CMP profile: use /.well-known/cmp/p/tls-server, tls-client or approval",
            )
        })?;
    answer(state, client, Path::Now(kind), body).await
}

/// How long a CMP transaction is kept (its transactionID refused again): then
/// [`prune_transactions`] deletes it, unless it waits for approval.
pub const TRANSACTION_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(90 * 24 * 3600);

/// Deletes the CMP transactions begun more than [`TRANSACTION_RETENTION`]
/// ago, except those waiting for an RA administrator's approval; returns how
/// many (any node may run it: deleting twice deletes nothing more).
pub fn prune_transactions(state: &AppState) -> Result<u64, AppError> {
    use topca_core::store::CmpStore;
    let now = state.ca.environment().clock().now();
    let before = now.checked_sub(TRANSACTION_RETENTION).unwrap_or(now);
    Ok(state
        .store
        .prune_cmp_transactions(before)
        .map_err(topca_core::Error::from)?)
}

/// The profile path of requests that wait for an RA administrator's approval.
pub const APPROVAL: &str = "approval";

/// How a path issues.
#[derive(Clone, Copy)]
enum Path {
    /// At once, under this profile.
    Now(ProfileKind),
    /// After an RA administrator's approval (p10cr, then polling).
    Approval,
}

async fn answer(
    state: Arc<AppState>,
    client: ClientAddr,
    path: Path,
    body: Bytes,
) -> Result<Response, AppError> {
    let (der, effects) = blocking(&state, move |s| {
        let guard = SourceGuard::new(s, client, Protocol::Cmp);
        Ok(match path {
            Path::Now(kind) => Responder::new(&s.ca, &s.store, &s.master, kind)
                .with_guard(&guard)
                .respond(&body),
            Path::Approval => {
                let ra = s.ra();
                Responder::new(&s.ca, &s.store, &s.master, ProfileKind::TlsServer)
                    .with_approval(&ra)
                    .with_guard(&guard)
                    .respond(&body)
            }
        })
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
