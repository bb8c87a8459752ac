//! The RA's request queue: requests waiting for approval (approve, which mails
//! the PIN, or reject with a reason) and unlocking a request whose holder, or
//! someone guessing, spent the wrong attempts allowed from an address. Pages
//! under the console session (with its CSRF token) and the JSON API under the
//! administrator's session; each needs the RA role and is audited by the RA.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::Arc,
};

use askama::Template;

use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use topca_core::{
    lifecycle::{RequestKind, RequestState},
    ra::{Account, AccountSettings, Administrator, RequestId, RequestRef},
    store::{AccountStore, AdminStore},
};

use crate::{
    AppError, AppState,
    admin::{CsrfOnly, Decision},
    admin_ra::Done,
    admin_session::{
        api_session, console_admin_form, console_csrf, console_form, console_session, forbidden,
    },
    html::{Chrome, Pager, error_page_back, render, url_encode},
    i18n::Lang,
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/ra/requests/{id}/approve", post(approve_page))
        .route("/TopCA/admin/ra/requests/{id}/reject", post(reject_page))
        .route("/TopCA/admin/ra/unlock", post(unlock_page))
        .route("/TopCA/admin/ra/requests", get(requests_page))
        .route("/api/v1/admin/requests", get(pending_api))
        .route("/api/v1/admin/requests/{id}/approve", post(approve_api))
        .route("/api/v1/admin/requests/{id}/reject", post(reject_api))
        .route(
            "/api/v1/admin/requests/{reference}/unlock",
            post(unlock_api),
        )
}

/// One request of the approval queue.
struct QueueRow {
    id: u64,
    reference: String,
    /// The account's O / OU.
    account: String,
    holder: String,
    email: String,
    kind: String,
    /// The subject a user certificate for it would carry (every field); a server
    /// application's names are shown by its review.
    subject: String,
    /// A server application, approved from its review.
    server: bool,
}

/// The console's RA section: the approval queue and the unlock form.
#[derive(Template)]
#[template(path = "ra/queue.html")]
struct Queue<'a> {
    t: Lang,
    csrf: &'a str,
    rows: Vec<QueueRow>,
}

/// The requests waiting for approval (oldest first, at most `limit`), each with
/// its account's O / OU.
async fn pending_rows(
    state: &Arc<AppState>,
    t: Lang,
    limit: usize,
) -> Result<Vec<QueueRow>, AppError> {
    let (requests, accounts) = blocking(state, move |s| {
        let requests = s
            .store
            .requests_anywhere(RequestState::Submitted, limit)
            .map_err(topca_core::Error::from)?;
        let mut accounts: HashMap<u64, Option<Account>> = HashMap::new();
        for r in &requests {
            if let Entry::Vacant(slot) = accounts.entry(r.account.0) {
                slot.insert(
                    s.store
                        .account(r.account)
                        .map_err(topca_core::Error::from)?,
                );
            }
        }
        let accounts: HashMap<u64, (String, Option<AccountSettings>)> = accounts
            .into_iter()
            .map(|(id, a)| {
                let shown = a.map(|a| {
                    (
                        format!(
                            "{}{} / {}",
                            s.demo_mark(t, a.id),
                            a.settings.organization,
                            a.settings.unit
                        ),
                        Some(a.settings),
                    )
                });
                (id, shown.unwrap_or_default())
            })
            .collect();
        Ok((requests, accounts))
    })
    .await?;
    Ok(requests
        .into_iter()
        .map(|r| {
            let (account, settings) = accounts.get(&r.account.0).cloned().unwrap_or_default();
            let subject = match (&settings, r.kind) {
                (Some(settings), kind) if kind != RequestKind::ServerApplication => r
                    .holder
                    .subject(settings)
                    .to_name()
                    .map(|n| topca_core::name::display_name(&n))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            (r, account, subject)
        })
        .map(|(r, account, subject)| QueueRow {
            id: r.id.0,
            reference: r.reference.0,
            account,
            subject,
            holder: r.holder.name,
            email: r.holder.email,
            kind: t.value("request_kind", r.kind),
            server: r.kind == RequestKind::ServerApplication,
        })
        .collect())
}

/// The console's RA section, as HTML for the console page: the approval queue
/// (with each request's account) and the unlock form.
pub(crate) async fn queue_section(state: &Arc<AppState>, t: Lang, csrf: &str) -> String {
    let rows = pending_rows(state, t, QUEUE_ROWS).await.unwrap_or_default();
    Queue { t, csrf, rows }.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the approval queue does not render");
        String::new()
    })
}

/// Rows per page of the requests page.
const PAGE_ROWS: u64 = 50;
/// Most waiting requests the requests page searches.
const MOST_ROWS: usize = 5000;

#[derive(Deserialize)]
struct RequestSearch {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<u64>,
}

#[derive(Template)]
#[template(path = "ra/requests.html")]
struct RequestsPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    query: String,
    rows: Vec<QueueRow>,
    pager: Pager,
}

/// Every request waiting for approval, searched (holder, e-mail, account,
/// reference) and paged.
async fn requests_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(search): Query<RequestSearch>,
) -> Response {
    let t = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(t);
    }
    let query: String = search.q.trim().chars().take(200).collect();
    let wanted = query.to_lowercase();
    let rows = match pending_rows(&state, t, MOST_ROWS).await {
        Ok(rows) => rows,
        Err(e) => return error_page_back(t, &e, "/TopCA/admin"),
    };
    let matching: Vec<QueueRow> = rows
        .into_iter()
        .filter(|r| {
            wanted.is_empty()
                || [&r.holder, &r.email, &r.account, &r.reference]
                    .iter()
                    .any(|field| field.to_lowercase().contains(&wanted))
        })
        .collect();
    let pager = Pager::new(
        search.page,
        PAGE_ROWS,
        matching.len() as u64,
        format!("/TopCA/admin/ra/requests?q={}", url_encode(&query)),
    );
    let rows = matching
        .into_iter()
        .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
        .take(PAGE_ROWS as usize)
        .collect();
    let view = RequestsPage {
        t,
        page: Chrome::new(
            t.s("ra.queue.title"),
            &[(t.s("ra.console"), "/TopCA/admin")],
        ),
        csrf: console_csrf(&headers),
        query,
        rows,
        pager,
    };
    render(StatusCode::OK, &view, None)
}

/// Most requests the console's queue shows (oldest first).
const QUEUE_ROWS: usize = 200;

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
        Err(e) => error_page_back(lang, &e, "/TopCA/admin"),
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
        Err(e) => error_page_back(lang, &e, "/TopCA/admin"),
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
    let t = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    match unlock(&state, ops, form.reference).await {
        Ok(done) => Done::page(
            t,
            t.s("ra.queue.unlock_title"),
            ("unlocked", t.f1("ra.unlock.done", done.request)),
            "/TopCA/admin".to_owned(),
        ),
        Err(e) => error_page_back(t, &e, "/TopCA/admin"),
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
