//! The KMC console: escrowed keys picked from a searchable, paged list, and
//! two-person key recovery listed with who asked for which holder. One
//! KMC administrator asks, a different one approves or either refuses; the
//! authorization code goes by mail to the holder alone and never appears in a
//! page or an API answer. Who may act is decided by the key management centre
//! from the store at each step (kmc role only, outside the quarantine).

use std::sync::Arc;

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
    format_utc,
    kmc::{Recovery, RecoveryId, RecoveryState},
    ra::{Administrator, KmcOps},
    store::{CertificateStore, RecoveryQuery},
};

use crate::{
    AppError, AppState,
    admin::{CsrfOnly, EmailQuery, console_crumb},
    admin_list::{ListQuery, ROWS, pager},
    admin_session::{api_session, console_admin_form, console_csrf, console_session, forbidden},
    html::{Chrome, Lang, Pager, error_page, render},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/TopCA/admin/kmc/recoveries",
            get(recoveries_page).post(request_recovery_page),
        )
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
    RecoveryId::parse(text)
        .ok_or_else(|| AppError::localized(StatusCode::NOT_FOUND, "kmc.recovery.unknown"))
}

/// The longest reason an administrator may give (characters).
const MAX_REASON: usize = 500;

/// A reason for asking or refusing: not empty, not too long.
fn reason(text: String) -> Result<String, AppError> {
    let text = text.trim();
    if text.is_empty() {
        Err(AppError::localized(
            StatusCode::BAD_REQUEST,
            "kmc.recovery.reason_required",
        ))
    } else if text.chars().count() > MAX_REASON {
        Err(AppError::localized(
            StatusCode::BAD_REQUEST,
            "kmc.recovery.reason_long",
        ))
    } else {
        Ok(text.to_owned())
    }
}

/// The states a recovery list may be filtered by, as the query string names them.
const STATES: [(&str, RecoveryState); 6] = [
    ("requested", RecoveryState::Requested),
    ("approved", RecoveryState::Approved),
    ("used", RecoveryState::Used),
    ("rejected", RecoveryState::Rejected),
    ("expired", RecoveryState::Expired),
    ("locked", RecoveryState::Locked),
];

/// The catalogue words of a recovery state.
fn state_label(t: Lang, state: RecoveryState) -> &'static str {
    match state {
        RecoveryState::Requested => t.s("kmc.state.requested"),
        RecoveryState::Approved => t.s("kmc.state.approved"),
        RecoveryState::Used => t.s("kmc.state.used"),
        RecoveryState::Rejected => t.s("kmc.state.rejected"),
        RecoveryState::Expired => t.s("kmc.state.expired"),
        RecoveryState::Locked => t.s("kmc.state.locked"),
    }
}

/// A recovery as the console lists it: who asked, for which holder and key.
pub(crate) struct RecoveryRow {
    pub(crate) id: String,
    pub(crate) requested_at: String,
    pub(crate) holder: String,
    pub(crate) email: String,
    pub(crate) serial: String,
    pub(crate) requested_by: String,
    pub(crate) reason: String,
    pub(crate) state: &'static str,
    pub(crate) decided_by: Option<String>,
    /// Waiting for a second administrator (approve and reject are offered).
    pub(crate) waiting: bool,
    /// Asked by the administrator looking at it (who cannot approve it).
    pub(crate) own: bool,
}

impl RecoveryRow {
    fn of(t: Lang, me: &str, r: Recovery) -> Self {
        Self {
            id: r.id.to_hex(),
            requested_at: format_utc(r.requested_at),
            own: r.requested_by == me,
            waiting: r.state == RecoveryState::Requested,
            state: state_label(t, r.state),
            holder: r.holder_name,
            email: r.email,
            serial: r.encryption_serial,
            requested_by: r.requested_by,
            reason: r.reason,
            decided_by: r.decided_by,
        }
    }
}

/// The console home's KMC part: the newest recoveries waiting for approval.
pub(crate) struct KmcSection {
    /// How many wait in all.
    pub(crate) waiting: u64,
    /// The newest of them.
    pub(crate) rows: Vec<RecoveryRow>,
}

/// Waiting recoveries shown on the console's home (the rest on their page).
const HOME_ROWS: u64 = 20;

/// The console's KMC part for the administrator of `ops`.
pub(crate) async fn console_section(
    state: &Arc<AppState>,
    t: Lang,
    ops: KmcOps,
) -> Result<KmcSection, AppError> {
    let query = RecoveryQuery {
        state: Some(RecoveryState::Requested),
        text: String::new(),
    };
    let me = ops.admin().to_owned();
    let page = blocking(state, move |s| {
        Ok(s.kmc().recoveries_page(&ops, &query, 0, HOME_ROWS)?)
    })
    .await?;
    Ok(KmcSection {
        waiting: page.total,
        rows: page
            .rows
            .into_iter()
            .map(|r| RecoveryRow::of(t, &me, r))
            .collect(),
    })
}

/// The recovery list's filters.
#[derive(Deserialize)]
struct RecoveriesQuery {
    #[serde(default)]
    state: String,
    #[serde(flatten)]
    list: ListQuery,
}

/// Every recovery request, filtered by state and text, newest first.
#[derive(Template)]
#[template(path = "kmc/recoveries.html")]
struct RecoveriesPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    states: Vec<(&'static str, &'static str)>,
    state: String,
    query: String,
    rows: Vec<RecoveryRow>,
    pager: Pager,
}

async fn recoveries_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<RecoveriesQuery>,
) -> Response {
    let t = Lang::of(&headers);
    let ops = match console_session(&state, &headers, Administrator::kmc_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    let wanted = q.state.trim().to_owned();
    let filter = if wanted.is_empty() {
        None
    } else if let Some((_, s)) = STATES.iter().find(|(name, _)| *name == wanted) {
        Some(*s)
    } else {
        return error_page(
            t,
            &AppError::localized(StatusCode::BAD_REQUEST, "kmc.recoveries.bad_state"),
        );
    };
    let text = q.list.search();
    let query = RecoveryQuery {
        state: filter,
        text: text.clone(),
    };
    let me = ops.admin().to_owned();
    let requested = q.list.page();
    let found = blocking(&state, move |s| {
        let kmc = s.kmc();
        let total = kmc.recoveries_page(&ops, &query, 0, 0)?.total;
        let pager = pager(
            requested,
            total,
            "/TopCA/admin/kmc/recoveries",
            &[("state", &wanted), ("q", &query.text)],
        );
        let page = kmc.recoveries_page(&ops, &query, pager.offset(), ROWS)?;
        Ok((pager, page.rows))
    })
    .await;
    let (pager, rows) = match found {
        Ok(found) => found,
        Err(e) => return error_page(t, &e),
    };
    let view = RecoveriesPage {
        t,
        page: Chrome::new(t.s("kmc.recoveries.title"), &[console_crumb(t)]),
        csrf: console_csrf(&headers),
        states: STATES
            .iter()
            .map(|(name, s)| (*name, state_label(t, *s)))
            .collect(),
        state: q.state.trim().to_owned(),
        query: text,
        rows: rows
            .into_iter()
            .map(|r| RecoveryRow::of(t, &me, r))
            .collect(),
        pager,
    };
    render(StatusCode::OK, &view, None)
}

/// An escrowed key in the picker.
struct KeyRow {
    encryption: String,
    signing: String,
    holder: String,
    email: String,
    escrowed_at: String,
}

/// The escrowed keys, searchable and paged, each with a recovery request form.
#[derive(Template)]
#[template(path = "kmc/keys.html")]
struct KeysPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    query: String,
    rows: Vec<KeyRow>,
    pager: Pager,
}

/// The escrowed keys (all, or those matching the search), newest first: the
/// administrator picks the key to recover instead of typing its serial.
async fn escrowed_keys_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let t = Lang::of(&headers);
    let ops = match console_session(&state, &headers, Administrator::kmc_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    let text = q.search();
    let wanted = text.clone();
    let requested = q.page();
    let found = blocking(&state, move |s| {
        let kmc = s.kmc();
        let total = kmc.escrowed_keys_page(&ops, &wanted, 0, 0)?.total;
        let pager = pager(requested, total, "/TopCA/admin/kmc/keys", &[("q", &wanted)]);
        let keys = kmc.escrowed_keys_page(&ops, &wanted, pager.offset(), ROWS)?;
        let mut rows = Vec::with_capacity(keys.rows.len());
        for k in keys.rows {
            let holder = s
                .store
                .certificate(&k.signing_serial)
                .map_err(topca_core::Error::from)?
                .map(|c| c.holder_name)
                .unwrap_or_default();
            rows.push(KeyRow {
                encryption: k.encryption_serial,
                signing: k.signing_serial,
                holder,
                email: k.email,
                escrowed_at: format_utc(k.escrowed_at),
            });
        }
        Ok((pager, rows))
    })
    .await;
    let (pager, rows) = match found {
        Ok(found) => found,
        Err(e) => return error_page(t, &e),
    };
    let view = KeysPage {
        t,
        page: Chrome::new(t.s("kmc.keys.title"), &[console_crumb(t)]),
        csrf: console_csrf(&headers),
        query: text,
        rows,
        pager,
    };
    render(StatusCode::OK, &view, None)
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
    let t = Lang::of(&headers);
    let admin = match console_admin_form(&state, &headers, &form.csrf).await {
        Ok(admin) => admin,
        Err(refused) => return refused.page(t),
    };
    match request_recovery(&state, admin, form.serial, form.reason).await {
        Ok(_) => Redirect::to("/TopCA/admin").into_response(),
        Err(e) => error_page(t, &e),
    }
}

/// What the approving administrator sees: the recovery they approved.
#[derive(Template)]
#[template(path = "kmc/approved.html")]
struct ApprovedPage {
    t: Lang,
    page: Chrome,
    holder: String,
    email: String,
    serial: String,
    requested_by: String,
}

async fn approve_recovery_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let t = Lang::of(&headers);
    let admin = match console_admin_form(&state, &headers, &form.csrf).await {
        Ok(admin) => admin,
        Err(refused) => return refused.page(t),
    };
    match decide(&state, admin, &id, Decision::Approve).await {
        Ok(r) => {
            let view = ApprovedPage {
                t,
                page: Chrome::new(t.s("kmc.approved.title"), &[console_crumb(t)]),
                holder: r.holder_name,
                email: r.email,
                serial: r.encryption_serial,
                requested_by: r.requested_by,
            };
            render(StatusCode::OK, &view, None)
        }
        Err(e) => error_page(t, &e),
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
    let t = Lang::of(&headers);
    let admin = match console_admin_form(&state, &headers, &form.csrf).await {
        Ok(admin) => admin,
        Err(refused) => return refused.page(t),
    };
    match decide(&state, admin, &id, Decision::Reject(form.reason)).await {
        Ok(_) => Redirect::to("/TopCA/admin").into_response(),
        Err(e) => error_page(t, &e),
    }
}

// ---- actions, shared by pages and API ----

/// A recovery as the API shows it: never with a code.
#[derive(Serialize, utoipa::ToSchema)]
struct RecoveryView {
    recovery: String,
    state: &'static str,
}

impl From<Recovery> for RecoveryView {
    fn from(r: Recovery) -> Self {
        Self {
            recovery: r.id.to_hex(),
            state: r.state.label(),
        }
    }
}

async fn request_recovery(
    state: &Arc<AppState>,
    admin: Administrator,
    serial: String,
    why: String,
) -> Result<Recovery, AppError> {
    let ops = admin.kmc_ops().map_err(forbidden)?;
    let why = reason(why)?;
    blocking(state, move |s| {
        Ok(s.kmc().request_recovery(&ops, &serial, &why)?)
    })
    .await
}

/// What a second administrator decides on a recovery.
enum Decision {
    Approve,
    /// Refuse, for this reason.
    Reject(String),
}

/// Approves or rejects the recovery `id` (the core refuses its own requester).
async fn decide(
    state: &Arc<AppState>,
    admin: Administrator,
    id: &str,
    decision: Decision,
) -> Result<Recovery, AppError> {
    let ops = admin.kmc_ops().map_err(forbidden)?;
    let id = recovery_id(id)?;
    let decision = match decision {
        Decision::Reject(why) => Decision::Reject(reason(why)?),
        approve => approve,
    };
    blocking(state, move |s| {
        Ok(match decision {
            Decision::Approve => s.kmc().approve_recovery(&ops, id)?,
            Decision::Reject(why) => s.kmc().reject_recovery(&ops, id, &why)?,
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
        (status = 400, description = "No reason given, or one over 500 characters"),
        (status = 404, description = "No key is escrowed for this certificate"),
    ))]
async fn request_recovery_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<RecoveryRequest>,
) -> Result<Json<RecoveryView>, AppError> {
    let admin = api_session(&state, &headers).await?;
    let recovery = request_recovery(&state, admin, body.encryption_serial, body.reason).await?;
    Ok(Json(recovery.into()))
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
    let admin = api_session(&state, &headers).await?;
    let recovery = decide(&state, admin, &id, Decision::Approve).await?;
    Ok(Json(recovery.into()))
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
    let admin = api_session(&state, &headers).await?;
    let recovery = decide(&state, admin, &id, Decision::Reject(body.reason)).await?;
    Ok(Json(recovery.into()))
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
    Query(q): Query<EmailQuery>,
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
