//! The JSON REST API (`/api/v1`): the user centre's actions for integrators, and
//! its OpenAPI description at `/api/v1/openapi.json`. JSON bodies only: a
//! cross-site form cannot post them, so no CSRF token is needed here.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    routing::{get, post},
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use topca_core::{
    Certificate, CertificateRequest,
    lifecycle::RevocationReason,
    ra::{AccountId, CertificateQuery, EncryptionDelivery, Holder, HolderQuery},
    store::{AccountStore, CertificateRecord, CertificateStatus},
};

use crate::{AppError, AppState, state::blocking};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/accounts", get(search_accounts))
        .route("/api/v1/accounts/{id}/applications", post(apply))
        .route("/api/v1/accounts/{id}/certificates", get(certificates))
        .route("/api/v1/accounts/{id}/revocations", post(revoke))
        .route("/api/v1/retrievals", post(retrieve))
}

#[derive(Deserialize)]
struct Keyword {
    keyword: String,
}

#[derive(Serialize)]
struct AccountView {
    id: u64,
    organization: String,
    unit: String,
    dual: bool,
}

async fn search_accounts(
    State(state): State<Arc<AppState>>,
    Query(q): Query<Keyword>,
) -> Result<Json<Vec<AccountView>>, AppError> {
    let found = blocking(&state, move |s| Ok(s.ra().search_accounts(&q.keyword)?)).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|a| AccountView {
                id: a.id.0,
                dual: a.settings.certificate_type == topca_core::lifecycle::CertificateType::Dual,
                organization: a.settings.organization,
                unit: a.settings.unit,
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
struct Application {
    name: String,
    email: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    locality: Option<String>,
    password: String,
}

#[derive(Serialize)]
struct Applied {
    request: u64,
    state: &'static str,
}

async fn apply(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
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
    let request = blocking(&state, move |s| {
        Ok(s.ra().apply(AccountId(id), holder, &password)?)
    })
    .await?;
    Ok(Json(Applied {
        request: request.id.0,
        state: request.state.label(),
    }))
}

#[derive(Deserialize)]
struct Retrieval {
    pin: String,
    password: String,
    /// A PKCS#10 request (PEM); absent to have the server generate the key.
    #[serde(default)]
    csr: Option<String>,
}

#[derive(Serialize)]
struct CertificateView {
    serial: String,
    subject: String,
    not_before: String,
    not_after: String,
    pem: String,
}

impl From<&Certificate> for CertificateView {
    fn from(c: &Certificate) -> Self {
        Self {
            serial: c.serial_hex(),
            subject: c.subject_text(),
            not_before: topca_core::format_utc(c.not_before()),
            not_after: topca_core::format_utc(c.not_after()),
            pem: c.to_pem(),
        }
    }
}

#[derive(Serialize)]
struct EncryptionView {
    certificate: CertificateView,
    /// `Sm2EnvelopedKey` or `CmsEnvelopedData`.
    envelope_format: String,
    /// The enveloped private key, DER in base64.
    enveloped_key: String,
}

impl From<&EncryptionDelivery> for EncryptionView {
    fn from(e: &EncryptionDelivery) -> Self {
        Self {
            certificate: CertificateView::from(&e.certificate),
            envelope_format: format!("{:?}", e.enveloped_key.format),
            enveloped_key: base64::engine::general_purpose::STANDARD.encode(&e.enveloped_key.der),
        }
    }
}

#[derive(Serialize)]
struct Retrieved {
    certificate: CertificateView,
    encryption: Option<EncryptionView>,
    /// For a server-generated key: the PKCS#12 file (base64), under the user password.
    pkcs12: Option<String>,
}

async fn retrieve(
    State(state): State<Arc<AppState>>,
    Json(body): Json<Retrieval>,
) -> Result<Json<Retrieved>, AppError> {
    let password = zeroize::Zeroizing::new(body.password);
    let pin = body.pin;
    match body.csr {
        Some(pem) => {
            let csr = CertificateRequest::parse(pem.as_bytes()).map_err(topca_core::Error::from)?;
            let retrieved = blocking(&state, move |s| {
                Ok(s.ra().retrieve(&pin, &password, &csr)?)
            })
            .await?;
            Ok(Json(Retrieved {
                certificate: CertificateView::from(&retrieved.certificate),
                encryption: retrieved.encryption.as_ref().map(EncryptionView::from),
                pkcs12: None,
            }))
        }
        None => {
            let delivery = blocking(&state, move |s| {
                Ok(s.ra().retrieve_with_generated_key(&pin, &password)?)
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

#[derive(Deserialize)]
struct HolderParams {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Serialize)]
struct RecordView {
    serial: String,
    holder: String,
    email: String,
    not_after: String,
    status: &'static str,
    revocation_reason: Option<&'static str>,
}

impl From<CertificateRecord> for RecordView {
    fn from(c: CertificateRecord) -> Self {
        Self {
            status: match c.status {
                CertificateStatus::Valid => "valid",
                CertificateStatus::Revoked => "revoked",
            },
            revocation_reason: c.revocation.map(|(_, r)| r.label()),
            not_after: topca_core::format_utc(c.not_after),
            serial: c.serial,
            holder: c.holder_name,
            email: c.email,
        }
    }
}

async fn certificates(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
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

#[derive(Deserialize)]
struct RevocationBody {
    serial: String,
    password: String,
    /// RFC 5280 reason code (0, 1, 3, 4 or 5).
    reason: u8,
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
    Json(body): Json<RevocationBody>,
) -> Result<Json<RecordView>, AppError> {
    let reason = RevocationReason::from_code(body.reason)
        .ok_or_else(|| AppError::bad_request("reason must be an RFC 5280 reason code"))?;
    let password = zeroize::Zeroizing::new(body.password);
    let serial = body.serial;
    let revoked = blocking(&state, move |s| {
        let revoked = s.ra().revoke(AccountId(id), &serial, &password, reason)?;
        s.crl_changed();
        Ok(revoked)
    })
    .await?;
    Ok(Json(RecordView::from(revoked)))
}

async fn openapi() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "openapi": "3.0.3",
        "info": {"title": "TopCA user certificate service", "version": env!("CARGO_PKG_VERSION")},
        "paths": {
            "/api/v1/accounts": {"get": {"summary": "Accounts whose O or OU contains keyword",
                "parameters": [{"name": "keyword", "in": "query", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "matching accounts"}}}},
            "/api/v1/accounts/{id}/applications": {"post": {"summary": "Apply for a user certificate",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                    "required": ["name", "email", "password"],
                    "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "phone": {"type": "string"},
                        "state": {"type": "string"}, "locality": {"type": "string"}, "password": {"type": "string"}}}}}},
                "responses": {"200": {"description": "registered"}, "400": {"description": "invalid field"}, "404": {"description": "no such account"}}}},
            "/api/v1/retrievals": {"post": {"summary": "Retrieve with PIN and user password (CSR, or server-generated key)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                    "required": ["pin", "password"],
                    "properties": {"pin": {"type": "string"}, "password": {"type": "string"}, "csr": {"type": "string"}}}}}},
                "responses": {"200": {"description": "certificate(s)"}, "400": {"description": "bad request"}, "403": {"description": "wrong PIN or password, or locked"}}}},
            "/api/v1/accounts/{id}/certificates": {"get": {"summary": "Certificates by e-mail or user name",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}},
                    {"name": "email", "in": "query", "schema": {"type": "string"}},
                    {"name": "name", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "certificates"}}}},
            "/api/v1/accounts/{id}/revocations": {"post": {"summary": "Revoke with the user password and a reason",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                    "required": ["serial", "password", "reason"],
                    "properties": {"serial": {"type": "string"}, "password": {"type": "string"}, "reason": {"type": "integer"}}}}}},
                "responses": {"200": {"description": "revoked"}, "400": {"description": "already revoked or bad reason"}, "403": {"description": "wrong password"}}}}
        }
    }))
}
