//! Machine issuance: a client presents its API token and a CSR, and gets the
//! certificate and chain in one call (`POST /api/v1/certificates`).
//!
//! The token is checked by one SHA-256 and one indexed look-up for every group
//! of calls issued together (no cache: a revoked client is refused from its
//! next request on, on every node), before its CSR is read; no password hash
//! runs. Unknown, malformed and revoked tokens take the same path and get the
//! same answer.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use topca_core::client::profile_by_name;
use utoipa::ToSchema;

use super::tags;
use crate::{AppError, AppState};

/// The largest body of a single issuance (a CSR of a 16,384-bit RSA key fits).
pub(super) const MAX_BODY: usize = 64 * 1024;

/// A certificate request from a machine client.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MachineRequest {
    /// PKCS#10 request (PEM); its CN (a host name) or first DNS name or IP
    /// address names the certificate, and every name must pass the account's
    /// and the client's policy.
    pub(super) csr: String,
    /// `tls-server`, `tls-client` or `short-lived` (one of the client's);
    /// absent: the client's default.
    #[serde(default)]
    #[schema(pattern = "^(tls-server|tls-client|short-lived)$")]
    pub(super) profile: Option<String>,
}

/// The certificate issued, with its chain.
#[derive(Serialize, ToSchema)]
pub(super) struct MachineIssued {
    /// The serial number, hexadecimal.
    serial: String,
    /// The certificate, PEM.
    certificate: String,
    /// The issuing CA's chain up to the root, issuing CA first, PEM.
    chain: String,
}

/// The client's token from `Authorization: Bearer …` (empty when absent, so
/// that it fails on the same path as a wrong one).
pub(crate) fn bearer(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .unwrap_or_default()
}

/// Issues a certificate for a machine client from a CSR, in one call: the
/// request is checked against the client's account policy (names, profile,
/// validity), recorded before it is signed, stored and audited, together with
/// the calls of the same moment (see [`crate::issue_group`]).
#[utoipa::path(post, path = "/api/v1/certificates", tag = tags::MACHINE,
    request_body = MachineRequest,
    security(("client_token" = [])),
    responses(
        (status = 201, description = "Issued and stored", body = MachineIssued),
        (status = 400, description = "A bad CSR (its signature included), an unknown profile, or a name outside the account's or the client's policy"),
        (status = 401, description = "No API token, or a wrong or revoked one"),
        (status = 403, description = "The client may not use that profile"),
    ))]
pub(super) async fn issue(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<MachineRequest>,
) -> Result<Response, AppError> {
    let token = zeroize::Zeroizing::new(bearer(&headers));
    let profile = match body.profile.as_deref() {
        None => None,
        Some(name) => Some(profile_by_name(name).ok_or_else(|| {
            AppError::localized(StatusCode::BAD_REQUEST, "clients.error.profile")
        })?),
    };
    let certificate = crate::issue_group::issue(&state, token, body.csr, profile).await?;
    Ok((
        StatusCode::CREATED,
        Json(MachineIssued {
            serial: certificate.serial_hex(),
            certificate: certificate.to_pem(),
            chain: state.ca.chain_pem(),
        }),
    )
        .into_response())
}
