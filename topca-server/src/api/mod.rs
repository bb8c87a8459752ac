//! The JSON REST API (`/api/v1`): the user centre's actions for integrators, its
//! OpenAPI description at `/api/v1/openapi.json` ([`description`], generated from
//! the handlers' `#[utoipa::path]` attributes and the types' schemas), and a
//! browsable page of it at `/api/docs` ([`docs`]). JSON bodies only: a
//! cross-site form cannot post them, so no CSRF token is needed here.
//!
//! One module per workflow: [`apply`] (accounts, applications, retrieval),
//! [`lifecycle`] (look-up, revocation, renewal, preview), [`replace`]
//! (replacement and key recovery), [`machine`] (one-call issuance for machine
//! clients with an API token). The administrators' API handlers live
//! beside their console pages (`admin_*`, `audit_log`).

mod apply;
pub mod description;
mod docs;
mod lifecycle;
mod machine;
mod machine_batch;
mod replace;

use std::sync::Arc;

use axum::{
    Router,
    routing::{get, post},
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use topca_core::{
    Certificate,
    ra::EncryptionDelivery,
    store::{CertificateRecord, CertificateStatus},
};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;

/// The tags that group the description's operations, one per centre or console.
pub mod tags {
    /// The user certificate centre (holders and integrators).
    pub const USER: &str = "user centre";
    /// The server certificate centre.
    pub const SERVER: &str = "server centre";
    /// Administrator log-in, log-out and sessions.
    pub const SESSIONS: &str = "administrator sessions";
    /// The RA administrators' console.
    pub const RA: &str = "RA console";
    /// The KMC administrators' console.
    pub const KMC: &str = "KMC console";
    /// The super administrators' console.
    pub const SUPER: &str = "super administrator console";
    /// The audit log.
    pub const AUDIT: &str = "audit";
    /// Machine clients issuing with an API token.
    pub const MACHINE: &str = "machine clients";
    /// This description and its page.
    pub const DESCRIPTION: &str = "description";
}

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/openapi.json", get(description::openapi))
        .route("/api/docs", get(docs::page))
        .route("/api/docs/{file}", get(docs::file))
        .route("/api/v1/accounts", get(apply::search_accounts))
        .route("/api/v1/accounts/{id}/applications", post(apply::apply))
        .route(
            "/api/v1/accounts/{id}/certificates",
            get(lifecycle::certificates),
        )
        .route("/api/v1/accounts/{id}/revocations", post(lifecycle::revoke))
        .route("/api/v1/retrievals", post(apply::retrieve))
        .route(
            "/api/v1/accounts/{id}/server-applications",
            post(apply::apply_server),
        )
        .route("/api/v1/accounts/{id}/renewable", get(lifecycle::renewable))
        .route("/api/v1/accounts/{id}/renewals", post(lifecycle::renew))
        .route(
            "/api/v1/accounts/{id}/replacements",
            post(replace::start_replacement),
        )
        .route(
            "/api/v1/replacements",
            get(replace::replacement_candidates).post(replace::replace),
        )
        .route("/api/v1/recoveries", post(replace::recover))
        .route(
            "/api/v1/passcode-retrievals",
            post(apply::retrieve_with_passcode),
        )
        .route(
            "/api/v1/certificates",
            post(machine::issue).layer(axum::extract::DefaultBodyLimit::max(machine::MAX_BODY)),
        )
        .route(
            "/api/v1/certificates/{serial}/preview",
            get(lifecycle::preview),
        )
        .route(
            "/api/v1/certificates/batch",
            post(machine_batch::issue_batch).layer(axum::extract::DefaultBodyLimit::max(
                machine_batch::MAX_BODY,
            )),
        )
}

/// The `{id}` of an account's routes.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct AccountPath {
    /// The account's number.
    #[param(example = 1)]
    id: u64,
}

/// A request registered: its public reference and its state.
#[derive(Serialize, ToSchema)]
struct Applied {
    /// The request's public reference (32 hexadecimal digits).
    request: String,
    /// Its state, in words.
    state: &'static str,
}

/// An issued certificate.
#[derive(Serialize, ToSchema)]
struct CertificateView {
    /// The serial number, hexadecimal.
    serial: String,
    /// The subject, as text.
    subject: String,
    /// Start of validity (UTC).
    not_before: String,
    /// End of validity (UTC).
    not_after: String,
    /// The certificate, PEM.
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

/// The encryption certificate of a dual-certificate account and its private key,
/// enveloped for the signing certificate's key.
#[derive(Serialize, ToSchema)]
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

/// A certificate as the account's records hold it.
#[derive(Serialize, ToSchema)]
struct RecordView {
    /// The serial number, hexadecimal.
    serial: String,
    /// The holder's name.
    holder: String,
    /// The holder's e-mail.
    email: String,
    /// End of validity (UTC).
    not_after: String,
    /// `valid` or `revoked`.
    #[schema(pattern = "^(valid|revoked)$")]
    status: &'static str,
    /// Why it was revoked, when it was.
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
