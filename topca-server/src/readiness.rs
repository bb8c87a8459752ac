//! `GET /readyz`: whether this node can do its work — the database answers, the
//! CA key signs, mail can leave, and the full CRL is current. 200 with each
//! check `ok`, or 503 naming the checks that failed (details stay out of the
//! answer). Results are kept [`CACHE_FOR`], and concurrent calls wait for one
//! check instead of each running their own, so a flood of `/readyz` costs
//! neither the database nor the SMTP server anything.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::AppState;
use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// How long a result is served before the checks run again.
pub const CACHE_FOR: Duration = Duration::from_secs(5);
/// How long the database check waits for a pooled connection.
const DB_WAIT: Duration = Duration::from_secs(2);
/// What the CA key signs to show it works.
const PROBE: &[u8] = b"TopCA readiness probe";

/// The outcome of the checks, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `database`, `ca_key`, `mail`, `crl` (and `pkcs11_token` when the CA key
    /// is in a token), each `ok` or `failed`.
    pub checks: Vec<(&'static str, bool)>,
}

impl Report {
    /// Whether every check passed.
    pub fn ready(&self) -> bool {
        self.checks.iter().all(|(_, ok)| *ok)
    }
}

/// The cached last report.
#[derive(Debug, Default)]
pub struct Readiness {
    last: tokio::sync::Mutex<Option<(Instant, Report)>>,
}

/// `GET /readyz`.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let report = {
        // Held while the checks run: concurrent calls wait and share the result.
        let mut last = state.readiness.last.lock().await;
        match last.as_ref().filter(|(at, _)| at.elapsed() < CACHE_FOR) {
            Some((_, report)) => report.clone(),
            None => {
                let report = crate::state::blocking(&state, |s| Ok(check(s)))
                    .await
                    .unwrap_or_else(|_| Report {
                        checks: vec![("checks", false)],
                    });
                *last = Some((Instant::now(), report.clone()));
                report
            }
        }
    };
    let checks: serde_json::Map<String, serde_json::Value> = report
        .checks
        .iter()
        .map(|(name, ok)| ((*name).to_owned(), if *ok { "ok" } else { "failed" }.into()))
        .collect();
    if report.ready() {
        let body = serde_json::json!({"status": "ok", "checks": checks});
        (StatusCode::OK, Json(body)).into_response()
    } else {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| *name)
            .collect();
        let body = serde_json::json!({"status": "unavailable", "failed": failed, "checks": checks});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// Runs every check now (blocking).
pub fn check(state: &AppState) -> Report {
    let mut checks = vec![
        ("database", state.store.ping(DB_WAIT).is_ok()),
        ("ca_key", ca_key_signs(state)),
        ("mail", state.outbox.check_transport().is_ok()),
        ("crl", crl_current(state)),
    ];
    // When the CA key is in a PKCS#11 token: the token answers, logged in.
    if let Some(ready) = crate::hsm::token_ready(state.ca.key()) {
        checks.push(("pkcs11_token", ready));
    }
    Report { checks }
}

/// The CA key signs, and its certificate's public key verifies the signature.
fn ca_key_signs(state: &AppState) -> bool {
    let key = state.ca.key();
    key.sign_bytes(PROBE).is_ok_and(|signature| {
        state.ca.certificate().public_key().is_ok_and(|public| {
            public
                .verify(key.signature_algorithm(), PROBE, signature.as_bytes())
                .is_ok()
        })
    })
}

/// The full CRL this node serves (its copy, a newer stored one, or one made
/// now when due, as a request for it would get): its nextUpdate has not passed
/// and it is younger than a CRL's validity. A node that can neither find nor
/// publish a current CRL fails here.
fn crl_current(state: &AppState) -> bool {
    let now = state.ca.environment().clock().now();
    let Ok(crl) = crate::pki::current(state) else {
        return false;
    };
    let age = now.duration_since(crl.info.this_update).unwrap_or_default();
    now < crl.info.next_update && age < crate::crl_sync::CRL_VALIDITY
}
