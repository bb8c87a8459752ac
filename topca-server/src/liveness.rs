//! `GET /healthz`: liveness for container and systemd probes. It answers `200 ok`
//! while the server accepts and serves requests, and touches neither the
//! database nor the CA key, so a probe can neither load nor lock them.

use std::sync::Arc;

use axum::{Router, routing::get};

use crate::AppState;

/// The path of the liveness probe.
pub const HEALTHZ: &str = "/healthz";

/// The liveness route.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route(HEALTHZ, get(|| async { "ok" }))
}
