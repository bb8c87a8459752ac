//! The RA's request queue: requests waiting for approval (approve, which mails
//! the PIN, or reject with a reason) and unlocking a request whose holder, or
//! someone guessing, spent the wrong attempts allowed from an address. Pages
//! under the console session (with its CSRF token) and the JSON API under the
//! administrator's session; each needs the RA role and is audited by the RA.

use std::sync::Arc;

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use topca_core::{
    lifecycle::{RequestKind, RequestState},
    ra::{Administrator, RequestId, RequestRef},
    store::AdminStore,
};

use crate::{
    AppError, AppState,
    admin::{CsrfOnly, Decision},
    admin_session::{api_session, console_admin_form, console_form, forbidden},
    html::{Lang, error_page, escape, page},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/ra/requests/{id}/approve", post(approve_page))
        .route("/TopCA/admin/ra/requests/{id}/reject", post(reject_page))
        .route("/TopCA/admin/ra/unlock", post(unlock_page))
        .route("/api/v1/admin/requests", get(pending_api))
        .route("/api/v1/admin/requests/{id}/approve", post(approve_api))
        .route("/api/v1/admin/requests/{id}/reject", post(reject_api))
        .route(
            "/api/v1/admin/requests/{reference}/unlock",
            post(unlock_api),
        )
}

/// The console's RA section: the approval queue and the unlock form.
pub(crate) async fn queue_section(state: &Arc<AppState>, lang: Lang, csrf: &str) -> String {
    let pending = blocking(state, |s| {
        Ok(s.store
            .requests_anywhere(RequestState::Submitted, 200)
            .map_err(topca_core::Error::from)?)
    })
    .await;
    let rows: String = pending
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            // A server application is approved from its review, which shows
            // every name that would be signed.
            let approve = if r.kind == RequestKind::ServerApplication {
                format!(
                    r#"<a href="/TopCA/admin/ra/requests/{}">{}</a>"#,
                    r.id.0,
                    lang.t("审核名称后批准", "Review the names to approve")
                )
            } else {
                format!(
                    r#"<form method="post" action="/TopCA/admin/ra/requests/{}/approve"><input type="hidden" name="csrf" value="{csrf}"><button>{}</button></form>"#,
                    r.id.0,
                    lang.t("批准", "Approve")
                )
            };
            format!(
                r#"<tr><td>{id}</td><td><code>{reference}</code></td><td>{name}</td><td>{email}</td><td>{kind:?}</td>
<td>{approve}
<form method="post" action="/TopCA/admin/ra/requests/{id}/reject"><input type="hidden" name="csrf" value="{csrf}"><input name="reason" placeholder="{reason}" required><button>{reject}</button></form></td></tr>"#,
                id = r.id.0,
                reference = r.reference,
                name = escape(&r.holder.name),
                email = escape(&r.holder.email),
                kind = r.kind,
                reason = lang.t("拒绝原因", "Reason"),
                reject = lang.t("拒绝", "Reject"),
            )
        })
        .collect();
    let mut section = format!(
        r#"<h3>{}</h3><table id="pending"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th></th><th></th></tr>{rows}</table>
<p><a href="/TopCA/admin/ra/approved" id="approved-link">{}</a></p>"#,
        lang.t("待审核的申请", "Requests waiting for approval"),
        lang.t("参考号", "Reference"),
        lang.t("持有者", "Holder"),
        lang.t("电子邮件", "E-mail"),
        lang.t(
            "已批准待获取的申请（重发身份识别码）",
            "Approved requests waiting for retrieval (resend the PIN)"
        ),
    );
    section.push_str(&format!(
        r#"<h3>{title}</h3><form method="post" action="/TopCA/admin/ra/unlock" id="unlock"><input type="hidden" name="csrf" value="{csrf}">
<label for="unlock-reference">{label}</label><input id="unlock-reference" name="reference" required pattern="[0-9a-fA-F]{{32}}">
<button>{unlock}</button></form><p>{hint}</p>"#,
        title = lang.t("解锁申请", "Unlock a request"),
        label = lang.t("申请参考号", "Request reference"),
        unlock = lang.t("解锁", "Unlock"),
        hint = lang.t(
            "持有者从某一地址多次输错后，该地址会被暂时锁定 15 分钟；解锁会清除所有地址的错误计数。",
            "After repeated wrong attempts from one address the request is locked for that address for 15 minutes; unlocking clears the count of every address."
        ),
    ));
    section
}

async fn approve_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let lang = Lang::of(&headers);
    let admin = match console_admin_form(&state, &headers, &form.csrf).await {
        Ok(admin) => admin,
        Err(refused) => return refused.page(lang),
    };
    match approve(&state, admin, id).await {
        Ok(_) => Redirect::to("/TopCA/admin").into_response(),
        Err(e) => error_page(lang, &e),
    }
}

#[derive(Deserialize)]
struct ReasonForm {
    csrf: String,
    reason: String,
}

async fn reject_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<ReasonForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let admin = match console_admin_form(&state, &headers, &form.csrf).await {
        Ok(admin) => admin,
        Err(refused) => return refused.page(lang),
    };
    match reject(&state, admin, id, form.reason).await {
        Ok(_) => Redirect::to("/TopCA/admin").into_response(),
        Err(e) => error_page(lang, &e),
    }
}

async fn approve(
    state: &Arc<AppState>,
    admin: Administrator,
    id: u64,
) -> Result<Decision, AppError> {
    let ops = admin.ra_ops().map_err(forbidden)?;
    blocking(state, move |s| {
        let request = s.ra().approve(&ops, RequestId(id))?;
        Ok(Decision {
            request: request.id.0,
            state: request.state.label(),
        })
    })
    .await
}

async fn reject(
    state: &Arc<AppState>,
    admin: Administrator,
    id: u64,
    reason: String,
) -> Result<Decision, AppError> {
    let ops = admin.ra_ops().map_err(forbidden)?;
    blocking(state, move |s| {
        let request = s.ra().reject(&ops, RequestId(id), &reason)?;
        Ok(Decision {
            request: request.id.0,
            state: request.state.label(),
        })
    })
    .await
}

/// A request waiting for approval.
#[derive(Serialize, utoipa::ToSchema)]
struct Pending {
    /// Its number.
    request: u64,
    /// The public reference the holder knows the request by.
    reference: String,
    account: u64,
    kind: String,
    holder: String,
    email: String,
}

/// Requests waiting for approval (RA administrators; at most 1,000).
#[utoipa::path(get, path = "/api/v1/admin/requests", tag = crate::api::tags::RA, security(("bearer" = [])),
    responses((status = 200, description = "The requests", body = Vec<Pending>)))]
async fn pending_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Pending>>, AppError> {
    api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let pending = blocking(&state, |s| {
        Ok(s.store
            .requests_anywhere(RequestState::Submitted, 1000)
            .map_err(topca_core::Error::from)?)
    })
    .await?;
    Ok(Json(
        pending
            .into_iter()
            .map(|r| Pending {
                request: r.id.0,
                reference: r.reference.0,
                account: r.account.0,
                kind: format!("{:?}", r.kind),
                holder: r.holder.name,
                email: r.holder.email,
            })
            .collect(),
    ))
}

/// Approves a request: the PIN is mailed (server certificates are issued and
/// mailed) (RA administrators).
#[utoipa::path(post, path = "/api/v1/admin/requests/{id}/approve", tag = crate::api::tags::RA,
    params(("id" = u64, Path, description = "The request's number")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Approved", body = Decision),
        (status = 400, description = "Not waiting for approval, or the account's policy refuses it"),
        (status = 404, description = "No such request"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
async fn approve_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<Decision>, AppError> {
    Ok(Json(
        approve(&state, api_session(&state, &headers).await?, id).await?,
    ))
}

/// Why a request is rejected (mailed to the holder).
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = Rejection)]
struct Reason {
    reason: String,
}

/// Rejects a request with a reason, mailed to the holder (RA administrators).
#[utoipa::path(post, path = "/api/v1/admin/requests/{id}/reject", tag = crate::api::tags::RA,
    params(("id" = u64, Path, description = "The request's number")), request_body = Reason, security(("bearer" = [])),
    responses(
        (status = 200, description = "Rejected", body = Decision),
        (status = 400, description = "Not waiting for approval, or no reason given"),
        (status = 404, description = "No such request"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
async fn reject_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<Reason>,
) -> Result<Json<Decision>, AppError> {
    Ok(Json(
        reject(
            &state,
            api_session(&state, &headers).await?,
            id,
            body.reason,
        )
        .await?,
    ))
}

#[derive(Deserialize)]
struct UnlockForm {
    csrf: String,
    reference: String,
}

async fn unlock_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<UnlockForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    match unlock(&state, ops, form.reference).await {
        Ok(done) => {
            let body = format!(
                r#"<p class="ok" id="unlocked">{} <code>{}</code></p><p><a href="/TopCA/admin">{}</a></p>"#,
                lang.t("已解锁申请", "Unlocked request"),
                escape(&done.request),
                lang.t("返回", "Back"),
            );
            page(lang, lang.t("解锁申请", "Unlock a request"), &body, None)
        }
        Err(e) => error_page(lang, &e),
    }
}

/// Unlocks a request by the public reference its holder gives: every address's
/// failed attempts are forgotten (RA administrators, audited).
#[utoipa::path(post, path = "/api/v1/admin/requests/{reference}/unlock", tag = crate::api::tags::RA,
    params(("reference" = String, Path, description = "The request's public reference", pattern = "^[0-9a-f]{32}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Unlocked", body = Unlocked),
        (status = 404, description = "No request has this reference"),
    ))]
async fn unlock_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(reference): Path<String>,
) -> Result<Json<Unlocked>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    Ok(Json(unlock(&state, ops, reference).await?))
}

/// A request unlocked.
#[derive(Serialize, utoipa::ToSchema)]
struct Unlocked {
    /// The request's public reference.
    request: String,
    state: &'static str,
}

async fn unlock(
    state: &Arc<AppState>,
    ops: topca_core::ra::RaOps,
    reference: String,
) -> Result<Unlocked, AppError> {
    let reference = RequestRef::parse(&reference).ok_or_else(|| {
        AppError::from(topca_core::Error::from(topca_core::RaError::UnknownRequest))
    })?;
    blocking(state, move |s| {
        let request = s.ra().unlock(&ops, &reference)?;
        Ok(Unlocked {
            request: request.reference.0,
            state: request.state.label(),
        })
    })
    .await
}
