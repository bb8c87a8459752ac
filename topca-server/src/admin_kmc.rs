//! The KMC console: escrowed keys by holder, and two-person key recovery. One
//! KMC administrator asks, a different one approves or either refuses; the
//! authorization code goes by mail to the holder alone and never appears in a
//! page or an API answer. Who may act is decided by the key management centre
//! from the store at each step (kmc role only, outside the quarantine).

use std::sync::Arc;

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use topca_core::{
    kmc::{RecoveryId, RecoveryState},
    ra::Administrator,
    store::EscrowStore,
};

use crate::{
    AppError, AppState,
    admin::{CsrfOnly, EmailQuery},
    admin_session::{api_session, console_admin_form, console_csrf, console_session, forbidden},
    html::{Lang, error_page, escape, page},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/kmc/recoveries", post(request_recovery_page))
        .route("/TopCA/admin/kmc/keys", get(escrowed_keys_page))
        .route(
            "/TopCA/admin/kmc/recoveries/{id}/approve",
            post(approve_recovery_page),
        )
        .route(
            "/TopCA/admin/kmc/recoveries/{id}/reject",
            post(reject_recovery_page),
        )
        .route("/api/v1/admin/escrowed-keys", get(escrowed_keys_api))
        .route("/api/v1/admin/recoveries", post(request_recovery_api))
        .route(
            "/api/v1/admin/recoveries/{id}/approve",
            post(approve_recovery_api),
        )
        .route(
            "/api/v1/admin/recoveries/{id}/reject",
            post(reject_recovery_api),
        )
}

/// The recovery named in a URL; 404 for anything that is not an identifier.
fn recovery_id(text: &str) -> Result<RecoveryId, AppError> {
    RecoveryId::parse(text).ok_or_else(|| {
        AppError::new(
            StatusCode::NOT_FOUND,
            "no key recovery request has this identifier",
        )
    })
}

/// The console's KMC part: the recovery request form and the recoveries
/// waiting for a second administrator.
pub(crate) async fn console_section(state: &Arc<AppState>, lang: Lang, csrf: &str) -> String {
    let waiting = blocking(state, |s| {
        Ok(s.store
            .recoveries_in_state(RecoveryState::Requested)
            .map_err(topca_core::Error::from)?)
    })
    .await;
    let rows: String = waiting
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            format!(
                r#"<tr data-recovery="{id}"><td>{id}</td><td>{serial}</td><td>{holder}</td><td>{by}</td><td><form method="post" action="/TopCA/admin/kmc/recoveries/{id}/approve"><input type="hidden" name="csrf" value="{csrf}"><button class="approve">{approve}</button></form>
<form method="post" action="/TopCA/admin/kmc/recoveries/{id}/reject"><input type="hidden" name="csrf" value="{csrf}"><input name="reason" placeholder="{reason}" aria-label="{reason}" required><button class="reject">{reject}</button></form></td></tr>"#,
                id = r.id,
                serial = escape(&r.encryption_serial),
                holder = escape(&r.holder_name),
                by = escape(&r.requested_by),
                approve = lang.t("批准", "Approve"),
                reason = lang.t("拒绝原因", "Reason"),
                reject = lang.t("拒绝", "Reject"),
            )
        })
        .collect();
    format!(
        r#"<h3>{title}</h3><p>{rule}</p><form method="post" action="/TopCA/admin/kmc/recoveries"><input type="hidden" name="csrf" value="{csrf}">
<label for="serial">{serial}</label><input id="serial" name="serial" required><label for="reason">{reason}</label><input id="reason" name="reason" required>
<button>{ask}</button></form><table id="recoveries"><tr><th>#</th><th>{serial}</th><th>{holder}</th><th>{by}</th><th></th></tr>{rows}</table>"#,
        title = lang.t("密钥恢复", "Key recovery"),
        rule = lang.t(
            "恢复需要两名只持有密钥管理员角色的不同管理员：一人申请，另一人批准。授权码只通过邮件发给持有者本人。",
            "A recovery needs two different administrators who hold only the KMC role: one asks, the other approves. The authorization code is mailed to the holder alone."
        ),
        serial = lang.t("加密证书序列号", "Encryption certificate serial"),
        reason = lang.t("原因", "Reason"),
        ask = lang.t("申请恢复", "Request recovery"),
        holder = lang.t("持有者", "Holder"),
        by = lang.t("申请人", "Requested by"),
    )
}

#[derive(Deserialize)]
struct HolderEmail {
    #[serde(default)]
    email: String,
}

/// The keys escrowed for a holder e-mail, each with a recovery request form.
async fn escrowed_keys_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<HolderEmail>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_session(&state, &headers, Administrator::kmc_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let (csrf, cookie) = (console_csrf(&headers), None);
    let email = q.email.trim().to_owned();
    let wanted = email.clone();
    let keys = if email.is_empty() {
        Ok(Vec::new())
    } else {
        blocking(&state, move |s| Ok(s.kmc().escrowed_keys(&ops, &wanted)?)).await
    };
    let keys = match keys {
        Ok(keys) => keys,
        Err(e) => return error_page(lang, &e),
    };
    let rows: String = keys
        .iter()
        .map(|k| {
            format!(
                r#"<tr><td>{enc}</td><td>{sig}</td><td>{at}</td><td><form method="post" action="/TopCA/admin/kmc/recoveries"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="serial" value="{enc}"><input name="reason" required placeholder="{reason}" aria-label="{reason}"><button>{ask}</button></form></td></tr>"#,
                enc = escape(&k.encryption_serial),
                sig = escape(&k.signing_serial),
                at = topca_core::format_utc(k.escrowed_at),
                reason = lang.t("原因", "Reason"),
                ask = lang.t("申请恢复", "Request recovery"),
            )
        })
        .collect();
    let result = if email.is_empty() {
        String::new()
    } else if keys.is_empty() {
        format!(
            r#"<p id="none">{}</p>"#,
            lang.t(
                "该持有者没有托管密钥。",
                "No key is escrowed for this holder."
            )
        )
    } else {
        format!(
            r#"<table id="keys"><tr><th>{}</th><th>{}</th><th>{}</th><th></th></tr>{rows}</table>"#,
            lang.t("加密证书序列号", "Encryption certificate"),
            lang.t("签名证书序列号", "Signing certificate"),
            lang.t("托管时间", "Escrowed at"),
        )
    };
    let body = format!(
        r#"<form method="get" action="/TopCA/admin/kmc/keys"><label for="email">{email_l}</label><input id="email" name="email" type="email" value="{email}" required><button type="submit" id="find">{find}</button></form>{result}<p><a href="/TopCA/admin">{back}</a></p>"#,
        email_l = lang.t("持有者电子邮件", "Holder e-mail"),
        email = escape(&email),
        find = lang.t("查询", "Search"),
        back = lang.t("返回控制台", "Back to the console"),
    );
    page(lang, lang.t("托管密钥", "Escrowed keys"), &body, cookie)
}

#[derive(Deserialize)]
struct RecoveryForm {
    csrf: String,
    serial: String,
    reason: String,
}

async fn request_recovery_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<RecoveryForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let admin = match console_admin_form(&state, &headers, &form.csrf).await {
        Ok(admin) => admin,
        Err(refused) => return refused.page(lang),
    };
    match request_recovery(&state, admin, form.serial, form.reason).await {
        Ok(_) => Redirect::to("/TopCA/admin").into_response(),
        Err(e) => error_page(lang, &e),
    }
}

async fn approve_recovery_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let lang = Lang::of(&headers);
    let admin = match console_admin_form(&state, &headers, &form.csrf).await {
        Ok(admin) => admin,
        Err(refused) => return refused.page(lang),
    };
    match approve_recovery(&state, admin, &id).await {
        Ok(view) => {
            let body = format!(
                r#"<p class="ok" id="approved">{}</p><p>{}</p><p><a href="/TopCA/admin">{}</a></p>"#,
                lang.t(
                    &format!(
                        "已批准恢复申请 {}。授权码已通过邮件单独发给持有者，管理员看不到授权码。",
                        view.recovery
                    ),
                    &format!(
                        "Recovery {} approved. The authorization code was mailed to the holder alone; no administrator sees it.",
                        view.recovery
                    ),
                ),
                lang.t(
                    "持有者在用户证书服务中心用授权码恢复加密密钥。",
                    "The holder recovers the encryption key with it at the user certificate service centre."
                ),
                lang.t("返回控制台", "Back to the console"),
            );
            page(lang, lang.t("密钥恢复", "Key recovery"), &body, None)
        }
        Err(e) => error_page(lang, &e),
    }
}

#[derive(Deserialize)]
struct ReasonForm {
    csrf: String,
    reason: String,
}

async fn reject_recovery_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let admin = match console_admin_form(&state, &headers, &form.csrf).await {
        Ok(admin) => admin,
        Err(refused) => return refused.page(lang),
    };
    match reject_recovery(&state, admin, &id, form.reason).await {
        Ok(_) => Redirect::to("/TopCA/admin").into_response(),
        Err(e) => error_page(lang, &e),
    }
}

// ---- actions, shared by pages and API ----

/// A recovery as the console and the API show it: never with a code.
#[derive(Serialize, utoipa::ToSchema)]
struct RecoveryView {
    recovery: String,
    state: &'static str,
}

async fn request_recovery(
    state: &Arc<AppState>,
    admin: Administrator,
    serial: String,
    reason: String,
) -> Result<RecoveryView, AppError> {
    let ops = admin.kmc_ops().map_err(forbidden)?;
    blocking(state, move |s| {
        let recovery = s.kmc().request_recovery(&ops, &serial, &reason)?;
        Ok(RecoveryView {
            recovery: recovery.id.to_hex(),
            state: recovery.state.label(),
        })
    })
    .await
}

async fn approve_recovery(
    state: &Arc<AppState>,
    admin: Administrator,
    id: &str,
) -> Result<RecoveryView, AppError> {
    let ops = admin.kmc_ops().map_err(forbidden)?;
    let id = recovery_id(id)?;
    blocking(state, move |s| {
        let recovery = s.kmc().approve_recovery(&ops, id)?;
        Ok(RecoveryView {
            recovery: recovery.id.to_hex(),
            state: recovery.state.label(),
        })
    })
    .await
}

async fn reject_recovery(
    state: &Arc<AppState>,
    admin: Administrator,
    id: &str,
    reason: String,
) -> Result<RecoveryView, AppError> {
    let ops = admin.kmc_ops().map_err(forbidden)?;
    let id = recovery_id(id)?;
    blocking(state, move |s| {
        let recovery = s.kmc().reject_recovery(&ops, id, &reason)?;
        Ok(RecoveryView {
            recovery: recovery.id.to_hex(),
            state: recovery.state.label(),
        })
    })
    .await
}

// ---- API ----

/// A KMC administrator's request to recover a holder's encryption key.
#[derive(Deserialize, utoipa::ToSchema)]
struct RecoveryRequest {
    /// The serial number of the encryption certificate whose key is recovered.
    encryption_serial: String,
    reason: String,
}

/// Asks for a key recovery (administrators holding only the KMC role); another
/// KMC administrator approves it.
#[utoipa::path(post, path = "/api/v1/admin/recoveries", tag = crate::api::tags::KMC,
    request_body = RecoveryRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Requested: its random 128-bit identifier (hex)", body = RecoveryView),
        (status = 400, description = "No reason given"),
        (status = 404, description = "No key is escrowed for this certificate"),
    ))]
async fn request_recovery_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<RecoveryRequest>,
) -> Result<Json<RecoveryView>, AppError> {
    Ok(Json(
        request_recovery(
            &state,
            api_session(&state, &headers).await?,
            body.encryption_serial,
            body.reason,
        )
        .await?,
    ))
}

/// Approves a recovery asked by another KMC administrator; the code is mailed
/// to the holder alone.
#[utoipa::path(post, path = "/api/v1/admin/recoveries/{id}/approve", tag = crate::api::tags::KMC,
    params(("id" = String, Path, description = "The recovery's identifier (32 hexadecimal digits)")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Approved (the answer holds no code)", body = RecoveryView),
        (status = 400, description = "Not waiting for approval, or asked by the caller"),
        (status = 404, description = "No such recovery"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
async fn approve_recovery_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RecoveryView>, AppError> {
    Ok(Json(
        approve_recovery(&state, api_session(&state, &headers).await?, &id).await?,
    ))
}

/// Why a recovery is refused (the holder is told).
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = RecoveryRefusal)]
struct Reason {
    reason: String,
}

/// Refuses a recovery with a reason (the holder is told).
#[utoipa::path(post, path = "/api/v1/admin/recoveries/{id}/reject", tag = crate::api::tags::KMC,
    params(("id" = String, Path, description = "The recovery's identifier (32 hexadecimal digits)")), request_body = Reason, security(("bearer" = [])),
    responses(
        (status = 200, description = "Rejected", body = RecoveryView),
        (status = 400, description = "Not waiting for approval, or no reason given"),
        (status = 404, description = "No such recovery"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
async fn reject_recovery_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Reason>,
) -> Result<Json<RecoveryView>, AppError> {
    Ok(Json(
        reject_recovery(
            &state,
            api_session(&state, &headers).await?,
            &id,
            body.reason,
        )
        .await?,
    ))
}

/// An escrowed key, without its key material.
#[derive(Serialize, utoipa::ToSchema)]
struct EscrowView {
    encryption_serial: String,
    signing_serial: String,
    escrowed_at: String,
}

/// The keys escrowed for a holder (KMC administrators; ciphertext never leaves).
#[utoipa::path(get, path = "/api/v1/admin/escrowed-keys", tag = crate::api::tags::KMC,
    params(crate::admin::EmailQuery), security(("bearer" = [])),
    responses((status = 200, description = "The escrowed keys (no key material)", body = Vec<EscrowView>)))]
async fn escrowed_keys_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<EmailQuery>,
) -> Result<Json<Vec<EscrowView>>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .kmc_ops()
        .map_err(forbidden)?;
    let keys = blocking(&state, move |s| {
        Ok(s.kmc().escrowed_keys(&ops, &q.email)?)
    })
    .await?;
    Ok(Json(
        keys.into_iter()
            .map(|k| EscrowView {
                encryption_serial: k.encryption_serial,
                signing_serial: k.signing_serial,
                escrowed_at: topca_core::format_utc(k.escrowed_at),
            })
            .collect(),
    ))
}
