//! TopCA reference server: the user and server certificate enrollment centres
//! (`/TopCA/userEnroll`, `/TopCA/serverEnroll`) as server-rendered pages, a JSON REST API (`/api/v1`),
//! the CA chain and CRL at stable URLs, and an OCSP responder.
//!
//! [`setup::start`] prepares everything on first start (data directory, SQLite
//! database, root and issuing CA, KMC master key, a demo account, a mail outbox)
//! and loads it on later starts; [`router`] serves it.

pub mod admin;
mod api;
mod error;
mod html;
mod pki;
mod server_enroll;
pub mod setup;
mod state;
pub mod tls;
mod user;
mod user_more;

use std::sync::Arc;

use axum::Router;

pub use error::AppError;
pub use state::AppState;

/// Every route of the server.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(pki::routes())
        .merge(user::routes())
        .merge(user_more::routes())
        .merge(server_enroll::routes())
        .merge(api::routes())
        .merge(admin::routes())
        .with_state(state)
}

/// Keeps the published CRLs fresh without traffic: every `every` the current CRL
/// (and delta CRL) is made anew when half its life has passed.
pub async fn refresh_crls(state: Arc<AppState>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let _ = state::blocking(&state, |s| {
            pki::current(s)?;
            if s.publishes_deltas() {
                pki::current_delta(s)?;
            }
            Ok(())
        })
        .await;
    }
}
