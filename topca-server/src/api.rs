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
    ra::{
        AccountId, CertificateQuery, EncryptionDelivery, Holder, HolderQuery, HolderUpdate,
        ReplacementOutcome,
    },
    store::{AccountStore, CertificateRecord, CertificateStatus, CertificateStore},
};

use crate::{AppError, AppState, limits::ClientAddr, state::blocking};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/accounts", get(search_accounts))
        .route("/api/v1/accounts/{id}/applications", post(apply))
        .route("/api/v1/accounts/{id}/certificates", get(certificates))
        .route("/api/v1/accounts/{id}/revocations", post(revoke))
        .route("/api/v1/retrievals", post(retrieve))
        .route(
            "/api/v1/accounts/{id}/server-applications",
            post(apply_server),
        )
        .route("/api/v1/accounts/{id}/renewable", get(renewable))
        .route("/api/v1/accounts/{id}/renewals", post(renew))
        .route(
            "/api/v1/accounts/{id}/replacements",
            post(start_replacement),
        )
        .route(
            "/api/v1/replacements",
            get(replacement_candidates).post(replace),
        )
        .route("/api/v1/recoveries", post(recover))
        .route("/api/v1/passcode-retrievals", post(retrieve_with_passcode))
        .route("/api/v1/certificates/{serial}/preview", get(preview))
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
    /// A demonstration account (made with `--demo`).
    demo: bool,
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
                demo: state.demo.contains(a.id),
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
    /// The request's public reference.
    request: String,
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
    client: ClientAddr,
    Path(id): Path<u64>,
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

#[derive(Deserialize)]
struct PasscodeRetrieval {
    /// The reference number from the passcode mail.
    reference: String,
    /// The authorization code from the same mail.
    code: String,
    /// The user password the holder chooses now.
    password: String,
    /// PKCS#10 request (PEM).
    csr: String,
}

async fn retrieve_with_passcode(
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

#[derive(Deserialize)]
struct ServerApplication {
    /// PKCS#10 request (PEM).
    csr: String,
    /// Contact e-mail (corrects the CSR's).
    email: String,
    /// Protects revocation.
    password: String,
    /// The subscriber agreement must be accepted.
    agreement_accepted: bool,
}

async fn apply_server(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
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

#[derive(Deserialize)]
struct EmailParam {
    email: String,
}

async fn renewable(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
    Query(q): Query<EmailParam>,
) -> Result<Json<Vec<RecordView>>, AppError> {
    let found = blocking(&state, move |s| {
        Ok(s.ra().renewable(AccountId(id), &q.email)?)
    })
    .await?;
    Ok(Json(found.into_iter().map(RecordView::from).collect()))
}

#[derive(Deserialize)]
struct Renewal {
    serial: String,
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

async fn renew(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Path(id): Path<u64>,
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

#[derive(Deserialize)]
struct ReplacementStart {
    name: String,
    email: String,
}

async fn start_replacement(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
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

#[derive(Deserialize)]
struct TokenParam {
    token: String,
}

async fn replacement_candidates(
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

#[derive(Deserialize)]
struct Replacement {
    token: String,
    serial: String,
    password: String,
    reason: u8,
    /// Required for automatic accounts (issued at once).
    #[serde(default)]
    csr: Option<String>,
}

#[derive(Serialize)]
struct Replaced {
    /// The replacement, when issued at once.
    certificate: Option<CertificateView>,
    /// The request waiting for approval otherwise (its public reference).
    request: Option<String>,
}

async fn replace(
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

#[derive(Deserialize)]
struct Recovery {
    code: String,
    signing_serial: String,
}

async fn recover(
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

#[derive(Serialize)]
struct PreviewView {
    subject: String,
    issuer: String,
    serial: String,
    not_before: String,
    not_after: String,
    purposes: Vec<String>,
    fields: Vec<FieldView>,
}

#[derive(Serialize)]
struct FieldView {
    name: String,
    value: String,
    critical: Option<bool>,
}

async fn preview(
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
                "responses": {"200": {"description": "revoked"}, "400": {"description": "already revoked or bad reason"}, "403": {"description": "wrong password"}}}},
            "/api/v1/accounts/{id}/server-applications": {"post": {"summary": "Apply for a server certificate from a CSR (administrator approval)",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                    "required": ["csr", "email", "password", "agreement_accepted"],
                    "properties": {"csr": {"type": "string"}, "email": {"type": "string"}, "password": {"type": "string"}, "agreement_accepted": {"type": "boolean"}}}}}},
                "responses": {"200": {"description": "registered"}, "400": {"description": "bad CSR, agreement not accepted, or not an approval account"}}}},
            "/api/v1/accounts/{id}/renewable": {"get": {"summary": "Valid certificates of an e-mail ending within 30 days",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}},
                    {"name": "email", "in": "query", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "certificates"}}}},
            "/api/v1/accounts/{id}/renewals": {"post": {"summary": "Apply for renewal (user password; holder changes except O/OU)",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "registered"}, "400": {"description": "not renewable, or O/OU changed"}, "403": {"description": "wrong password"}}}},
            "/api/v1/accounts/{id}/replacements": {"post": {"summary": "Start a replacement: a confirmation link is mailed",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "mailed"}}}},
            "/api/v1/replacements": {
                "get": {"summary": "The certificates a confirmation token may replace",
                    "parameters": [{"name": "token", "in": "query", "required": true, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "certificates"}}},
                "post": {"summary": "Revoke the original and apply for (or receive) its replacement",
                    "responses": {"200": {"description": "issued or waiting for approval"}}}},
            "/api/v1/passcode-retrievals": {"post": {"summary": "Passcode mode: retrieve with the reference number and authorization code, choosing the user password",
                "responses": {"200": {"description": "certificate"}, "403": {"description": "wrong code"}}}},
            "/api/v1/admin/accounts/{id}/preregistrations": {"post": {"summary": "Pre-register a holder of a passcode account (reference number and code mailed)",
                "responses": {"200": {"description": "registered"}}}},
            "/api/v1/admin/accounts/{id}/preregistrations/csv": {"post": {"summary": "Pre-register holders from a CSV body: name,email[,phone,state,locality]",
                "responses": {"200": {"description": "registered requests and rejected lines"}}}},
            "/api/v1/admin/accounts/{id}/central-issuance": {"post": {"summary": "Issue centrally with a CA-made key (PKCS#12 returned)",
                "responses": {"200": {"description": "certificate and PKCS#12"}}}},
            "/api/v1/admin/escrowed-keys": {"get": {"summary": "Keys escrowed for a holder e-mail (KMC administrators)",
                "responses": {"200": {"description": "escrowed keys (no key material)"}}}},
            "/api/v1/recoveries": {"post": {"summary": "Recover the encryption key with the authorization code, enveloped for a signing certificate",
                "responses": {"200": {"description": "encryption certificate and enveloped key"}, "400": {"description": "code used, expired or wrong"}}}},
            "/api/v1/certificates/{serial}/preview": {"get": {"summary": "Every field and extension of a certificate",
                "parameters": [{"name": "serial", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "preview"}, "404": {"description": "unknown serial"}}}},
            "/api/v1/admin/sessions": {"post": {"summary": "Administrator log-in: a bearer token for the admin API",
                "responses": {"200": {"description": "token"}, "403": {"description": "wrong name or password, or locked out"}}}},
            "/api/v1/admin/requests": {"get": {"summary": "Requests waiting for approval (RA administrators)",
                "responses": {"200": {"description": "requests"}, "401": {"description": "not logged in"}, "403": {"description": "not an RA administrator"}}}},
            "/api/v1/admin/requests/{id}": {"get": {"summary": "Review a server application: the subject, every name and the key approval would sign, and the account policy's verdict (RA administrators)",
                "responses": {"200": {"description": "review"}, "400": {"description": "not a server application"}, "404": {"description": "unknown request"}}}},
            "/api/v1/admin/requests/{id}/approve": {"post": {"summary": "Approve: the PIN is mailed (server certificates are issued and mailed)",
                "responses": {"200": {"description": "approved"}}}},
            "/api/v1/admin/requests/{id}/resend-pin": {"post": {"summary": "Resend the PIN of an approved request: a new PIN is mailed, the old one stops working (RA administrators)",
                "responses": {"200": {"description": "mailed"}, "409": {"description": "not approved"}, "429": {"description": "the holder was mailed too often"}}}},
            "/api/v1/admin/requests/{id}/reject": {"post": {"summary": "Reject with a reason (mailed)",
                "responses": {"200": {"description": "rejected"}}}},
            "/api/v1/admin/requests/{reference}/unlock": {"post": {"summary": "Unlock a request by the public reference its holder gives: every address's failed attempts are forgotten (RA administrators, audited)",
                "parameters": [{"name": "reference", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}],
                "responses": {"200": {"description": "unlocked"}, "403": {"description": "not an RA administrator"}, "404": {"description": "no request has this reference"}}}},
            "/api/v1/admin/accounts": {"post": {"summary": "Create an account (RA administrators)",
                "responses": {"200": {"description": "created"}, "400": {"description": "invalid settings"}}}},
            "/api/v1/admin/accounts/{id}": {"put": {"summary": "Change an account's settings",
                "responses": {"200": {"description": "changed"}}}},
            "/api/v1/admin/accounts/{id}/server-policy": {
                "get": {"summary": "An account's server certificate policy: allowed_domains, allow_wildcards, allow_ip_addresses, max_names (RA administrators)",
                    "responses": {"200": {"description": "policy"}}},
                "put": {"summary": "Set an account's server certificate policy (audited)",
                    "responses": {"200": {"description": "saved"}, "400": {"description": "invalid policy"}}}},
            "/api/v1/admin/recoveries": {"post": {"summary": "Ask for a key recovery (administrators holding only the KMC role); answers its random 128-bit identifier (hex)",
                "responses": {"200": {"description": "requested"}, "403": {"description": "not a key recovery agent (other roles, or in quarantine)"}}}},
            "/api/v1/admin/recoveries/{id}/approve": {"post": {"summary": "Approve a recovery asked by another KMC administrator; the code is mailed to the holder alone",
                "responses": {"200": {"description": "approved (no code)"}, "403": {"description": "not a key recovery agent"}, "404": {"description": "no such recovery"}}}},
            "/api/v1/admin/recoveries/{id}/reject": {"post": {"summary": "Refuse a recovery with a reason (the holder is told)",
                "responses": {"200": {"description": "rejected"}, "403": {"description": "not a key recovery agent"}, "404": {"description": "no such recovery"}}}}
        }
    }))
}
