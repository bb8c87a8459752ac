//! The RA's "resend PIN" action: when the approval mail was lost (mail server
//! down, a crash between approval and mail, a deleted message), an RA
//! administrator gives an approved request a new PIN and mails it again. The old
//! PIN stops working at once; the action is audited under the administrator's
//! name ([`topca_core::audit::AuditAction::PinResent`]) and counts against the
//! holder address's mail limit.
//!
//! Pages: `GET /TopCA/admin/ra/approved` (approved requests waiting for their
//! holders, each with a button) and `POST /TopCA/admin/ra/requests/{id}/resend-pin`.
//! API: `POST /api/v1/admin/requests/{id}/resend-pin`.

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use topca_core::{
    lifecycle::RequestState,
    ra::{Administrator, RaOps, RequestId},
    store::{AdminStore, RequestStore},
};

use crate::{
    AppError, AppState,
    admin_ra::Done,
    admin_session::{api_session, console_csrf, console_form, console_session, forbidden},
    html::{Chrome, Pager, error_page_back, render, url_encode},
    i18n::Lang,
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/ra/approved", get(approved_page))
        .route(
            "/TopCA/admin/ra/requests/{id}/resend-pin",
            post(resend_page),
        )
        .route("/api/v1/admin/requests/{id}/resend-pin", post(resend_api))
}

/// The answer to a resend: the request and its state (the PIN goes by mail only).
#[derive(Serialize, utoipa::ToSchema)]
struct Resent {
    request: u64,
    state: &'static str,
}

/// Counts a mail to the request's holder, then replaces its PIN and mails it.
fn resend(state: &AppState, ops: &RaOps, id: u64) -> Result<Resent, AppError> {
    let request = state
        .store
        .request(RequestId(id))
        .map_err(topca_core::Error::from)?
        .ok_or_else(|| topca_core::Error::from(topca_core::RaError::UnknownRequest))?;
    if request.state != RequestState::Approved {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            Lang::En.f2(
                "ra.approved.not_approved",
                id,
                Lang::En.value("request_state", request.state),
            ),
        )
        .zh(Lang::Zh.f2(
            "ra.approved.not_approved",
            id,
            Lang::Zh.value("request_state", request.state),
        )));
    }
    state
        .limits
        .mail_per_address
        .hit(&request.holder.email.to_lowercase())
        .map_err(|seconds| {
            let (en, zh) = crate::i18n::both("ra.approved.mailed_too_often");
            AppError::limited(StatusCode::TOO_MANY_REQUESTS, en, seconds).zh(zh)
        })?;
    let request = state.ra().resend_pin(ops, RequestId(id))?;
    Ok(Resent {
        request: request.id.0,
        state: request.state.label(),
    })
}

/// Resends the PIN of an approved request: a new PIN is mailed, the old one
/// stops working (RA administrators).
#[utoipa::path(post, path = "/api/v1/admin/requests/{id}/resend-pin", tag = crate::api::tags::RA,
    params(("id" = u64, Path, description = "The request's number")), security(("bearer" = [])),
    responses(
        (status = 200, description = "A new PIN is mailed", body = Resent),
        (status = 404, description = "No such request"),
        (status = 409, description = "The request is not approved and waiting for its holder"),
        (status = 429, description = "The holder was mailed too often"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
async fn resend_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<Resent>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    Ok(Json(blocking(&state, move |s| resend(s, &ops, id)).await?))
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn resend_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = "/TopCA/admin/ra/approved".to_owned();
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    match blocking(&state, move |s| resend(s, &ops, id)).await {
        Ok(resent) => Done::page(
            t,
            t.s("ra.approved.resend"),
            ("resent", t.f1("ra.approved.resent", resent.request)),
            back,
        ),
        Err(e) => error_page_back(t, &e, &back),
    }
}

/// Approved requests per page.
const PAGE_ROWS: u64 = 50;
/// Most approved requests looked at (oldest first).
const MOST_ROWS: usize = 1000;

#[derive(Deserialize)]
struct ApprovedQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<u64>,
}

/// One approved request.
struct ApprovedRow {
    id: u64,
    /// The public reference (the unlock button posts it).
    reference: String,
    holder: String,
    email: String,
    kind: String,
}

#[derive(Template)]
#[template(path = "ra/approved.html")]
struct ApprovedPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    query: String,
    rows: Vec<ApprovedRow>,
    pager: Pager,
}

async fn approved_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ApprovedQuery>,
) -> Response {
    let t = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(t);
    }
    let query = q.q.trim().chars().take(200).collect::<String>();
    let wanted = query.to_lowercase();
    let approved = match blocking(&state, move |s| {
        Ok(s.store
            .requests_anywhere(RequestState::Approved, MOST_ROWS)
            .map_err(topca_core::Error::from)?
            .into_iter()
            .filter(|r| {
                wanted.is_empty()
                    || r.holder.name.to_lowercase().contains(&wanted)
                    || r.holder.email.to_lowercase().contains(&wanted)
            })
            .collect::<Vec<_>>())
    })
    .await
    {
        Ok(approved) => approved,
        Err(e) => return error_page_back(t, &e, "/TopCA/admin"),
    };
    let pager = Pager::new(
        q.page,
        PAGE_ROWS,
        approved.len() as u64,
        format!("/TopCA/admin/ra/approved?q={}", url_encode(&query)),
    );
    let rows = approved
        .into_iter()
        .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
        .take(PAGE_ROWS as usize)
        .map(|r| ApprovedRow {
            id: r.id.0,
            reference: r.reference.0,
            holder: r.holder.name,
            email: r.holder.email,
            kind: t.value("request_kind", r.kind),
        })
        .collect();
    let view = ApprovedPage {
        t,
        page: Chrome::new(
            t.s("ra.approved.title"),
            &[(t.s("ra.console"), "/TopCA/admin")],
        ),
        csrf: console_csrf(&headers),
        query,
        rows,
        pager,
    };
    render(StatusCode::OK, &view, None)
}
