//! Applying: finding an account, applying for a user or server certificate, and
//! retrieving it with the PIN (or, in passcode mode, the authorization code).

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, Query, State},
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use topca_core::{
    CertificateRequest,
    ra::{AccountId, Holder},
};
use utoipa::{IntoParams, ToSchema};

use super::{AccountPath, Applied, CertificateView, EncryptionView, tags};
use crate::{AppError, AppState, limits::ClientAddr, state::blocking};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Keyword {
    /// Text the account's organization (O) or unit (OU) contains.
    keyword: String,
}

/// An account holders may apply under.
#[derive(Serialize, ToSchema)]
pub(super) struct AccountMatch {
    /// The account's number (the `{id}` of the other routes).
    id: u64,
    /// Its organization (O).
    organization: String,
    /// Its organizational unit (OU).
    unit: String,
    /// Whether it issues a signing and an encryption certificate.
    dual: bool,
    /// A demonstration account (made with `--demo`).
    demo: bool,
}

/// Accounts whose organization or unit contains the keyword.
#[utoipa::path(get, path = "/api/v1/accounts", tag = tags::USER, params(Keyword),
    responses((status = 200, description = "The matching accounts", body = Vec<AccountMatch>)))]
pub(super) async fn search_accounts(
    State(state): State<Arc<AppState>>,
    Query(q): Query<Keyword>,
) -> Result<Json<Vec<AccountMatch>>, AppError> {
    let found = blocking(&state, move |s| Ok(s.ra().search_accounts(&q.keyword)?)).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|a| AccountMatch {
                id: a.id.0,
                demo: state.demo.contains(a.id),
                dual: a.settings.certificate_type == topca_core::lifecycle::CertificateType::Dual,
                organization: a.settings.organization,
                unit: a.settings.unit,
            })
            .collect(),
    ))
}

/// An application for a user certificate.
#[derive(Deserialize, ToSchema)]
pub(super) struct Application {
    /// The holder's name (the certificate's CN).
    name: String,
    /// The holder's e-mail: the PIN is mailed there.
    email: String,
    #[serde(default)]
    phone: Option<String>,
    /// Province (ST).
    #[serde(default)]
    state: Option<String>,
    /// City (L).
    #[serde(default)]
    locality: Option<String>,
    /// The user password that protects retrieval and revocation.
    #[schema(format = Password)]
    password: String,
}

/// Applies for a user certificate under the account.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/applications", tag = tags::USER,
    params(AccountPath),
    request_body = Application,
    responses(
        (status = 200, description = "Registered: the PIN is mailed once the request is approved (at once for automatic accounts)", body = Applied),
        (status = 400, description = "A field is invalid, or the password too weak"),
        (status = 404, description = "No such account"),
        (status = 429, description = "Too many mails to this address or from this client"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
pub(super) async fn apply(
    State(state): State<Arc<AppState>>,
    Path(AccountPath { id }): Path<AccountPath>,
    Json(body): Json<Application>,
) -> Result<Json<Applied>, AppError> {
    let holder = Holder {
        name: body.name,
        email: body.email,
        phone: body.phone,
        state: body.state,
        locality: body.locality,
    };
    let password = zeroize::Zeroizing::new(body.password);
    let request = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra().apply(AccountId(id), holder, &password)?)
        })
        .await?;
    Ok(Json(Applied {
        request: request.reference.0,
        state: request.state.label(),
    }))
}

/// Retrieval with the mailed PIN and the user password.
#[derive(Deserialize, ToSchema)]
pub(super) struct Retrieval {
    /// The PIN from the mail.
    #[schema(format = Password)]
    pin: String,
    /// The user password chosen when applying.
    #[schema(format = Password)]
    password: String,
    /// A PKCS#10 request (PEM); absent to have the server generate the key.
    #[serde(default)]
    csr: Option<String>,
}

/// The certificate(s) retrieved.
#[derive(Serialize, ToSchema)]
pub(super) struct Retrieved {
    certificate: CertificateView,
    /// The encryption certificate and enveloped key (dual accounts).
    encryption: Option<EncryptionView>,
    /// For a server-generated key: the PKCS#12 file (base64), under the user password.
    pkcs12: Option<String>,
}

/// Retrieves the certificate with the PIN and user password: from a CSR, or
/// with a key the server generates (returned as PKCS#12).
#[utoipa::path(post, path = "/api/v1/retrievals", tag = tags::USER,
    request_body = Retrieval,
    responses(
        (status = 200, description = "Issued", body = Retrieved),
        (status = 400, description = "A bad CSR, or a request not ready for retrieval"),
        (status = 403, description = "Wrong PIN or password, or the request is locked after failed attempts"),
        (status = 404, description = "No request has this PIN"),
        (status = 429, description = "Too many attempts from this client"),
    ))]
pub(super) async fn retrieve(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Json(body): Json<Retrieval>,
) -> Result<Json<Retrieved>, AppError> {
    let source = state.holder_secret_source(client)?;
    let password = zeroize::Zeroizing::new(body.password);
    let pin = body.pin;
    match body.csr {
        Some(pem) => {
            let csr = CertificateRequest::parse(pem.as_bytes()).map_err(topca_core::Error::from)?;
            let retrieved = state
                .hashing
                .run(&state, move |s| {
                    Ok(s.ra().for_client(source).retrieve(&pin, &password, &csr)?)
                })
                .await?;
            Ok(Json(Retrieved {
                certificate: CertificateView::from(&retrieved.certificate),
                encryption: retrieved.encryption.as_ref().map(EncryptionView::from),
                pkcs12: None,
            }))
        }
        None => {
            let delivery = state
                .hashing
                .run(&state, move |s| {
                    Ok(s.ra()
                        .for_client(source)
                        .retrieve_with_generated_key(&pin, &password)?)
                })
                .await?;
            Ok(Json(Retrieved {
                certificate: CertificateView::from(&delivery.certificate),
                encryption: delivery.encryption.as_ref().map(EncryptionView::from),
                pkcs12: Some(base64::engine::general_purpose::STANDARD.encode(&*delivery.pkcs12)),
            }))
        }
    }
}

/// Passcode mode: retrieval with the reference number and authorization code.
#[derive(Deserialize, ToSchema)]
pub(super) struct PasscodeRetrieval {
    /// The reference number from the passcode mail.
    reference: String,
    /// The authorization code from the same mail.
    #[schema(format = Password)]
    code: String,
    /// The user password the holder chooses now.
    #[schema(format = Password)]
    password: String,
    /// PKCS#10 request (PEM).
    csr: String,
}

/// Passcode mode: retrieves with the reference number and authorization code,
/// choosing the user password.
#[utoipa::path(post, path = "/api/v1/passcode-retrievals", tag = tags::USER,
    request_body = PasscodeRetrieval,
    responses(
        (status = 200, description = "Issued", body = Retrieved),
        (status = 400, description = "A bad CSR or password, or a request not ready for retrieval"),
        (status = 403, description = "Wrong code, or the request is locked after failed attempts"),
        (status = 404, description = "No request has this reference number"),
        (status = 429, description = "Too many attempts from this client"),
    ))]
pub(super) async fn retrieve_with_passcode(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Json(body): Json<PasscodeRetrieval>,
) -> Result<Json<Retrieved>, AppError> {
    let source = state.holder_secret_source(client)?;
    let csr = CertificateRequest::parse(body.csr.as_bytes()).map_err(topca_core::Error::from)?;
    let password = zeroize::Zeroizing::new(body.password);
    let code = zeroize::Zeroizing::new(body.code);
    let reference = body.reference;
    let retrieved = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra()
                .for_client(source)
                .retrieve_with_passcode(&reference, &code, &password, &csr)?)
        })
        .await?;
    Ok(Json(Retrieved {
        certificate: CertificateView::from(&retrieved.certificate),
        encryption: retrieved.encryption.as_ref().map(EncryptionView::from),
        pkcs12: None,
    }))
}

/// An application for a server certificate.
#[derive(Deserialize, ToSchema)]
pub(super) struct ServerApplication {
    /// PKCS#10 request (PEM).
    csr: String,
    /// Contact e-mail (corrects the CSR's).
    email: String,
    /// Protects revocation.
    #[schema(format = Password)]
    password: String,
    /// The subscriber agreement must be accepted.
    agreement_accepted: bool,
}

/// Applies for a server certificate from a CSR; an RA administrator approves it.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/server-applications", tag = tags::SERVER,
    params(AccountPath),
    request_body = ServerApplication,
    responses(
        (status = 200, description = "Registered, waiting for approval", body = Applied),
        (status = 400, description = "A bad CSR, the agreement not accepted, or not an approval account"),
        (status = 404, description = "No such account"),
        (status = 429, description = "Too many mails to this address or from this client"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
pub(super) async fn apply_server(
    State(state): State<Arc<AppState>>,
    Path(AccountPath { id }): Path<AccountPath>,
    Json(body): Json<ServerApplication>,
) -> Result<Json<Applied>, AppError> {
    let csr = CertificateRequest::parse(body.csr.as_bytes()).map_err(topca_core::Error::from)?;
    let password = zeroize::Zeroizing::new(body.password);
    let (email, agreed) = (body.email, body.agreement_accepted);
    let request = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra()
                .apply_server(AccountId(id), &csr, &email, &password, agreed)?)
        })
        .await?;
    Ok(Json(Applied {
        request: request.reference.0,
        state: request.state.label(),
    }))
}
