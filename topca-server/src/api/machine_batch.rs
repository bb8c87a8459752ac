//! Batch machine issuance: up to 1,000 CSRs in one call
//! (`POST /api/v1/certificates/batch`), each checked like a single one, the
//! valid ones issued on every core and stored a chunk per transaction
//! ([`topca_core::client::Clients::issue_batch`]). The answer has one result per request, in
//! order: a certificate or the error of that request alone.
//!
//! The token is checked before the body is read as JSON, so a caller without
//! a valid token learns nothing about the body's checks.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use topca_core::client::{BatchRequest, ClientRegistry, MAX_BATCH};
use utoipa::ToSchema;

use super::{machine::MachineRequest, tags};
use crate::{
    AppError, AppState,
    problem::{Language, log_internal, problem, request_id},
    state::blocking,
};

/// The largest body of a batch: 1,000 requests of 8 KiB each on average (a
/// PEM CSR of an RSA-8192 key is some 3.2 KiB, of a P-256 key 0.5 KiB).
pub(super) const MAX_BODY: usize = MAX_BATCH * 8 * 1024;

/// Up to 1,000 certificate requests from a machine client.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchBody {
    /// The requests, 1 to 1,000 of them, each as for a single issuance.
    requests: Vec<MachineRequest>,
}

/// The results of a batch, one per request in the order of the requests.
#[derive(Serialize, ToSchema)]
pub(super) struct BatchIssued {
    /// One result per request.
    results: Vec<BatchResult>,
    /// The issuing CA's chain up to the root, issuing CA first, PEM.
    chain: String,
}

/// The result of one request: `serial` and `certificate`, or `error`.
#[derive(Serialize, ToSchema)]
pub(super) struct BatchResult {
    /// The request's position in the batch, from 0.
    index: usize,
    /// The serial number, hexadecimal, when issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    serial: Option<String>,
    /// The certificate, PEM, when issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<String>,
    /// Why this request was refused or failed (the others are not affected).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ItemError>,
}

/// The error of one request of a batch.
#[derive(Serialize, ToSchema)]
pub(super) struct ItemError {
    /// The stable machine code, as in problem documents.
    code: &'static str,
    /// The HTTP status this error would have on its own.
    status: u16,
    /// What went wrong, in the language of `Accept-Language`.
    message: String,
}

/// Issues certificates for up to 1,000 CSRs of a machine client in one call.
/// Each request is checked against the client's account policy exactly like a
/// single issuance and gets its own result; the valid ones are recorded before
/// they are signed, signed on every core, and stored with their audit entries
/// one transaction per chunk of 200.
#[utoipa::path(post, path = "/api/v1/certificates/batch", tag = tags::MACHINE,
    request_body = BatchBody,
    security(("client_token" = [])),
    responses(
        (status = 200, description = "One result per request, in order: the certificate, or that request's error", body = BatchIssued),
        (status = 400, description = "Not the JSON of a batch, or no requests in it"),
        (status = 401, description = "No API token, or a wrong or revoked one"),
        (status = 413, description = "More than 1,000 requests, or a body over 8 MiB"),
    ))]
pub(super) async fn issue_batch(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let token = zeroize::Zeroizing::new(super::machine::bearer(&headers));
    let client = blocking(&state, move |s| {
        let env = s.ca.environment();
        Ok(ClientRegistry::new(&s.store, env.random(), env.clock()).authenticate(&token)?)
    })
    .await?;
    let body: BatchBody = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request(format!(
            "the body is not a batch {{\"requests\": [{{\"csr\": PEM, \"profile\": optional}}, ...]}}: {e}"
        ))
    })?;
    if body.requests.is_empty() {
        return Err(AppError::bad_request("the batch has no requests"));
    }
    if body.requests.len() > MAX_BATCH {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the batch has {} requests; at most {MAX_BATCH} are taken in one call",
                body.requests.len()
            ),
        ));
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let (issued, chain) = blocking(&state, move |s| {
        let requests: Vec<BatchRequest<'_>> = body
            .requests
            .iter()
            .map(|r| BatchRequest {
                csr: r.csr.as_bytes(),
                profile: r.profile.as_deref(),
            })
            .collect();
        let issued = crate::ocsp_cache::issuing(s, |clients| {
            clients.issue_batch(&client, &requests, threads)
        })?;
        Ok((issued, s.ca.chain_pem()))
    })
    .await?;
    let language = Language::of(&headers);
    let correlation_id = request_id(&headers);
    let results = issued
        .into_iter()
        .enumerate()
        .map(|(index, result)| match result {
            Ok(certificate) => BatchResult {
                index,
                serial: Some(certificate.serial_hex()),
                certificate: Some(certificate.to_pem()),
                error: None,
            },
            Err(error) => {
                let error = AppError::from(error);
                if error.is_internal() {
                    log_internal(
                        &error,
                        &correlation_id,
                        "POST",
                        "/api/v1/certificates/batch",
                    );
                }
                let problem = problem(&error, language, &correlation_id);
                BatchResult {
                    index,
                    serial: None,
                    certificate: None,
                    error: Some(ItemError {
                        code: error.code,
                        status: problem.status,
                        message: problem.detail,
                    }),
                }
            }
        })
        .collect();
    Ok((StatusCode::OK, Json(BatchIssued { results, chain })).into_response())
}
