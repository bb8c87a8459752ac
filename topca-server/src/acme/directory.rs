//! The directory (RFC 8555 §7.1.1) of each ACME profile, with the certificate
//! profiles it offers in `meta.profiles` (draft-ietf-acme-profiles), and new
//! nonces (§7.2).

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde_json::json;

use super::{Reply, answer, base, directory_url, profile_client};
use crate::AppState;

/// `GET /acme/directory`: the default profile's directory.
pub(super) async fn default_directory(State(state): State<Arc<AppState>>) -> Response {
    directory_of(state, String::new()).await
}

/// `GET /acme/{profile}/directory`.
pub(super) async fn directory(
    State(state): State<Arc<AppState>>,
    Path(profile): Path<String>,
) -> Response {
    directory_of(state, profile).await
}

async fn directory_of(state: Arc<AppState>, profile: String) -> Response {
    let index = directory_url(&state, &profile);
    answer(state, index, move |s| {
        let client = profile_client(s, &profile)?;
        let profiles = super::profiles::meta(s, &client)?;
        let base = base(s);
        let new_account = if profile.is_empty() {
            format!("{base}/new-account")
        } else {
            format!("{base}/{profile}/new-account")
        };
        Ok(Reply::json(
            StatusCode::OK,
            json!({
                "newNonce": format!("{base}/new-nonce"),
                "newAccount": new_account,
                "newOrder": format!("{base}/new-order"),
                "revokeCert": format!("{base}/revoke-cert"),
                "keyChange": format!("{base}/key-change"),
                "renewalInfo": format!("{base}/renewal-info"),
                "meta": {"externalAccountRequired": false, "profiles": profiles},
            }),
        ))
    })
    .await
}

/// `HEAD /acme/new-nonce`: 200 with a fresh nonce in `Replay-Nonce`.
pub(super) async fn head_nonce(State(state): State<Arc<AppState>>) -> Response {
    let index = directory_url(&state, "");
    answer(state, index, |_| Ok(Reply::empty())).await
}

/// `GET /acme/new-nonce`: 204 with a fresh nonce in `Replay-Nonce`.
pub(super) async fn get_nonce(State(state): State<Arc<AppState>>) -> Response {
    let index = directory_url(&state, "");
    answer(state, index, |_| {
        Ok(Reply::empty().with(StatusCode::NO_CONTENT))
    })
    .await
}
