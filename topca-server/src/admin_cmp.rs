//! CMP/EST credentials (reference + secret, the manual's passcode mode) in the
//! RA console and the admin API: the list (paged), making one for an account
//! (the secret shown once, stored sealed) and revocation, which CMP MACs and
//! EST HTTP Basic meet at their next request on every node (each reads the
//! credential from the database). RA administrators only; forms carry the
//! session's CSRF token; making and revoking are audited.

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use topca_core::{
    audit::Actor,
    cmp::{CmpCredential, credential},
    format_utc,
    ra::{AccountId, Administrator, RaOps},
    store::CmpStore,
};

use crate::{
    AppError, AppState,
    admin_session::{api_session, console_csrf, console_form, console_session, forbidden},
    html::{Chrome, Pager, error_page, render},
    i18n::Lang,
    state::blocking,
};

/// Credentials listed per page (console and API).
const PAGE_ROWS: u64 = 50;
/// The console list.
const LIST: &str = "/TopCA/admin/ra/cmp-credentials";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(LIST, get(list_page).post(create_page))
        .route(
            "/TopCA/admin/ra/cmp-credentials/{reference}/revoke",
            post(revoke_page),
        )
        .route(
            "/api/v1/admin/cmp-credentials",
            get(list_credentials_api).post(create_credential_api),
        )
        .route(
            "/api/v1/admin/cmp-credentials/{reference}/revoke",
            post(revoke_credential_api),
        )
}

/// The administrator's name for the audit log.
fn actor(ops: &RaOps) -> Actor {
    Actor::Admin(ops.admin().into())
}

/// Page `page` of the credentials, with the pager over them.
async fn listed(
    state: &Arc<AppState>,
    page: Option<u64>,
    base: &'static str,
) -> Result<(Vec<CmpCredential>, Pager), AppError> {
    blocking(state, move |s| {
        let (_, total) = s
            .store
            .cmp_credentials(0, 0)
            .map_err(topca_core::Error::from)?;
        let pager = Pager::new(page, PAGE_ROWS, total, base);
        let offset = usize::try_from(pager.offset()).unwrap_or(usize::MAX);
        let (rows, _) = s
            .store
            .cmp_credentials(offset, PAGE_ROWS as usize)
            .map_err(topca_core::Error::from)?;
        Ok((rows, pager))
    })
    .await
}

/// Makes a credential for `account`; returns it with its secret (to show once).
async fn make(
    state: &Arc<AppState>,
    ops: RaOps,
    account: u64,
) -> Result<(CmpCredential, String), AppError> {
    blocking(state, move |s| {
        let env = s.ca.environment();
        let (made, secret) = credential::add(
            &s.store,
            &s.master,
            env.random(),
            env.clock(),
            actor(&ops),
            AccountId(account),
        )?;
        Ok((made, secret.as_str().to_owned()))
    })
    .await
}

/// Revokes credential `reference`.
async fn revoke(
    state: &Arc<AppState>,
    ops: RaOps,
    reference: String,
) -> Result<CmpCredential, AppError> {
    blocking(state, move |s| {
        let env = s.ca.environment();
        Ok(credential::revoke(
            &s.store,
            env.clock(),
            actor(&ops),
            &reference,
        )?)
    })
    .await
}

#[derive(Deserialize)]
struct ListQuery {
    page: Option<u64>,
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize)]
struct CreateForm {
    csrf: String,
    account: String,
}

/// One credential as the list shows it.
struct Row {
    reference: String,
    account: u64,
    created: String,
    last_used: Option<String>,
    revoked: Option<String>,
}

impl Row {
    fn of(c: &CmpCredential) -> Self {
        Self {
            reference: c.reference.clone(),
            account: c.account.0,
            created: format_utc(c.created),
            last_used: c.last_used.map(format_utc),
            revoked: c.revoked.map(format_utc),
        }
    }
}

#[derive(Template)]
#[template(path = "ra/cmp_credentials.html")]
struct ListPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    revoked: Option<String>,
    rows: Vec<Row>,
    pager: Pager,
}

#[derive(Template)]
#[template(path = "ra/cmp_credential_made.html")]
struct MadePage {
    t: Lang,
    page: Chrome,
    reference: String,
    secret: String,
    account: u64,
}

fn chrome(t: Lang, title: &str) -> Chrome {
    Chrome::new(title, &[(t.s("ra.console"), "/TopCA/admin")])
}

async fn show(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    page: Option<u64>,
    revoked: Option<String>,
) -> Response {
    let t = Lang::of(headers);
    let (rows, pager) = match listed(state, page, LIST).await {
        Ok(listed) => listed,
        Err(e) => return error_page(t, &e),
    };
    let view = ListPage {
        t,
        page: chrome(t, t.s("ra.cmp.title")),
        csrf: console_csrf(headers),
        revoked,
        rows: rows.iter().map(Row::of).collect(),
        pager,
    };
    render(StatusCode::OK, &view, None)
}

async fn list_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(Lang::of(&headers));
    }
    show(&state, &headers, q.page, None).await
}

async fn create_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Response {
    let t = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    let Ok(account) = form.account.trim().parse::<u64>() else {
        return error_page(
            t,
            &AppError::bad_request("the account must be an account number"),
        );
    };
    match make(&state, ops, account).await {
        Ok((made, secret)) => {
            let view = MadePage {
                t,
                page: chrome(t, t.s("ra.cmp.made_title")),
                reference: made.reference,
                secret,
                account: made.account.0,
            };
            no_store(render(StatusCode::OK, &view, None))
        }
        Err(e) => error_page(t, &e),
    }
}

async fn revoke_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(reference): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let t = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    match revoke(&state, ops, reference).await {
        Ok(c) => show(&state, &headers, None, Some(c.reference)).await,
        Err(e) => error_page(t, &e),
    }
}

/// A response no cache keeps (it shows a secret).
pub(crate) fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// A CMP/EST credential (never its secret).
#[derive(Serialize, utoipa::ToSchema)]
struct CredentialView {
    /// The reference (senderKID, the EST user name).
    reference: String,
    /// The account it enrolls for.
    account: u64,
    /// When it was made (UTC).
    created: String,
    /// When it last authenticated a request (UTC, to the minute), if ever.
    last_used: Option<String>,
    /// When it was revoked (UTC), if it was.
    revoked: Option<String>,
}

impl CredentialView {
    fn of(c: &CmpCredential) -> Self {
        Self {
            reference: c.reference.clone(),
            account: c.account.0,
            created: format_utc(c.created),
            last_used: c.last_used.map(format_utc),
            revoked: c.revoked.map(format_utc),
        }
    }
}

/// One page of credentials.
#[derive(Serialize, utoipa::ToSchema)]
struct CredentialPage {
    /// How many credentials there are.
    total: u64,
    /// This page's number (from 1).
    page: u64,
    /// The credentials of this page (at most 50), newest first.
    credentials: Vec<CredentialView>,
}

/// A new credential, its secret shown this once.
#[derive(Serialize, utoipa::ToSchema)]
struct NewCredential {
    /// The reference (`openssl cmp -ref`, the EST user name).
    reference: String,
    /// The secret (`openssl cmp -secret pass:…`, the EST password): never shown again.
    secret: String,
    /// The account it enrolls for.
    account: u64,
}

/// For which account to make a credential.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewCredentialRequest {
    /// The account's number.
    account: u64,
}

/// The CMP/EST credentials, newest first, 50 a page (RA administrators).
#[utoipa::path(get, path = "/api/v1/admin/cmp-credentials", tag = crate::api::tags::RA,
    params(("page" = Option<u64>, Query, description = "The page, from 1")), security(("bearer" = [])),
    responses((status = 200, description = "The credentials (never their secrets)", body = CredentialPage)))]
async fn list_credentials_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<CredentialPage>, AppError> {
    api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let (rows, pager) = listed(&state, q.page, "/api/v1/admin/cmp-credentials").await?;
    Ok(Json(CredentialPage {
        total: pager.total,
        page: pager.page,
        credentials: rows.iter().map(CredentialView::of).collect(),
    }))
}

/// Makes a CMP/EST credential for an account: its reference and secret, the
/// secret returned this once (RA administrators).
#[utoipa::path(post, path = "/api/v1/admin/cmp-credentials", tag = crate::api::tags::RA,
    request_body = NewCredentialRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Made; the secret is not shown again", body = NewCredential),
        (status = 404, description = "No such account"),
    ))]
async fn create_credential_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<NewCredentialRequest>,
) -> Result<Response, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let (made, secret) = make(&state, ops, body.account).await?;
    let answer = NewCredential {
        reference: made.reference,
        secret,
        account: made.account.0,
    };
    Ok(no_store(
        (StatusCode::CREATED, Json(answer)).into_response(),
    ))
}

/// Revokes a CMP/EST credential: CMP MACs and EST HTTP Basic with it are
/// refused from the next request on, on every node (RA administrators).
#[utoipa::path(post, path = "/api/v1/admin/cmp-credentials/{reference}/revoke", tag = crate::api::tags::RA,
    params(("reference" = String, Path, description = "The credential's reference")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = CredentialView),
        (status = 400, description = "Revoked already"),
        (status = 404, description = "No such credential"),
    ))]
async fn revoke_credential_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(reference): Path<String>,
) -> Result<Json<CredentialView>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    Ok(Json(CredentialView::of(
        &revoke(&state, ops, reference).await?,
    )))
}
