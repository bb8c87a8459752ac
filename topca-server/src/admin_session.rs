//! Administrator log-in, log-out and sessions. Sessions live in the database
//! ([`topca_core::ra::session`]): each request reads the administrator's current
//! roles and lockout. The console (pages) takes the session cookie, whose forms
//! carry a CSRF token bound to the session; the JSON API takes bearer tokens
//! only, so a browser's cookie never authorizes an API call.

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{delete, get, post},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use topca_core::{
    OsRandom,
    ra::{Administrator, admin, session},
};

use crate::{
    AppError, AppState,
    html::{Chrome, Lang, cookie, csrf_ok, csrf_token, error_page, form_expired, render},
    limits::ClientAddr,
    state::blocking,
};

/// The cookie that carries the console session's token.
const SESSION_COOKIE: &str = "topca_admin";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/login", get(login_form).post(login_page))
        .route("/TopCA/admin/logout", post(logout_page))
        .route("/TopCA/admin/super/sessions/end", post(end_all_page))
        .route(
            "/api/v1/admin/sessions",
            post(login_api).delete(end_all_api),
        )
        .route("/api/v1/admin/sessions/current", delete(logout_api))
}

/// How a request presents a session token.
enum Credential {
    /// `Authorization: Bearer …` (the API; never sent by a browser on its own).
    Bearer(String),
    /// The console's session cookie (sent by the browser with every request).
    Cookie(String),
}

impl Credential {
    fn of(headers: &HeaderMap) -> Option<Self> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Self::Bearer(t.trim().to_owned()));
        bearer.or_else(|| cookie(headers, SESSION_COOKIE).map(Self::Cookie))
    }

    fn token(&self) -> &str {
        match self {
            Self::Bearer(t) | Self::Cookie(t) => t,
        }
    }
}

/// The CSRF token of the console forms of the session `token`: derived from the
/// session's secret token, so it is unknown to another site and to any other
/// session, and changes with every log-in.
fn bound_csrf(token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"TopCA console form\0")
        .chain_update(token.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The CSRF token for the forms of a console page (bound to the request's
/// session; empty without one).
pub(crate) fn console_csrf(headers: &HeaderMap) -> String {
    Credential::of(headers).map_or_else(String::new, |c| bound_csrf(c.token()))
}

/// Whether a posted form may act for the request's session: always with a bearer
/// token (no browser sends it by itself); with the cookie only when the form
/// carries the session's CSRF token.
fn form_allowed(credential: &Credential, posted: &str) -> bool {
    match credential {
        Credential::Bearer(_) => true,
        Credential::Cookie(token) => {
            let expected = bound_csrf(token);
            expected.len() == posted.len()
                && bool::from(expected.as_bytes().ct_eq(posted.as_bytes()))
        }
    }
}

fn unauthorized() -> AppError {
    AppError::localized(StatusCode::UNAUTHORIZED, "super.login.not_logged_in")
}

/// The administrator of `token`'s session, with their current roles.
async fn resume(state: &Arc<AppState>, token: String) -> Result<Administrator, AppError> {
    blocking(state, move |s| {
        Ok(session::resume(
            &s.store,
            s.ca.environment().clock(),
            &token,
        )?)
    })
    .await
}

/// The administrator of an API request's bearer token; 401 without one (the
/// console's cookie is refused here).
pub(crate) async fn api_session(
    state: &Arc<AppState>,
    headers: &HeaderMap,
) -> Result<Administrator, AppError> {
    match Credential::of(headers) {
        Some(Credential::Bearer(token)) => resume(state, token).await,
        Some(Credential::Cookie(_)) => Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            "the API takes a bearer token (Authorization: Bearer, from POST /api/v1/admin/sessions), not the console cookie",
        )),
        None => Err(unauthorized()),
    }
}

/// Why a console page is not shown: no session (the log-in page), or a role
/// that does not allow it.
pub(crate) enum Refused {
    /// The form's CSRF token is not the session's (an old or forged form).
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
            Self::FormExpired => error_page(
                lang,
                &AppError::localized(StatusCode::FORBIDDEN, "super.login.form_expired"),
            ),
            Self::NotLoggedIn => Redirect::to("/TopCA/admin/login").into_response(),
            Self::Forbidden(e) => error_page(lang, &e),
        }
    }
}

/// The administrator of a console page's session (cookie or bearer token).
pub(crate) async fn console_admin(
    state: &Arc<AppState>,
    headers: &HeaderMap,
) -> Result<Administrator, Refused> {
    let credential = Credential::of(headers).ok_or(Refused::NotLoggedIn)?;
    resume(state, credential.token().to_owned())
        .await
        .map_err(|_| Refused::NotLoggedIn)
}

/// [`console_admin`] for a posted form, whose CSRF token must be the session's.
pub(crate) async fn console_admin_form(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Administrator, Refused> {
    let credential = Credential::of(headers).ok_or(Refused::NotLoggedIn)?;
    if !form_allowed(&credential, csrf) {
        return Err(Refused::FormExpired);
    }
    resume(state, credential.token().to_owned())
        .await
        .map_err(|_| Refused::NotLoggedIn)
}

/// The capability `role` (such as [`Administrator::ra_ops`]) gives the
/// administrator of the request's session, or the page to show instead: the
/// log-in page without a session, an error for another role.
pub(crate) async fn console_session<T>(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    role: fn(&Administrator) -> Result<T, topca_core::RaError>,
) -> Result<T, Refused> {
    let admin = console_admin(state, headers).await?;
    role(&admin).map_err(|e| Refused::Forbidden(forbidden(e)))
}

/// [`console_session`] for a posted form, whose CSRF token must be the session's.
pub(crate) async fn console_form<T>(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    csrf: &str,
    role: fn(&Administrator) -> Result<T, topca_core::RaError>,
) -> Result<T, Refused> {
    let admin = console_admin_form(state, headers, csrf).await?;
    role(&admin).map_err(|e| Refused::Forbidden(forbidden(e)))
}

/// A 403 for a missing role, with the core error's code and Chinese message.
pub(crate) fn forbidden(e: topca_core::RaError) -> AppError {
    AppError {
        status: StatusCode::FORBIDDEN,
        ..AppError::from(topca_core::Error::from(e))
    }
}

/// Opens a session for an authenticated administrator; returns its token.
pub(crate) fn start_session(state: &AppState, admin: &Administrator) -> Result<String, AppError> {
    Ok(session::open(
        &state.store,
        state.ca.environment().clock(),
        &OsRandom,
        admin,
    )?)
}

/// Checks a name and password and opens a session; returns its token.
fn open_session(state: &AppState, name: &str, password: &str) -> Result<String, AppError> {
    let admin = admin::login(&state.store, state.ca.environment().clock(), name, password)?;
    start_session(state, &admin)
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
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

// ---- pages ----

/// The log-in page: name and password, or a client certificate.
#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    t: Lang,
    page: Chrome,
    csrf: String,
}

async fn login_form(headers: HeaderMap) -> Response {
    let t = Lang::of(&headers);
    let (csrf, cookie) = csrf_token(&headers);
    let page = Chrome::new(t.s("super.login.title"), &[]);
    render(StatusCode::OK, &LoginPage { t, page, csrf }, cookie)
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    name: String,
    password: String,
}

async fn login_page(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = Lang::of(&headers);
    // The log-in form has no session yet: the anonymous double-submit token.
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    let password = zeroize::Zeroizing::new(form.password);
    match log_in(&state, client, form.name, password).await {
        Ok(token) => enter_console(&state, &token),
        Err(e) => error_page(lang, &e),
    }
}

/// Log-in shared by the page and the API.
async fn log_in(
    state: &Arc<AppState>,
    client: ClientAddr,
    name: String,
    password: zeroize::Zeroizing<String>,
) -> Result<String, AppError> {
    state
        .limits
        .admin_login_per_source
        .hit(&client.key())
        .map_err(|seconds| {
            let (en, zh) = crate::i18n::both("super.login.too_many");
            AppError::limited(StatusCode::TOO_MANY_REQUESTS, en, seconds).zh(zh)
        })?;
    state
        .hashing
        .run(state, move |s| open_session(s, &name, &password))
        .await
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

fn clear_cookie(mut response: Response) -> Response {
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("topca_admin=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// Log-out: the session ends in the database (the token is worthless after).
async fn logout_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let lang = Lang::of(&headers);
    let Some(credential) = Credential::of(&headers) else {
        return Redirect::to("/TopCA/admin/login").into_response();
    };
    if !form_allowed(&credential, &form.csrf) {
        return Refused::FormExpired.page(lang);
    }
    let token = credential.token().to_owned();
    match blocking(&state, move |s| Ok(session::end(&s.store, &token)?)).await {
        Ok(()) => clear_cookie(Redirect::to("/TopCA/admin/login").into_response()),
        Err(e) => error_page(lang, &e),
    }
}

/// Ends every administrator session (super administrators), the acting one's
/// too: everyone logs in again.
async fn end_all_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::super_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let ended = blocking(&state, move |s| {
        Ok(session::end_all(
            &s.store,
            s.ca.environment().clock(),
            &ops,
        )?)
    })
    .await;
    match ended {
        Ok(_) => clear_cookie(Redirect::to("/TopCA/admin/login").into_response()),
        Err(e) => error_page(lang, &e),
    }
}

// ---- API ----

/// An administrator's log-in.
#[derive(Deserialize, utoipa::ToSchema)]
struct Credentials {
    /// The administrator's name.
    name: String,
    /// The administrator's password.
    #[schema(format = Password)]
    password: String,
}

/// A session's bearer token.
#[derive(Serialize, utoipa::ToSchema)]
struct Token {
    /// Send as `Authorization: Bearer <token>` on the admin routes.
    token: String,
    /// The session ends after this many seconds without a request.
    expires_in_seconds: u64,
}

/// Administrator log-in: a bearer token for the admin routes.
#[utoipa::path(post, path = "/api/v1/admin/sessions", tag = crate::api::tags::SESSIONS,
    request_body = Credentials,
    responses(
        (status = 200, description = "Logged in", body = Token),
        (status = 403, description = "Wrong name or password, or locked out after failed attempts"),
        (status = 429, description = "Too many failed log-ins from this client"),
    ))]
async fn login_api(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Json(body): Json<Credentials>,
) -> Result<Json<Token>, AppError> {
    let password = zeroize::Zeroizing::new(body.password);
    let token = log_in(&state, client, body.name, password).await?;
    Ok(Json(Token {
        token,
        expires_in_seconds: session::IDLE.as_secs(),
    }))
}

/// Log-out through the API: the bearer token is revoked.
#[utoipa::path(delete, path = "/api/v1/admin/sessions/current", tag = crate::api::tags::SESSIONS,
    security(("bearer" = [])),
    responses((status = 204, description = "Logged out: the token no longer works")))]
async fn logout_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let Some(Credential::Bearer(token)) = Credential::of(&headers) else {
        return Err(unauthorized());
    };
    blocking(&state, move |s| Ok(session::end(&s.store, &token)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many sessions were ended.
#[derive(Serialize, utoipa::ToSchema)]
struct Ended {
    /// Sessions ended, the caller's own included.
    ended: u64,
}

/// Ends every administrator session (super administrators).
#[utoipa::path(delete, path = "/api/v1/admin/sessions", tag = crate::api::tags::SUPER,
    security(("bearer" = [])),
    responses((status = 200, description = "Every session ended", body = Ended)))]
async fn end_all_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Ended>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .super_ops()
        .map_err(forbidden)?;
    let ended = blocking(&state, move |s| {
        Ok(session::end_all(
            &s.store,
            s.ca.environment().clock(),
            &ops,
        )?)
    })
    .await?;
    Ok(Json(Ended { ended }))
}
