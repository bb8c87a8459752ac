//! The administrators' console page and the RA's certificate actions (look-up
//! by holder, revocation). Accounts, pre-registration and central issuance are in
//! `admin_accounts`, sessions in `admin_session`, the approval queue in
//! `admin_requests`, the review of server applications in `admin_review`, the KMC
//! console in `admin_kmc`.

use std::sync::Arc;

use askama::Template;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use topca_core::ra::{AdminRole, RaOps};

use crate::{
    AppError, AppState,
    admin_accounts::account_form,
    admin_kmc::KmcSection,
    admin_session::{api_session, console_admin, console_csrf, forbidden},
    html::{Chrome, Lang, error_page, render},
    state::blocking,
};

/// The fewest characters of an administrator password, on the super
/// administrator's page and for `topca-server admin add` alike.
pub const MIN_PASSWORD: usize = 12;

/// Whether a new administrator password has [`MIN_PASSWORD`] characters
/// (checked before `topca_core`'s policy for every password, which allows
/// shorter ones).
pub fn password_long_enough(password: &str) -> bool {
    password.chars().count() >= MIN_PASSWORD
}

/// The refusal of a password shorter than [`MIN_PASSWORD`], in both languages.
pub(crate) fn password_too_short() -> AppError {
    AppError::bad_request(Lang::En.f1("super.admins.password_short", MIN_PASSWORD))
        .zh(Lang::Zh.f1("super.admins.password_short", MIN_PASSWORD))
}

/// The catalogue name of an administrator role.
pub(crate) fn role_label(t: Lang, role: AdminRole) -> &'static str {
    match role {
        AdminRole::SuperAdmin => t.s("super.role.super_admin"),
        AdminRole::RaAdmin => t.s("super.role.ra_admin"),
        AdminRole::KmcAdmin => t.s("super.role.kmc_admin"),
    }
}

/// The console's crumb, for the pages under it.
pub(crate) fn console_crumb(t: Lang) -> (&'static str, &'static str) {
    (t.s("super.console.title"), "/TopCA/admin")
}

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin", get(console))
        .route("/api/v1/admin/certificates", get(certificates_api))
        .route(
            "/api/v1/admin/certificates/{serial}/revoke",
            post(revoke_api),
        )
        .merge(crate::admin_accounts::routes())
        .merge(crate::admin_ra::routes())
        .merge(crate::admin_requests::routes())
        .merge(crate::admin_review::routes())
        .merge(crate::admin_super::routes())
        .merge(crate::admin_kmc::routes())
        .merge(crate::admin_session::routes())
        .merge(crate::admin_audit::routes())
}

// ---- pages ----

/// The console's home: who is logged in, and what their roles allow.
#[derive(Template)]
#[template(path = "admin/console.html")]
struct ConsolePage {
    t: Lang,
    page: Chrome,
    csrf: String,
    admin: String,
    roles: String,
    ra: bool,
    /// The RA's approval queue, rendered (escaped) by `admin_requests`.
    ra_queue: Option<String>,
    /// The RA's new-account form, rendered (escaped) by `admin_accounts`.
    ra_account_form: Option<String>,
    kmc: Option<KmcSection>,
    super_admin: bool,
}

/// The console: what the administrator's roles allow.
async fn console(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let t = Lang::of(&headers);
    let admin = match console_admin(&state, &headers).await {
        Ok(a) => a,
        Err(refused) => return refused.page(t),
    };
    let csrf = console_csrf(&headers);
    let ra = admin.ra_ops().is_ok();
    let (ra_queue, ra_account_form) = if ra {
        (
            Some(crate::admin_requests::queue_section(&state, t, &csrf).await),
            Some(account_form(
                t,
                &csrf,
                "/TopCA/admin/ra/accounts",
                None,
                &state.base_url,
            )),
        )
    } else {
        (None, None)
    };
    let kmc = match admin.kmc_ops() {
        Ok(ops) => match crate::admin_kmc::console_section(&state, t, ops).await {
            Ok(section) => Some(section),
            Err(e) => return error_page(t, &e),
        },
        Err(_) => None,
    };
    let roles: Vec<&str> = admin.roles.iter().map(|r| role_label(t, *r)).collect();
    let view = ConsolePage {
        t,
        page: Chrome::new(t.s("super.console.title"), &[]),
        csrf,
        roles: roles.join(t.s("super.console.separator")),
        ra,
        ra_queue,
        ra_account_form,
        kmc,
        super_admin: admin.super_ops().is_ok(),
        admin: admin.name,
    };
    render(StatusCode::OK, &view, None)
}

#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    pub(crate) csrf: String,
}

// ---- actions, shared by pages and API ----

/// Revokes the certificate `serial` for an RA administrator with an RFC 5280
/// reason code; the cached CRL follows.
pub(crate) async fn revoke(
    state: &Arc<AppState>,
    ops: RaOps,
    serial: String,
    code: u8,
) -> Result<Decision, AppError> {
    let reason = topca_core::lifecycle::RevocationReason::from_code(code)
        .ok_or_else(|| AppError::bad_request("reason must be an RFC 5280 reason code"))?;
    blocking(state, move |s| {
        let revoked = s.ra().revoke_by_admin(&ops, &serial, reason)?;
        s.crl_changed();
        Ok(Decision {
            request: revoked.request.map_or(0, |r| r.0),
            state: "revoked",
        })
    })
    .await
}

// ---- API ----

/// What became of a request an administrator decided on.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Decision {
    /// Its number.
    pub(crate) request: u64,
    /// Its state now, in words.
    pub(crate) state: &'static str,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EmailQuery {
    /// The holder's e-mail.
    pub(crate) email: String,
}

/// A certificate of a holder, in any account.
#[derive(Serialize, utoipa::ToSchema)]
struct CertificateRow {
    /// The serial number, hexadecimal.
    serial: String,
    holder: String,
    email: String,
    /// What the key is for (`Signing`, `Encryption`, `Server`…).
    usage: String,
    /// End of validity (UTC).
    not_after: String,
    /// `valid` or `revoked`.
    status: &'static str,
}

/// Certificates of a holder e-mail, across accounts (RA administrators).
#[utoipa::path(get, path = "/api/v1/admin/certificates", tag = crate::api::tags::RA,
    params(EmailQuery), security(("bearer" = [])),
    responses((status = 200, description = "The holder's certificates", body = Vec<CertificateRow>)))]
async fn certificates_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<EmailQuery>,
) -> Result<Json<Vec<CertificateRow>>, AppError> {
    api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let found = blocking(&state, move |s| {
        Ok(
            topca_core::store::CertificateStore::certificates_by_email(&s.store, &q.email)
                .map_err(topca_core::Error::from)?,
        )
    })
    .await?;
    Ok(Json(
        found
            .into_iter()
            .map(|c| CertificateRow {
                usage: format!("{:?}", c.usage),
                not_after: topca_core::format_utc(c.not_after),
                status: match c.status {
                    topca_core::store::CertificateStatus::Valid => "valid",
                    topca_core::store::CertificateStatus::Revoked => "revoked",
                },
                serial: c.serial,
                holder: c.holder_name,
                email: c.email,
            })
            .collect(),
    ))
}

/// An administrator's revocation.
#[derive(Deserialize, utoipa::ToSchema)]
struct RevokeBody {
    /// RFC 5280 reason code.
    reason: u8,
}

/// Revokes on the RA administrator's decision; the holder is mailed.
#[utoipa::path(post, path = "/api/v1/admin/certificates/{serial}/revoke", tag = crate::api::tags::RA,
    params(("serial" = String, Path, description = "The serial number, hexadecimal")),
    request_body = RevokeBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = Decision),
        (status = 400, description = "Already revoked, or not an RFC 5280 reason code"),
        (status = 404, description = "No such certificate"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
async fn revoke_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    Json(body): Json<RevokeBody>,
) -> Result<Json<Decision>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    revoke(&state, ops, serial, body.reason).await.map(Json)
}
