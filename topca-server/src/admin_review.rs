//! The RA's review of server applications and each account's server certificate
//! policy. The review shows what approval would sign — subject, every
//! alternative name, the key — as the core reads it back from the certificate it
//! prepares, and whether the account's policy refuses it; the policy (allowed
//! domains, wildcards, IP addresses, most names) is set here, page and API, by
//! an RA administrator and audited by the RA.

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use serde::{Deserialize, Serialize};
use topca_core::ra::{AccountId, Administrator, RequestId, ServerPolicy, ServerReview};

use crate::{
    AppError, AppState,
    admin_ra::{Done, account_chrome},
    admin_session::{api_session, console_csrf, console_form, console_session, forbidden},
    html::{Chrome, error_page_back, render},
    i18n::Lang,
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/ra/requests/{id}", get(review_page))
        .route(
            "/TopCA/admin/ra/accounts/{id}/server-policy",
            get(policy_page).post(save_policy_page),
        )
        .route("/api/v1/admin/requests/{id}", get(review_api))
        .route(
            "/api/v1/admin/accounts/{id}/server-policy",
            get(policy_api).put(save_policy_api),
        )
}

/// A server application as the API shows it to the approver.
#[derive(Serialize, utoipa::ToSchema)]
struct ReviewView {
    request: u64,
    account: u64,
    state: &'static str,
    holder: String,
    email: String,
    /// The subject that would be signed.
    subject: String,
    /// Every subjectAltName that would be signed (`DNS:…`, `IP:…`, `email:…`).
    names: Vec<String>,
    /// Algorithm and size of the key.
    key: String,
    /// Why the account's policy refuses it now, if it does.
    refusal: Option<String>,
}

impl From<ServerReview> for ReviewView {
    fn from(r: ServerReview) -> Self {
        Self {
            request: r.request.id.0,
            account: r.request.account.0,
            state: r.request.state.label(),
            holder: r.request.holder.name,
            email: r.request.holder.email,
            subject: r.subject,
            names: r.names,
            key: r.key,
            refusal: r.refusal,
        }
    }
}

/// An account's server certificate policy, as the API reads and writes it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
struct PolicyBody {
    allowed_domains: Vec<String>,
    allow_wildcards: bool,
    allow_ip_addresses: bool,
    #[serde(default = "default_max_names")]
    max_names: u32,
}

fn default_max_names() -> u32 {
    topca_core::ra::DEFAULT_MAX_NAMES
}

impl From<ServerPolicy> for PolicyBody {
    fn from(p: ServerPolicy) -> Self {
        Self {
            allowed_domains: p.allowed_domains,
            allow_wildcards: p.allow_wildcards,
            allow_ip_addresses: p.allow_ip_addresses,
            max_names: p.max_names,
        }
    }
}

impl From<PolicyBody> for ServerPolicy {
    fn from(p: PolicyBody) -> Self {
        Self {
            allowed_domains: p.allowed_domains,
            allow_wildcards: p.allow_wildcards,
            allow_ip_addresses: p.allow_ip_addresses,
            max_names: p.max_names,
        }
    }
}

async fn review(state: &Arc<AppState>, id: u64) -> Result<ServerReview, AppError> {
    blocking(state, move |s| Ok(s.ra().review_server(RequestId(id))?)).await
}

async fn load_policy(state: &Arc<AppState>, id: u64) -> Result<ServerPolicy, AppError> {
    blocking(state, move |s| Ok(s.ra().server_policy(AccountId(id))?)).await
}

// ---- API ----

/// Reviews a server application: the subject, every name and the key approval
/// would sign, and the account policy's verdict (RA administrators).
#[utoipa::path(get, path = "/api/v1/admin/requests/{id}", tag = crate::api::tags::RA,
    params(("id" = u64, Path, description = "The request's number")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The review", body = ReviewView),
        (status = 400, description = "Not a server application"),
        (status = 404, description = "No such request"),
    ))]
async fn review_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<ReviewView>, AppError> {
    api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    Ok(Json(review(&state, id).await?.into()))
}

/// An account's server certificate policy (RA administrators).
#[utoipa::path(get, path = "/api/v1/admin/accounts/{id}/server-policy", tag = crate::api::tags::RA,
    params(crate::api::AccountPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy", body = PolicyBody),
        (status = 404, description = "No such account"),
    ))]
async fn policy_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<PolicyBody>, AppError> {
    api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    Ok(Json(load_policy(&state, id).await?.into()))
}

/// Sets an account's server certificate policy (RA administrators, audited).
#[utoipa::path(put, path = "/api/v1/admin/accounts/{id}/server-policy", tag = crate::api::tags::RA,
    params(crate::api::AccountPath), request_body = PolicyBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "Saved", body = PolicyBody),
        (status = 400, description = "Invalid policy"),
        (status = 404, description = "No such account"),
    ))]
async fn save_policy_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<PolicyBody>,
) -> Result<Json<PolicyBody>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let policy = ServerPolicy::from(body);
    let saved = blocking(&state, move |s| {
        Ok(s.ra().set_server_policy(&ops, AccountId(id), policy)?)
    })
    .await?;
    Ok(Json(saved.into()))
}

// ---- pages ----

#[derive(Template)]
#[template(path = "ra/review.html")]
struct ReviewPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    review: ServerReview,
}

/// One server application: what approval would sign, then approve or reject.
async fn review_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let t = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(t);
    }
    let review = match review(&state, id).await {
        Ok(review) => review,
        Err(e) => return error_page_back(t, &e, "/TopCA/admin"),
    };
    let view = ReviewPage {
        t,
        page: Chrome::new(
            t.s("ra.review.title"),
            &[(t.s("ra.console"), "/TopCA/admin")],
        ),
        csrf: console_csrf(&headers),
        review,
    };
    render(StatusCode::OK, &view, None)
}

#[derive(Template)]
#[template(path = "ra/policy.html")]
struct PolicyPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    id: u64,
    domains: String,
    policy: ServerPolicy,
    ceiling: u32,
}

async fn policy_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let t = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(t);
    }
    let policy = match load_policy(&state, id).await {
        Ok(policy) => policy,
        Err(e) => return error_page_back(t, &e, "/TopCA/admin/ra/accounts"),
    };
    let view = PolicyPage {
        t,
        page: account_chrome(t, t.s("ra.policy.title"), id),
        csrf: console_csrf(&headers),
        id,
        domains: policy.allowed_domains.join("\n"),
        policy,
        ceiling: topca_core::ra::MAX_NAMES_CEILING,
    };
    render(StatusCode::OK, &view, None)
}

#[derive(Deserialize)]
struct PolicyForm {
    csrf: String,
    #[serde(default)]
    domains: String,
    #[serde(default)]
    wildcards: Option<String>,
    #[serde(default)]
    ip_addresses: Option<String>,
    max_names: String,
}

async fn save_policy_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<PolicyForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = format!("/TopCA/admin/ra/accounts/{id}/server-policy");
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    let Ok(max_names) = form.max_names.trim().parse::<u32>() else {
        return error_page_back(
            t,
            &AppError::localized(StatusCode::BAD_REQUEST, "ra.policy.max_not_number"),
            &back,
        );
    };
    let policy = ServerPolicy {
        allowed_domains: form.domains.lines().map(str::to_owned).collect(),
        allow_wildcards: form.wildcards.is_some(),
        allow_ip_addresses: form.ip_addresses.is_some(),
        max_names,
    };
    let saved = blocking(&state, move |s| {
        Ok(s.ra().set_server_policy(&ops, AccountId(id), policy)?)
    })
    .await;
    match saved {
        Ok(policy) => Done::page(
            t,
            t.s("ra.policy.title"),
            (
                "saved",
                t.f1("ra.policy.saved", policy.allowed_domains.join(", ")),
            ),
            back,
        ),
        Err(e) => error_page_back(t, &e, &back),
    }
}
