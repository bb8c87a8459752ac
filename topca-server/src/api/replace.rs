//! Replacement (a lost or compromised certificate revoked and replaced after a
//! mailed confirmation link) and the recovery of an escrowed encryption key.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::{Deserialize, Serialize};
use topca_core::{
    CertificateRequest,
    lifecycle::RevocationReason,
    ra::{AccountId, ReplacementOutcome},
};
use utoipa::{IntoParams, ToSchema};

use super::{AccountPath, Applied, CertificateView, EncryptionView, RecordView, tags};
use crate::{AppError, AppState, limits::ClientAddr, state::blocking};

/// The holder who asks for a replacement.
#[derive(Deserialize, ToSchema)]
pub(super) struct ReplacementStart {
    /// The holder's name.
    name: String,
    /// The holder's e-mail: the confirmation link is mailed there.
    email: String,
}

/// Starts a replacement: a confirmation link is mailed to the holder.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/replacements", tag = tags::USER,
    params(AccountPath),
    request_body = ReplacementStart,
    responses(
        (status = 200, description = "The link is mailed (the answer is the same whether the holder has certificates or not)", body = Applied),
        (status = 400, description = "A field is invalid"),
        (status = 404, description = "No such account"),
        (status = 429, description = "Too many mails to this address or from this client"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
pub(super) async fn start_replacement(
    State(state): State<Arc<AppState>>,
    Path(AccountPath { id }): Path<AccountPath>,
    Json(body): Json<ReplacementStart>,
) -> Result<Json<Applied>, AppError> {
    let request = blocking(&state, move |s| {
        Ok(s.ra()
            .start_replacement(AccountId(id), &body.name, &body.email)?)
    })
    .await?;
    Ok(Json(Applied {
        request: request.0,
        state: "waiting for its confirmation link to be used",
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TokenParam {
    /// The token of the mailed confirmation link.
    token: String,
}

/// The certificates a confirmation token may replace.
#[utoipa::path(get, path = "/api/v1/replacements", tag = tags::USER, params(TokenParam),
    responses(
        (status = 200, description = "The holder's certificates", body = Vec<RecordView>),
        (status = 400, description = "The link expired or was used"),
        (status = 403, description = "Locked after failed attempts"),
        (status = 404, description = "No replacement has this token"),
        (status = 429, description = "Too many attempts from this client"),
    ))]
pub(super) async fn replacement_candidates(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Query(q): Query<TokenParam>,
) -> Result<Json<Vec<RecordView>>, AppError> {
    let source = state.holder_secret_source(client)?;
    let (_, found) = blocking(&state, move |s| {
        Ok(s.ra().for_client(source).confirm_replacement(&q.token)?)
    })
    .await?;
    Ok(Json(found.into_iter().map(RecordView::from).collect()))
}

/// The certificate to replace, and what replaces it.
#[derive(Deserialize, ToSchema)]
pub(super) struct Replacement {
    /// The token of the mailed confirmation link.
    token: String,
    /// The serial number of the certificate to revoke and replace.
    serial: String,
    /// The user password.
    #[schema(format = Password)]
    password: String,
    /// RFC 5280 reason code (0, 1, 3, 4 or 5).
    reason: u8,
    /// PKCS#10 request (PEM); required for automatic accounts (issued at once).
    #[serde(default)]
    csr: Option<String>,
}

/// The replacement: issued at once, or waiting for approval.
#[derive(Serialize, ToSchema)]
pub(super) struct Replaced {
    /// The replacement, when issued at once.
    certificate: Option<CertificateView>,
    /// The request waiting for approval otherwise (its public reference).
    request: Option<String>,
}

/// Revokes the original and applies for (or receives) its replacement.
#[utoipa::path(post, path = "/api/v1/replacements", tag = tags::USER,
    request_body = Replacement,
    responses(
        (status = 200, description = "Issued, or waiting for approval", body = Replaced),
        (status = 400, description = "A bad CSR or reason, or the link expired or was used"),
        (status = 403, description = "Wrong password, or locked after failed attempts"),
        (status = 404, description = "No replacement has this token, or no such certificate"),
        (status = 429, description = "Too many attempts or mails from this client"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
pub(super) async fn replace(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Json(body): Json<Replacement>,
) -> Result<Json<Replaced>, AppError> {
    let source = state.holder_secret_source(client)?;
    let reason = RevocationReason::from_code(body.reason)
        .ok_or_else(|| AppError::bad_request("reason must be an RFC 5280 reason code"))?;
    let csr = body
        .csr
        .map(|pem| CertificateRequest::parse(pem.as_bytes()).map_err(topca_core::Error::from))
        .transpose()?;
    let password = zeroize::Zeroizing::new(body.password);
    let (token, serial) = (body.token, body.serial);
    let outcome = state
        .hashing
        .run(&state, move |s| {
            let outcome = s.ra().for_client(source).replace(
                &token,
                &serial,
                &password,
                reason,
                csr.as_ref(),
            )?;
            s.crl_changed();
            Ok(outcome)
        })
        .await?;
    Ok(Json(match outcome {
        ReplacementOutcome::Issued(issued) => Replaced {
            certificate: Some(CertificateView::from(&issued.certificate)),
            request: None,
        },
        ReplacementOutcome::AwaitingApproval(request) => Replaced {
            certificate: None,
            request: Some(request.reference.0),
        },
    }))
}

/// The holder's recovery of an escrowed encryption key.
#[derive(Deserialize, ToSchema)]
pub(super) struct Recovery {
    /// The authorization code mailed to the holder after two KMC administrators agreed.
    #[schema(format = Password)]
    code: String,
    /// The serial number of the signing certificate whose key the key is enveloped for.
    signing_serial: String,
}

/// Recovers the encryption key with the authorization code, enveloped for a
/// signing certificate.
#[utoipa::path(post, path = "/api/v1/recoveries", tag = tags::USER,
    request_body = Recovery,
    responses(
        (status = 200, description = "The encryption certificate and its enveloped key", body = EncryptionView),
        (status = 400, description = "The code was used, expired or is wrong"),
        (status = 403, description = "Locked after failed attempts"),
        (status = 404, description = "No such signing certificate or recovery"),
        (status = 429, description = "Too many attempts from this client"),
    ))]
pub(super) async fn recover(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Json(body): Json<Recovery>,
) -> Result<Json<EncryptionView>, AppError> {
    let _ = state.holder_secret_source(client)?;
    let code = zeroize::Zeroizing::new(body.code);
    let serial = body.signing_serial;
    let delivery = blocking(&state, move |s| Ok(s.kmc().recover(&code, &serial)?)).await?;
    Ok(Json(EncryptionView::from(&delivery)))
}
