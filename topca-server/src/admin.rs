//! The administrators' side: log-in with sessions (cookie for pages, bearer token
//! for the API), the RA console (requests waiting for approval: approve, which
//! mails the PIN, or reject with a reason) and the KMC console (key recovery:
//! one administrator asks, another approves; the code is shown once and mailed).

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use topca_core::{
    KeyAlgorithm, OsRandom, RandomSource,
    kmc::{KeyManagementCentre, KmcPolicy, RecoveryId, RecoveryState},
    lifecycle::RequestState,
    lifecycle::{CertificateType, VerificationMode},
    ra::{
        Account, AccountId, AccountSettings, Administrator, Holder, Language, RaOps, RequestId,
        admin,
    },
    store::{AdminStore, AuditStore, EscrowStore},
};

use crate::{
    AppError, AppState,
    html::{Lang, cookie, csrf_ok, csrf_token, error_page, escape, form_expired, page},
    state::blocking,
};

/// How long a session lives without use.
const IDLE: Duration = Duration::from_secs(30 * 60);

/// The fewest characters of an administrator password, on the super
/// administrator's page and for `topca-server admin add` alike.
pub const MIN_PASSWORD: usize = 12;

/// Whether a new administrator password has [`MIN_PASSWORD`] characters
/// (checked before `topca_core`'s policy for every password, which allows
/// shorter ones).
pub fn password_long_enough(password: &str) -> bool {
    password.chars().count() >= MIN_PASSWORD
}

/// A logged-in administrator.
#[derive(Debug, Clone)]
pub struct Session {
    admin: Administrator,
    expires: SystemTime,
}

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/login", get(login_form).post(login_page))
        .route("/TopCA/admin/logout", post(logout))
        .route("/TopCA/admin", get(console))
        .route("/TopCA/admin/ra/requests/{id}/approve", post(approve_page))
        .route("/TopCA/admin/ra/requests/{id}/reject", post(reject_page))
        .route("/TopCA/admin/kmc/recoveries", post(request_recovery_page))
        .route("/TopCA/admin/kmc/keys", get(escrowed_keys_page))
        .route(
            "/TopCA/admin/kmc/recoveries/{id}/approve",
            post(approve_recovery_page),
        )
        .route(
            "/TopCA/admin/ra/accounts",
            get(crate::admin_ra::accounts_page).post(create_account_page),
        )
        .route("/TopCA/admin/audit", get(audit_page))
        .route("/api/v1/admin/accounts", post(create_account_api))
        .route(
            "/api/v1/admin/accounts/{id}",
            axum::routing::put(update_account_api),
        )
        .route(
            "/api/v1/admin/accounts/{id}/preregistrations",
            post(preregister_api),
        )
        .route(
            "/api/v1/admin/accounts/{id}/preregistrations/csv",
            post(preregister_csv_api),
        )
        .route(
            "/api/v1/admin/accounts/{id}/central-issuance",
            post(issue_centrally_api),
        )
        .route("/api/v1/admin/escrowed-keys", get(escrowed_keys_api))
        .route("/api/v1/admin/certificates", get(certificates_api))
        .route(
            "/api/v1/admin/certificates/{serial}/revoke",
            post(revoke_api),
        )
        .route("/api/v1/admin/sessions", post(login_api))
        .route("/api/v1/admin/requests", get(pending_api))
        .route("/api/v1/admin/requests/{id}/approve", post(approve_api))
        .route("/api/v1/admin/requests/{id}/reject", post(reject_api))
        .route("/api/v1/admin/recoveries", post(request_recovery_api))
        .route(
            "/api/v1/admin/recoveries/{id}/approve",
            post(approve_recovery_api),
        )
        .merge(crate::admin_ra::routes())
        .merge(crate::admin_super::routes())
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Logs in and opens a session; returns its token (shown to the client once).
fn open_session(state: &AppState, name: &str, password: &str) -> Result<String, AppError> {
    let admin = admin::login(&state.store, state.ca.environment().clock(), name, password)?;
    start_session(state, admin)
}

/// Opens a session for an authenticated administrator; returns its token.
pub(crate) fn start_session(state: &AppState, admin: Administrator) -> Result<String, AppError> {
    let mut random = [0u8; 32];
    OsRandom
        .fill(&mut random)
        .map_err(|_| AppError::internal("open a session"))?;
    let token: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut sessions = state
        .sessions
        .lock()
        .map_err(|_| AppError::internal("open a session"))?;
    let now = SystemTime::now();
    sessions.retain(|_, s| s.expires > now);
    sessions.insert(
        token_hash(&token),
        Session {
            admin,
            expires: now + IDLE,
        },
    );
    Ok(token)
}

/// A redirect to the console that sets the session cookie.
pub(crate) fn enter_console(state: &AppState, token: &str) -> Response {
    let secure = if state.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let mut response = Redirect::to("/TopCA/admin").into_response();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "topca_admin={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The administrator of a request's session (cookie or bearer token); 401 if none.
pub(crate) fn session(state: &AppState, headers: &HeaderMap) -> Result<Administrator, AppError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let token = bearer.or_else(|| cookie(headers, "topca_admin"));
    let unauthorized =
        || AppError::new(StatusCode::UNAUTHORIZED, "log in as an administrator first");
    let token = token.ok_or_else(unauthorized)?;
    let mut sessions = state
        .sessions
        .lock()
        .map_err(|_| AppError::internal("check the session"))?;
    let now = SystemTime::now();
    let entry = sessions
        .get_mut(&token_hash(&token))
        .filter(|s| s.expires > now)
        .ok_or_else(unauthorized)?;
    entry.expires = now + IDLE;
    Ok(entry.admin.clone())
}

/// Why a console page is not shown: no session (the log-in page), or a role
/// that does not allow it.
pub(crate) enum Refused {
    /// The form's CSRF token does not match (an old or forged form).
    FormExpired,
    /// Not logged in.
    NotLoggedIn,
    /// Logged in without the role.
    Forbidden(AppError),
}

impl Refused {
    /// The page shown instead.
    pub(crate) fn page(self, lang: Lang) -> Response {
        match self {
            Self::FormExpired => form_expired(lang),
            Self::NotLoggedIn => Redirect::to("/TopCA/admin/login").into_response(),
            Self::Forbidden(e) => error_page(lang, &e),
        }
    }
}

/// The capability `role` (such as [`Administrator::ra_ops`]) gives the
/// administrator of the request's session, or the page to show instead: the
/// log-in page without a session, an error for another role.
pub(crate) fn console_session<T>(
    state: &AppState,
    headers: &HeaderMap,
    role: fn(&Administrator) -> Result<T, topca_core::RaError>,
) -> Result<T, Refused> {
    let admin = session(state, headers).map_err(|_| Refused::NotLoggedIn)?;
    role(&admin).map_err(|e| Refused::Forbidden(forbidden(e)))
}

/// [`console_session`] for a posted form, whose CSRF token must match.
pub(crate) fn console_form<T>(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
    role: fn(&Administrator) -> Result<T, topca_core::RaError>,
) -> Result<T, Refused> {
    if !csrf_ok(headers, csrf) {
        return Err(Refused::FormExpired);
    }
    console_session(state, headers, role)
}

pub(crate) fn forbidden(e: topca_core::RaError) -> AppError {
    AppError::new(StatusCode::FORBIDDEN, e.to_string())
}

fn kmc(state: &AppState) -> KeyManagementCentre<'_> {
    KeyManagementCentre::new(
        &state.store,
        state.mailer.as_ref(),
        &state.ca,
        &state.master,
        KmcPolicy::default(),
    )
}

// ---- pages ----

async fn login_form(headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    let (token, cookie) = csrf_token(&headers);
    let body = format!(
        r#"<form method="post" action="/TopCA/admin/login"><input type="hidden" name="csrf" value="{token}">
<label for="name">{name}</label><input id="name" name="name" required>
<label for="password">{password}</label><input id="password" name="password" type="password" required>
<button type="submit" id="submit">{submit}</button></form>
<p><a href="/TopCA/admin/login/certificate" id="certificate-login">{certificate}</a></p>"#,
        certificate = lang.t(
            "使用证书登录（HTTPS，浏览器中已安装本 CA 签发的管理员证书）",
            "Log in with a certificate (HTTPS, an administrator certificate from this CA installed in the browser)"
        ),
        name = lang.t("管理员名", "Administrator"),
        password = lang.t("口令", "Password"),
        submit = lang.t("登录", "Log in"),
    );
    page(
        lang,
        lang.t("管理员登录", "Administrator log-in"),
        &body,
        cookie,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    name: String,
    password: String,
}

async fn login_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    let password = zeroize::Zeroizing::new(form.password);
    let name = form.name;
    match blocking(&state, move |s| open_session(s, &name, &password)).await {
        Ok(token) => enter_console(&state, &token),
        Err(e) => error_page(lang, &e),
    }
}

async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, "topca_admin")
        && let Ok(mut sessions) = state.sessions.lock()
    {
        sessions.remove(&token_hash(&token));
    }
    let mut response = Redirect::to("/TopCA/admin/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("topca_admin=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// The console: what the administrator's roles allow.
async fn console(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    let admin = match session(&state, &headers) {
        Ok(a) => a,
        Err(_) => return Redirect::to("/TopCA/admin/login").into_response(),
    };
    let (csrf, cookie) = csrf_token(&headers);
    let mut body = format!(
        r#"<p>{} <b id="admin">{}</b></p><form method="post" action="/TopCA/admin/logout"><button>{}</button></form>"#,
        lang.t("当前管理员：", "Logged in as"),
        escape(&admin.name),
        lang.t("退出", "Log out")
    );
    if admin.ra_ops().is_ok() {
        let pending = blocking(&state, |s| {
            Ok(s.store
                .requests_anywhere(RequestState::Submitted, 200)
                .map_err(topca_core::Error::from)?)
        })
        .await;
        let rows: String = pending
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                format!(
                    r#"<tr><td>{id}</td><td>{name}</td><td>{email}</td><td>{kind:?}</td>
<td><form method="post" action="/TopCA/admin/ra/requests/{id}/approve"><input type="hidden" name="csrf" value="{csrf}"><button>{approve}</button></form>
<form method="post" action="/TopCA/admin/ra/requests/{id}/reject"><input type="hidden" name="csrf" value="{csrf}"><input name="reason" placeholder="{reason}" required><button>{reject}</button></form></td></tr>"#,
                    id = r.id.0,
                    name = escape(&r.holder.name),
                    email = escape(&r.holder.email),
                    kind = r.kind,
                    approve = lang.t("批准", "Approve"),
                    reason = lang.t("拒绝原因", "Reason"),
                    reject = lang.t("拒绝", "Reject"),
                )
            })
            .collect();
        body.push_str(&format!(
            r#"<h3>{}</h3><table id="pending"><tr><th>#</th><th>{}</th><th>{}</th><th></th><th></th></tr>{rows}</table>
<p><a href="/TopCA/admin/ra/approved" id="approved-link">{}</a></p>"#,
            lang.t("待审核的申请", "Requests waiting for approval"),
            lang.t("持有者", "Holder"),
            lang.t("电子邮件", "E-mail"),
            lang.t("已批准待获取的申请（重发身份识别码）", "Approved requests waiting for retrieval (resend the PIN)"),
        ));
        body.push_str(&account_form(
            lang,
            &csrf,
            "/TopCA/admin/ra/accounts",
            None,
            &state.base_url,
        ));
    }
    if admin.kmc_ops().is_ok() {
        let waiting = blocking(&state, |s| {
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
                    r#"<tr><td>{id}</td><td>{serial}</td><td>{holder}</td><td>{by}</td><td><form method="post" action="/TopCA/admin/kmc/recoveries/{id}/approve"><input type="hidden" name="csrf" value="{csrf}"><button>{approve}</button></form></td></tr>"#,
                    id = r.id.0,
                    serial = escape(&r.encryption_serial),
                    holder = escape(&r.holder_name),
                    by = escape(&r.requested_by),
                    approve = lang.t("批准", "Approve"),
                )
            })
            .collect();
        body.push_str(&format!(
            r#"<h3>{title}</h3><form method="post" action="/TopCA/admin/kmc/recoveries"><input type="hidden" name="csrf" value="{csrf}">
<label for="serial">{serial}</label><input id="serial" name="serial" required><label for="reason">{reason}</label><input id="reason" name="reason" required>
<button>{ask}</button></form><table id="recoveries"><tr><th>#</th><th>{serial}</th><th>{holder}</th><th>{by}</th><th></th></tr>{rows}</table>"#,
            title = lang.t("密钥恢复", "Key recovery"),
            serial = lang.t("加密证书序列号", "Encryption certificate serial"),
            reason = lang.t("原因", "Reason"),
            ask = lang.t("申请恢复", "Request recovery"),
            holder = lang.t("持有者", "Holder"),
            by = lang.t("申请人", "Requested by"),
        ));
    }
    let mut links = Vec::new();
    if admin.ra_ops().is_ok() {
        links.push(format!(
            r#"<a href="/TopCA/admin/ra/certificates" id="certificates-link">{}</a>"#,
            lang.t("持有者与证书", "Holders and certificates")
        ));
        links.push(format!(
            r#"<a href="/TopCA/admin/ra/accounts" id="accounts-link">{}</a>"#,
            lang.t("帐户管理", "Accounts")
        ));
    }
    if admin.kmc_ops().is_ok() {
        links.push(format!(
            r#"<a href="/TopCA/admin/kmc/keys" id="keys-link">{}</a>"#,
            lang.t("托管密钥", "Escrowed keys")
        ));
    }
    if admin.super_ops().is_ok() {
        links.push(format!(
            r#"<a href="/TopCA/admin/super" id="super-link">{}</a>"#,
            lang.t("管理员与 CA 运维", "Administrators and CA operations")
        ));
    }
    links.push(format!(
        r#"<a href="/TopCA/admin/audit" id="audit-link">{}</a>"#,
        lang.t("审计日志", "Audit log")
    ));
    body.push_str(&format!("<p>{}</p>", links.join(" · ")));
    page(lang, lang.t("管理控制台", "Administration"), &body, cookie)
}

#[derive(Deserialize)]
struct AuditFilter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
}

/// The audit log, newest first, filtered by actor and target text, with the
/// result of verifying the whole hash chain.
async fn audit_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(filter): axum::extract::Query<AuditFilter>,
) -> Response {
    let lang = Lang::of(&headers);
    if session(&state, &headers).is_err() {
        return Redirect::to("/TopCA/admin/login").into_response();
    }
    let entries = match blocking(&state, |s| {
        Ok(s.store.audit_entries().map_err(topca_core::Error::from)?)
    })
    .await
    {
        Ok(entries) => entries,
        Err(e) => return error_page(lang, &e),
    };
    let verdict = match topca_core::audit::verify_chain(&entries, entries.last().map(|e| e.hash)) {
        Ok(()) => format!(
            r#"<p class="ok" id="chain">{} ({})</p>"#,
            lang.t("审计链完整，未被篡改。", "The audit chain is intact."),
            entries.len()
        ),
        Err(e) => format!(
            r#"<p class="error" id="chain">{}</p>"#,
            escape(&e.to_string())
        ),
    };
    let actor_filter = filter.actor.trim().to_lowercase();
    let target_filter = filter.target.trim().to_lowercase();
    let rows: String = entries
        .iter()
        .rev()
        .filter(|e| {
            let (_, who) = e.record.actor.to_parts();
            who.to_lowercase().contains(&actor_filter)
                && e.record.target.to_lowercase().contains(&target_filter)
        })
        .take(500)
        .map(|e| {
            let (_, who) = e.record.actor.to_parts();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{:?}</td><td>{}</td></tr>",
                e.sequence,
                topca_core::format_utc(e.record.at),
                escape(who),
                e.record.action,
                escape(&e.record.target),
                e.record.outcome,
                escape(&e.record.detail)
            )
        })
        .collect();
    let body = format!(
        r#"{verdict}<form method="get" action="/TopCA/admin/audit">
<label for="actor">{actor_l}</label><input id="actor" name="actor" value="{actor}">
<label for="target">{target_l}</label><input id="target" name="target" value="{target}">
<button type="submit">{filter_l}</button></form>
<table id="audit"><tr><th>#</th><th>{time}</th><th>{who}</th><th>{what}</th><th>{on}</th><th>{outcome}</th><th>{detail}</th></tr>{rows}</table>"#,
        actor_l = lang.t("操作者", "Actor"),
        actor = escape(&filter.actor),
        target_l = lang.t("对象", "Target"),
        target = escape(&filter.target),
        filter_l = lang.t("筛选", "Filter"),
        time = lang.t("时间", "Time"),
        who = lang.t("操作者", "Actor"),
        what = lang.t("操作", "Action"),
        on = lang.t("对象", "Target"),
        outcome = lang.t("结果", "Outcome"),
        detail = lang.t("说明", "Detail"),
    );
    page(lang, lang.t("审计日志", "Audit log"), &body, None)
}

/// The keys escrowed for a holder e-mail, each with a recovery request form.
async fn escrowed_keys_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<HolderEmail>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_session(&state, &headers, Administrator::kmc_ops) {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let (csrf, cookie) = csrf_token(&headers);
    let email = q.email.trim().to_owned();
    let wanted = email.clone();
    let keys = if email.is_empty() {
        Ok(Vec::new())
    } else {
        blocking(&state, move |s| Ok(kmc(s).escrowed_keys(&ops, &wanted)?)).await
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
struct HolderEmail {
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn approve_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    match approve(&state, &headers, id).await {
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
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    match reject(&state, &headers, id, form.reason).await {
        Ok(_) => Redirect::to("/TopCA/admin").into_response(),
        Err(e) => error_page(lang, &e),
    }
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
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    match request_recovery(&state, &headers, form.serial, form.reason).await {
        Ok(_) => Redirect::to("/TopCA/admin").into_response(),
        Err(e) => error_page(lang, &e),
    }
}

async fn approve_recovery_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    match approve_recovery(&state, &headers, id).await {
        Ok(code) => {
            let body = format!(
                r#"<p class="ok">{}</p><pre id="code">{}</pre><p>{}</p><p><a href="/TopCA/admin">{}</a></p>"#,
                lang.t(
                    "已批准。授权码（只显示这一次，已发送到持有者邮箱）：",
                    "Approved. The authorization code (shown this once, also mailed to the holder):"
                ),
                escape(&code.code),
                lang.t(
                    "请通过安全渠道交给持有者。",
                    "Hand it to the holder over a safe channel."
                ),
                lang.t("返回控制台", "Back to the console"),
            );
            page(lang, lang.t("密钥恢复", "Key recovery"), &body, None)
        }
        Err(e) => error_page(lang, &e),
    }
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

async fn approve(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    id: u64,
) -> Result<Decision, AppError> {
    let ops = session(state, headers)?.ra_ops().map_err(forbidden)?;
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
    headers: &HeaderMap,
    id: u64,
    reason: String,
) -> Result<Decision, AppError> {
    let ops = session(state, headers)?.ra_ops().map_err(forbidden)?;
    blocking(state, move |s| {
        let request = s.ra().reject(&ops, RequestId(id), &reason)?;
        Ok(Decision {
            request: request.id.0,
            state: request.state.label(),
        })
    })
    .await
}

async fn request_recovery(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    serial: String,
    reason: String,
) -> Result<RecoveryView, AppError> {
    let ops = session(state, headers)?.kmc_ops().map_err(forbidden)?;
    blocking(state, move |s| {
        let recovery = kmc(s).request_recovery(&ops, &serial, &reason)?;
        Ok(RecoveryView {
            recovery: recovery.id.0,
            state: recovery.state.label(),
            code: None,
        })
    })
    .await
}

struct Approved {
    code: zeroize::Zeroizing<String>,
}

async fn approve_recovery(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    id: u64,
) -> Result<Approved, AppError> {
    let ops = session(state, headers)?.kmc_ops().map_err(forbidden)?;
    blocking(state, move |s| {
        let approved = kmc(s).approve_recovery(&ops, RecoveryId(id))?;
        Ok(Approved {
            code: approved.code,
        })
    })
    .await
}

// ---- API ----

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

#[derive(Serialize)]
struct Token {
    token: String,
    expires_in_seconds: u64,
}

async fn login_api(
    State(state): State<Arc<AppState>>,
    Json(body): Json<Credentials>,
) -> Result<Json<Token>, AppError> {
    let password = zeroize::Zeroizing::new(body.password);
    let name = body.name;
    let token = blocking(&state, move |s| open_session(s, &name, &password)).await?;
    Ok(Json(Token {
        token,
        expires_in_seconds: IDLE.as_secs(),
    }))
}

#[derive(Serialize)]
struct Pending {
    request: u64,
    account: u64,
    kind: String,
    holder: String,
    email: String,
}

async fn pending_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Pending>>, AppError> {
    session(&state, &headers)?.ra_ops().map_err(forbidden)?;
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
                account: r.account.0,
                kind: format!("{:?}", r.kind),
                holder: r.holder.name,
                email: r.holder.email,
            })
            .collect(),
    ))
}

#[derive(Serialize)]
pub(crate) struct Decision {
    request: u64,
    state: &'static str,
}

async fn approve_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<Decision>, AppError> {
    Ok(Json(approve(&state, &headers, id).await?))
}

#[derive(Deserialize)]
struct Reason {
    reason: String,
}

async fn reject_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<Reason>,
) -> Result<Json<Decision>, AppError> {
    Ok(Json(reject(&state, &headers, id, body.reason).await?))
}

#[derive(Deserialize)]
struct RecoveryRequest {
    encryption_serial: String,
    reason: String,
}

#[derive(Serialize)]
struct RecoveryView {
    recovery: u64,
    state: &'static str,
    /// The authorization code: only in the approval's answer.
    code: Option<String>,
}

async fn request_recovery_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<RecoveryRequest>,
) -> Result<Json<RecoveryView>, AppError> {
    Ok(Json(
        request_recovery(&state, &headers, body.encryption_serial, body.reason).await?,
    ))
}

async fn approve_recovery_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<RecoveryView>, AppError> {
    let approved = approve_recovery(&state, &headers, id).await?;
    Ok(Json(RecoveryView {
        recovery: id,
        state: RecoveryState::Approved.label(),
        code: Some(approved.code.to_string()),
    }))
}

/// The console's account form: empty to create an account, or filled with
/// `current` to edit one; posts to `action`.
pub(crate) fn account_form(
    lang: Lang,
    csrf: &str,
    action: &str,
    current: Option<&AccountSettings>,
    base_url: &str,
) -> String {
    let options = |pairs: &[(&str, &str)], chosen: &str| -> String {
        pairs
            .iter()
            .map(|(value, label)| {
                let selected = if *value == chosen { " selected" } else { "" };
                format!(
                    r#"<option value="{value}"{selected}>{}</option>"#,
                    escape(label)
                )
            })
            .collect()
    };
    let default_url = format!("{base_url}/TopCA/userEnroll");
    let (o, ou, kind, mode, alg, days, url, language) = match current {
        Some(c) => (
            c.organization.as_str(),
            c.unit.as_str(),
            match c.certificate_type {
                CertificateType::Single => "single",
                CertificateType::Dual => "dual",
            },
            match c.verification {
                VerificationMode::Automatic => "automatic",
                VerificationMode::Manual => "manual",
                VerificationMode::Passcode => "passcode",
            },
            c.algorithm.name(),
            c.validity_days,
            c.service_url.as_str(),
            match c.language {
                Language::English => "en",
                Language::Chinese => "zh",
            },
        ),
        None => (
            "",
            "",
            "single",
            "manual",
            KeyAlgorithm::ALL[0].name(),
            365,
            default_url.as_str(),
            "zh",
        ),
    };
    let (title, button) = if current.is_some() {
        (
            lang.t("修改帐户", "Edit the account"),
            lang.t("保存", "Save"),
        )
    } else {
        (
            lang.t("新建帐户", "New account"),
            lang.t("创建帐户", "Create the account"),
        )
    };
    let form_id = if current.is_some() {
        "edit-account"
    } else {
        "new-account"
    };
    let button_id = if current.is_some() {
        "save-account"
    } else {
        "create-account"
    };
    format!(
        r#"<h3>{title}</h3><form method="post" action="{action}" id="{form_id}">
<input type="hidden" name="csrf" value="{csrf}">
<label for="organization">{o_l}</label><input id="organization" name="organization" value="{o}" required>
<label for="unit">{ou_l}</label><input id="unit" name="unit" value="{ou}" required>
<label for="certificate_type">{kind_l}</label><select id="certificate_type" name="certificate_type">{kinds}</select>
<label for="verification">{mode_l}</label><select id="verification" name="verification">{modes}</select>
<label for="algorithm">{alg_l}</label><select id="algorithm" name="algorithm">{algs}</select>
<label for="validity_days">{days_l}</label><input id="validity_days" name="validity_days" type="number" value="{days}" required>
<label for="service_url">{url_l}</label><input id="service_url" name="service_url" value="{url}" required>
<label for="language">{language_l}</label><select id="language" name="language">{languages}</select>
<button type="submit" id="{button_id}">{button}</button></form>"#,
        action = escape(action),
        o_l = lang.t("单位（O）", "Organisation (O)"),
        o = escape(o),
        ou_l = lang.t("部门（OU）", "Unit (OU)"),
        ou = escape(ou),
        kind_l = lang.t("证书类型", "Certificate type"),
        kinds = options(
            &[
                ("single", lang.t("单证书", "single")),
                ("dual", lang.t("双证书", "dual"))
            ],
            kind
        ),
        mode_l = lang.t("审核方式", "Verification"),
        modes = options(
            &[
                ("manual", lang.t("人工审核", "manual approval")),
                ("automatic", lang.t("自动审核", "automatic")),
                ("passcode", lang.t("授权码", "passcode")),
            ],
            mode
        ),
        alg_l = lang.t("算法", "Algorithm"),
        algs = options(&KeyAlgorithm::ALL.map(|a| (a.name(), a.name())), alg),
        days_l = lang.t("有效期（天）", "Validity (days)"),
        url_l = lang.t("服务地址", "Service URL"),
        url = escape(url),
        language_l = lang.t("邮件语言", "Mail language"),
        languages = options(&[("zh", "简体中文"), ("en", "English")], language),
    )
}

/// Account settings as a form or JSON body gives them.
#[derive(Deserialize)]
pub(crate) struct AccountBody {
    pub(crate) organization: String,
    pub(crate) unit: String,
    /// `single` or `dual`.
    pub(crate) certificate_type: String,
    /// `automatic`, `manual` or `passcode`.
    pub(crate) verification: String,
    /// `sm2`, `p256`, …
    pub(crate) algorithm: String,
    pub(crate) validity_days: u32,
    pub(crate) service_url: String,
    /// `zh` or `en`.
    #[serde(default)]
    pub(crate) language: Option<String>,
}

impl AccountBody {
    pub(crate) fn settings(self) -> Result<AccountSettings, AppError> {
        Ok(AccountSettings {
            organization: self.organization.trim().to_owned(),
            unit: self.unit.trim().to_owned(),
            certificate_type: match self.certificate_type.as_str() {
                "single" => CertificateType::Single,
                "dual" => CertificateType::Dual,
                _ => {
                    return Err(AppError::bad_request(
                        "certificate_type must be single or dual",
                    ));
                }
            },
            verification: match self.verification.as_str() {
                "automatic" => VerificationMode::Automatic,
                "manual" => VerificationMode::Manual,
                "passcode" => VerificationMode::Passcode,
                _ => {
                    return Err(AppError::bad_request(
                        "verification must be automatic, manual or passcode",
                    ));
                }
            },
            algorithm: self
                .algorithm
                .parse()
                .map_err(|e: topca_core::KeyError| AppError::bad_request(e.to_string()))?,
            validity_days: self.validity_days,
            service_url: self.service_url.trim().to_owned(),
            language: match self.language.as_deref() {
                Some("en") => Language::English,
                _ => Language::Chinese,
            },
        })
    }
}

#[derive(Serialize)]
struct AccountView {
    id: u64,
    organization: String,
    unit: String,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.0,
            organization: a.settings.organization,
            unit: a.settings.unit,
        }
    }
}

async fn create_account(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: AccountBody,
) -> Result<Account, AppError> {
    let ops = session(state, headers)?.ra_ops().map_err(forbidden)?;
    let settings = body.settings()?;
    blocking(state, move |s| Ok(s.ra().create_account(&ops, settings)?)).await
}

/// The account form as posted (create or edit).
#[derive(Deserialize)]
pub(crate) struct AccountForm {
    pub(crate) csrf: String,
    organization: String,
    unit: String,
    certificate_type: String,
    verification: String,
    algorithm: String,
    validity_days: u32,
    service_url: String,
    #[serde(default)]
    language: Option<String>,
}

impl AccountForm {
    /// The settings part of the form.
    pub(crate) fn body(self) -> AccountBody {
        AccountBody {
            organization: self.organization,
            unit: self.unit,
            certificate_type: self.certificate_type,
            verification: self.verification,
            algorithm: self.algorithm,
            validity_days: self.validity_days,
            service_url: self.service_url,
            language: self.language,
        }
    }
}

async fn create_account_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    match create_account(&state, &headers, form.body()).await {
        Ok(account) => {
            let body = format!(
                r#"<p class="ok" id="created">{} {} / {} (#{})</p><p><a href="/TopCA/admin">{}</a></p>"#,
                lang.t("帐户已创建：", "Account created:"),
                escape(&account.settings.organization),
                escape(&account.settings.unit),
                account.id.0,
                lang.t("返回控制台", "Back to the console"),
            );
            page(lang, lang.t("新建帐户", "New account"), &body, None)
        }
        Err(e) => error_page(lang, &e),
    }
}

async fn create_account_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<AccountBody>,
) -> Result<Json<AccountView>, AppError> {
    Ok(Json(AccountView::from(
        create_account(&state, &headers, body).await?,
    )))
}

async fn update_account_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<AccountBody>,
) -> Result<Json<AccountView>, AppError> {
    let ops = session(&state, &headers)?.ra_ops().map_err(forbidden)?;
    let settings = body.settings()?;
    let account = blocking(&state, move |s| {
        Ok(s.ra().update_account(&ops, AccountId(id), settings)?)
    })
    .await?;
    Ok(Json(AccountView::from(account)))
}

#[derive(Deserialize)]
pub(crate) struct HolderBody {
    name: String,
    email: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    locality: Option<String>,
}

impl HolderBody {
    pub(crate) fn holder(self) -> Holder {
        Holder {
            name: self.name,
            email: self.email,
            phone: self.phone,
            state: self.state,
            locality: self.locality,
        }
    }
}

/// Passcode mode: one holder pre-registered; the reference number and the
/// authorization code are mailed to them.
async fn preregister_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<HolderBody>,
) -> Result<Json<Decision>, AppError> {
    let ops = session(&state, &headers)?.ra_ops().map_err(forbidden)?;
    let holder = body.holder();
    blocking(&state, move |s| {
        let request = s.ra().preregister(&ops, AccountId(id), holder)?;
        Ok(Json(Decision {
            request: request.id.0,
            state: request.state.label(),
        }))
    })
    .await
}

#[derive(Serialize)]
struct BulkView {
    registered: Vec<u64>,
    rejected: Vec<RowView>,
}

#[derive(Serialize)]
struct RowView {
    line: usize,
    reason: String,
}

/// Passcode mode from a CSV file (the request body): good rows registered, bad
/// rows reported by line.
async fn preregister_csv_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    body: String,
) -> Result<Json<BulkView>, AppError> {
    let ops = session(&state, &headers)?.ra_ops().map_err(forbidden)?;
    let report = blocking(&state, move |s| {
        Ok(s.ra().preregister_csv(&ops, AccountId(id), &body)?)
    })
    .await?;
    Ok(Json(BulkView {
        registered: report.registered.iter().map(|r| r.0).collect(),
        rejected: report
            .rejected
            .into_iter()
            .map(|r| RowView {
                line: r.line,
                reason: r.reason,
            })
            .collect(),
    }))
}

#[derive(Deserialize)]
struct CentralIssuance {
    #[serde(flatten)]
    holder: HolderBody,
    /// Protects the PKCS#12 file and becomes the holder's user password.
    password: String,
}

#[derive(Serialize)]
struct CentralView {
    serial: String,
    certificate: String,
    /// The PKCS#12 file, base64.
    pkcs12: String,
}

/// Central issuance: a key made by the CA, the certificate and key returned as a
/// PKCS#12 file under the given password.
async fn issue_centrally_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<CentralIssuance>,
) -> Result<Json<CentralView>, AppError> {
    let ops = session(&state, &headers)?.ra_ops().map_err(forbidden)?;
    let holder = body.holder.holder();
    let password = zeroize::Zeroizing::new(body.password);
    let delivery = blocking(&state, move |s| {
        Ok(s.ra()
            .issue_centrally(&ops, AccountId(id), holder, &password)?)
    })
    .await?;
    use base64::Engine;
    Ok(Json(CentralView {
        serial: delivery.certificate.serial_hex(),
        certificate: delivery.certificate.to_pem(),
        pkcs12: base64::engine::general_purpose::STANDARD.encode(&*delivery.pkcs12),
    }))
}

#[derive(Deserialize)]
struct EmailQuery {
    email: String,
}

#[derive(Serialize)]
struct EscrowView {
    encryption_serial: String,
    signing_serial: String,
    escrowed_at: String,
}

/// The keys escrowed for a holder (KMC administrators; ciphertext never leaves).
async fn escrowed_keys_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<EmailQuery>,
) -> Result<Json<Vec<EscrowView>>, AppError> {
    let ops = session(&state, &headers)?.kmc_ops().map_err(forbidden)?;
    let keys = blocking(&state, move |s| Ok(kmc(s).escrowed_keys(&ops, &q.email)?)).await?;
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

#[derive(Serialize)]
struct CertificateRow {
    serial: String,
    holder: String,
    email: String,
    usage: String,
    not_after: String,
    status: &'static str,
}

/// Certificates of a holder e-mail, across accounts (RA administrators).
async fn certificates_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<EmailQuery>,
) -> Result<Json<Vec<CertificateRow>>, AppError> {
    session(&state, &headers)?.ra_ops().map_err(forbidden)?;
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

#[derive(Deserialize)]
struct RevokeBody {
    /// RFC 5280 reason code.
    reason: u8,
}

/// Revokes on the RA administrator's decision; the holder is mailed.
async fn revoke_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    Json(body): Json<RevokeBody>,
) -> Result<Json<Decision>, AppError> {
    let ops = session(&state, &headers)?.ra_ops().map_err(forbidden)?;
    revoke(&state, ops, serial, body.reason).await.map(Json)
}
