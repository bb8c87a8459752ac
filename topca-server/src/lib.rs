//! TopCA reference server: the user and server certificate enrollment centres
//! (`/TopCA/userEnroll`, `/TopCA/serverEnroll`) as server-rendered pages, a JSON REST API (`/api/v1`),
//! the CA chain and CRL at stable URLs, and an OCSP responder.
//!
//! [`setup::start`] prepares everything on first start (data directory, SQLite
//! database, root and issuing CA, KMC master key, a mail outbox; demo accounts
//! with `--demo`)
//! and loads it on later starts; [`router`] serves it.

pub mod acme;
pub mod admin;
mod admin_accounts;
mod admin_audit;
mod admin_bulk;
mod admin_bulk_run;
mod admin_certificates;
mod admin_checkpoints;
mod admin_clients;
mod admin_cmp;
mod admin_credentials;
mod admin_eab;
mod admin_kmc;
mod admin_list;
mod admin_preregister;
mod admin_ra;
mod admin_requests;
mod admin_resend;
mod admin_review;
mod admin_session;
mod admin_super;
mod api;
mod assets;
mod audit_detail;
pub mod audit_log;
pub mod backup;
pub mod ca_init;
pub mod cluster_lease;
pub mod cmp;
pub mod config;
pub mod crl_sync;
pub mod data_lock;
pub mod demo;
pub mod error;
mod files;
pub mod hashing;
pub mod headers;
pub mod hsm;
pub(crate) mod hsm_data;
mod html;
pub mod i18n;
pub mod issuances;
pub mod issue_group;
pub mod lifecycle;
pub mod limits;
pub mod liveness;
pub mod logging;
pub mod machine_clients;
mod mail_limits;
pub mod mail_outbox;
pub mod metrics;
pub mod nodes;
pub mod ocsp_cache;
pub mod ocsp_http;
pub mod ocsp_responder;
mod options;
mod pki;
pub mod problem;
pub mod proxies;
pub mod readiness;
pub mod restore;
pub mod secret_limits;
pub mod serve;
mod server_enroll;
pub mod setup;
mod state;
pub mod tls;
pub mod tls_reload;
pub mod tls_root;
mod user;

use std::sync::Arc;

use axum::Router;

pub use error::AppError;
pub use html::url_encode;
pub use state::AppState;

/// Every route of the server.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", axum::routing::get(html::landing))
        .merge(pki::routes())
        .merge(user::routes())
        .merge(server_enroll::routes())
        .merge(api::routes())
        .merge(admin::routes())
        .merge(assets::routes())
        .merge(tls_root::routes())
        .merge(admin_resend::routes())
        .merge(admin_clients::routes())
        .merge(admin_cmp::routes())
        .merge(admin_eab::routes())
        .merge(audit_log::routes())
        .merge(liveness::routes())
        .merge(cmp::routes())
        .route("/readyz", axum::routing::get(readiness::readyz))
        .route("/metrics", axum::routing::get(metrics::scrape))
        .merge(acme::routes())
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            mail_limits::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            headers::secure,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            proxies::forwarded,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            metrics::track,
        ))
        // Every error below it is rendered (problem documents for the API) and
        // logged under the request id that the outermost layer set.
        .layer(axum::middleware::from_fn(problem::render))
        // Outermost: every answer, refusals of the layers above included, is logged.
        .layer(axum::middleware::from_fn(logging::requests))
        .with_state(state)
}

/// Minutes between audit checkpoints made by [`refresh_crls`] when the log grew.
pub const AUDIT_CHECKPOINT_MINUTES: u64 = 10;

/// Keeps the published CRLs fresh without traffic: every
/// [`crl_sync::CRL_TICK_SECS`] a certificate revoked on any node since the newest
/// CRL leads to a new one ([`crl_sync::tick`], one node at a time); on the CRL
/// schedule ([`AppState::crl_schedule_minutes`], read anew each time) the current
/// CRL (and delta CRL) is made anew when half its life has passed. At every tick
/// the OCSP responder is replaced when due ([`ocsp_responder::rotate_if_due`]) and
/// OCSP responses are pre-signed ([`ocsp_cache::tick`]). Every
/// [`AUDIT_CHECKPOINT_MINUTES`] the audit log gets a signed checkpoint if it grew
/// and old CMP transactions are pruned ([`cmp::prune_transactions`]).
/// Returns when `stop` fires, after the run under way; failures are logged and
/// retried at the next tick.
pub async fn refresh_crls(state: Arc<AppState>, mut stop: lifecycle::Stop) {
    let mut waited = 0u64;
    let mut since_checkpoint = 0u64;
    loop {
        // Short ticks, so a revocation elsewhere and a changed schedule apply soon.
        let tick = std::time::Duration::from_secs(crl_sync::CRL_TICK_SECS);
        if !stop.sleep(tick).await {
            return;
        }
        waited += crl_sync::CRL_TICK_SECS;
        since_checkpoint += crl_sync::CRL_TICK_SECS;
        logged("CRL tick", state::blocking(&state, crl_sync::tick).await);
        logged(
            "OCSP responder rotation",
            state::blocking(&state, ocsp_responder::rotate_if_due).await,
        );
        logged(
            "OCSP pre-signing",
            state::blocking(&state, ocsp_cache::tick).await,
        );
        if since_checkpoint >= AUDIT_CHECKPOINT_MINUTES * 60 {
            since_checkpoint = 0;
            // Verification reports what the file lacks meanwhile.
            let made = state::blocking(&state, |s| {
                audit_log::checkpoint_if_grown(s).map_err(|e| {
                    tracing::error!(error = %e, "cannot write the audit checkpoint");
                    AppError::internal("write the audit checkpoint")
                })
            })
            .await;
            logged("audit checkpoint", made);
            logged(
                "CMP transaction pruning",
                state::blocking(&state, cmp::prune_transactions).await,
            );
        }
        let minutes = state
            .crl_schedule_minutes
            .load(std::sync::atomic::Ordering::Relaxed);
        if waited < minutes * 60 {
            continue;
        }
        waited = 0;
        let renewed = state::blocking(&state, |s| {
            pki::current(s)?;
            if s.publishes_deltas() {
                pki::current_delta(s)?;
            }
            Ok(())
        })
        .await;
        logged("scheduled CRL renewal", renewed);
    }
}

/// Logs a background job's failure (it is retried at its next run).
fn logged<T>(job: &str, outcome: Result<T, AppError>) {
    if let Err(e) = outcome {
        tracing::error!(
            job,
            status = e.status.as_u16(),
            error = e.detail.as_deref().unwrap_or(&e.message),
            "background job failed"
        );
    }
}
