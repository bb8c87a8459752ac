//! A certificate's life after issuance: looking it up, previewing it, revoking
//! it with the user password, and renewing it.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::{Deserialize, Serialize};
use topca_core::{
    Certificate,
    lifecycle::RevocationReason,
    ra::{AccountId, CertificateQuery, HolderQuery, HolderUpdate},
    store::{AccountStore, CertificateStore},
};
use utoipa::{IntoParams, ToSchema};

use super::{AccountPath, Applied, RecordView, tags};
use crate::{AppError, AppState, limits::ClientAddr, state::blocking};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HolderParams {
    /// The holder's e-mail (takes precedence over `name`).
    #[serde(default)]
    email: Option<String>,
    /// The holder's name.
    #[serde(default)]
    name: Option<String>,
}

/// The account's certificates of a holder, by e-mail or name.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/certificates", tag = tags::USER,
    params(AccountPath, HolderParams),
    responses(
        (status = 200, description = "The holder's certificates", body = Vec<RecordView>),
        (status = 400, description = "Neither email nor name given"),
        (status = 404, description = "No such account"),
    ))]
pub(super) async fn certificates(
    State(state): State<Arc<AppState>>,
    Path(AccountPath { id }): Path<AccountPath>,
    Query(q): Query<HolderParams>,
) -> Result<Json<Vec<RecordView>>, AppError> {
    let holder = match (q.email, q.name) {
        (Some(email), _) => HolderQuery::Email(email),
        (None, Some(name)) => HolderQuery::Name(name),
        (None, None) => return Err(AppError::bad_request("give email or name")),
    };
    let found = blocking(&state, move |s| {
        s.store
            .account(AccountId(id))
            .map_err(topca_core::Error::from)?;
        Ok(s.ra().query(
            AccountId(id),
            &CertificateQuery {
                holder,
                status: None,
                not_after_from: None,
                not_after_until: None,
            },
        )?)
    })
    .await?;
    Ok(Json(found.into_iter().map(RecordView::from).collect()))
}

/// A revocation by the holder.
#[derive(Deserialize, ToSchema)]
pub(super) struct RevocationBody {
    /// The certificate's serial number (hexadecimal).
    serial: String,
    /// The user password.
    #[schema(format = Password)]
    password: String,
    /// RFC 5280 reason code (0, 1, 3, 4 or 5).
    reason: u8,
}

/// Revokes a certificate with the user password and a reason.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/revocations", tag = tags::USER,
    params(AccountPath),
    request_body = RevocationBody,
    responses(
        (status = 200, description = "Revoked", body = RecordView),
        (status = 400, description = "Already revoked, or not an RFC 5280 reason the holder may give"),
        (status = 403, description = "Wrong password, or locked after failed attempts"),
        (status = 404, description = "No such account or certificate"),
        (status = 429, description = "Too many attempts or mails from this client"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
pub(super) async fn revoke(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Path(AccountPath { id }): Path<AccountPath>,
    Json(body): Json<RevocationBody>,
) -> Result<Json<RecordView>, AppError> {
    let source = state.holder_secret_source(client)?;
    let reason = RevocationReason::from_code(body.reason)
        .ok_or_else(|| AppError::bad_request("reason must be an RFC 5280 reason code"))?;
    let password = zeroize::Zeroizing::new(body.password);
    let serial = body.serial;
    let revoked = state
        .hashing
        .run(&state, move |s| {
            let revoked =
                s.ra()
                    .for_client(source)
                    .revoke(AccountId(id), &serial, &password, reason)?;
            s.crl_changed();
            Ok(revoked)
        })
        .await?;
    Ok(Json(RecordView::from(revoked)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EmailParam {
    /// The holder's e-mail.
    email: String,
}

/// The valid certificates of an e-mail that end within 30 days.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/renewable", tag = tags::USER,
    params(AccountPath, EmailParam),
    responses(
        (status = 200, description = "Certificates that may be renewed", body = Vec<RecordView>),
        (status = 404, description = "No such account"),
    ))]
pub(super) async fn renewable(
    State(state): State<Arc<AppState>>,
    Path(AccountPath { id }): Path<AccountPath>,
    Query(q): Query<EmailParam>,
) -> Result<Json<Vec<RecordView>>, AppError> {
    let found = blocking(&state, move |s| {
        Ok(s.ra().renewable(AccountId(id), &q.email)?)
    })
    .await?;
    Ok(Json(found.into_iter().map(RecordView::from).collect()))
}

/// An application for renewal: the holder's details may change, except O and OU.
#[derive(Deserialize, ToSchema)]
pub(super) struct Renewal {
    /// The serial number of the certificate to renew.
    serial: String,
    /// The user password.
    #[schema(format = Password)]
    password: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    locality: Option<String>,
    /// Given only to be refused if it differs from the account's.
    #[serde(default)]
    organization: Option<String>,
    /// Given only to be refused if it differs from the account's.
    #[serde(default)]
    unit: Option<String>,
}

/// Applies for renewal with the user password.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/renewals", tag = tags::USER,
    params(AccountPath),
    request_body = Renewal,
    responses(
        (status = 200, description = "Registered", body = Applied),
        (status = 400, description = "Not renewable, a field is invalid, or O/OU changed"),
        (status = 403, description = "Wrong password, or locked after failed attempts"),
        (status = 404, description = "No such account or certificate"),
        (status = 429, description = "Too many attempts or mails from this client"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
pub(super) async fn renew(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Path(AccountPath { id }): Path<AccountPath>,
    Json(body): Json<Renewal>,
) -> Result<Json<Applied>, AppError> {
    let source = state.holder_secret_source(client)?;
    let update = HolderUpdate {
        name: body.name,
        email: body.email,
        phone: body.phone,
        state: body.state,
        locality: body.locality,
        organization: body.organization,
        unit: body.unit,
    };
    let password = zeroize::Zeroizing::new(body.password);
    let serial = body.serial;
    let request = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra().for_client(source).apply_renewal(
                AccountId(id),
                &serial,
                &password,
                &update,
            )?)
        })
        .await?;
    Ok(Json(Applied {
        request: request.reference.0,
        state: request.state.label(),
    }))
}

/// Every field and extension of a certificate, for people to read.
#[derive(Serialize, ToSchema)]
pub(super) struct PreviewView {
    subject: String,
    issuer: String,
    /// The serial number, hexadecimal.
    serial: String,
    not_before: String,
    not_after: String,
    /// What the key may be used for, in words.
    purposes: Vec<String>,
    fields: Vec<FieldView>,
}

/// One field or extension of a certificate.
#[derive(Serialize, ToSchema)]
pub(super) struct FieldView {
    name: String,
    value: String,
    /// For an extension: whether it is critical.
    critical: Option<bool>,
}

/// Every field and extension of a certificate the CA issued.
#[utoipa::path(get, path = "/api/v1/certificates/{serial}/preview", tag = tags::USER,
    params(("serial" = String, Path, description = "The serial number, hexadecimal")),
    responses(
        (status = 200, description = "The certificate's fields", body = PreviewView),
        (status = 404, description = "The CA issued no certificate with this serial"),
    ))]
pub(super) async fn preview(
    State(state): State<Arc<AppState>>,
    Path(serial): Path<String>,
) -> Result<Json<PreviewView>, AppError> {
    let record = blocking(&state, move |s| {
        s.store
            .certificate(&serial)
            .map_err(topca_core::Error::from)?
            .ok_or_else(|| {
                AppError::from(topca_core::Error::Ra(
                    topca_core::RaError::UnknownCertificate,
                ))
            })
    })
    .await?;
    let certificate = Certificate::from_der(&record.der)
        .map_err(|e| crate::AppError::internal_because("read the certificate", &e))?;
    let view = certificate.preview();
    Ok(Json(PreviewView {
        subject: view.general.subject,
        issuer: view.general.issuer,
        serial: view.general.serial_hex,
        not_before: view.general.not_before,
        not_after: view.general.not_after,
        purposes: view.general.purposes,
        fields: view
            .fields
            .into_iter()
            .map(|f| FieldView {
                name: f.name,
                value: f.value,
                critical: f.critical,
            })
            .collect(),
    }))
}
