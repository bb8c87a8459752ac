//! ACME external account binding keys in the RA console and the admin API:
//! the list (paged), making one for an ACME profile, whose machine client
//! names the RA account and policy the bound ACME account issues under (the
//! key identifier and HMAC key shown once, the HMAC key stored sealed), and
//! revocation: an unused key then binds no account, and revoking a used key
//! deactivates the ACME account it bound (it can no longer order). RA
//! administrators only; forms carry the session's CSRF token; making and
//! revoking are audited.

use std::{collections::HashMap, sync::Arc};

use askama::Template;
use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use topca_core::{
    audit::Actor,
    error::RaError,
    format_utc,
    ra::{Administrator, RaOps},
    store::{AcmeEabKey, AcmeEabStore},
};

use crate::{
    AppError, AppState,
    acme::eab,
    admin_cmp::no_store,
    admin_session::{api_session, console_csrf, console_form, console_session, forbidden},
    html::{Chrome, Pager, error_page, render},
    i18n::Lang,
    state::blocking,
};

/// Keys listed per page (console and API).
const PAGE_ROWS: u64 = 50;
/// The console list.
const LIST: &str = "/TopCA/admin/ra/eab-keys";
/// The longest profile name taken (machine client names are short).
const MAX_PROFILE: usize = 64;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(LIST, get(list_page).post(create_page))
        .route("/TopCA/admin/ra/eab-keys/{kid}/revoke", post(revoke_page))
        .route(
            "/api/v1/admin/eab-keys",
            get(list_eab_keys_api).post(create_eab_key_api),
        )
        .route(
            "/api/v1/admin/eab-keys/{kid}/revoke",
            post(revoke_eab_key_api),
        )
}

/// A key with the RA account of its profile (`None`: the profile's machine
/// client is missing or revoked).
struct Listed {
    key: AcmeEabKey,
    account: Option<u64>,
}

/// Page `page` of the keys, with the pager over them.
async fn listed(
    state: &Arc<AppState>,
    page: Option<u64>,
    base: &'static str,
) -> Result<(Vec<Listed>, Pager), AppError> {
    blocking(state, move |s| {
        let (_, total) = s
            .store
            .acme_eab_keys(0, 0)
            .map_err(topca_core::Error::from)?;
        let pager = Pager::new(page, PAGE_ROWS, total, base);
        let offset = usize::try_from(pager.offset()).unwrap_or(usize::MAX);
        let (keys, _) = s
            .store
            .acme_eab_keys(offset, PAGE_ROWS as usize)
            .map_err(topca_core::Error::from)?;
        let mut accounts = HashMap::new();
        let mut rows = Vec::with_capacity(keys.len());
        for key in keys {
            let account = match accounts.get(&key.profile) {
                Some(account) => *account,
                None => {
                    let account = eab::profile_account(&s.store, &key.profile)?.map(|a| a.0);
                    accounts.insert(key.profile.clone(), account);
                    account
                }
            };
            rows.push(Listed { key, account });
        }
        Ok((rows, pager))
    })
    .await
}

/// A key made: its identifier, its HMAC key (to show once), its profile and
/// the profile's RA account.
struct Made {
    kid: String,
    hmac: String,
    profile: String,
    account: u64,
}

/// Makes a key for ACME profile `profile` (`default` or empty: the default
/// profile), whose machine client must be live.
async fn make(state: &Arc<AppState>, ops: RaOps, profile: String) -> Result<Made, AppError> {
    let profile = eab::profile_of(&profile).to_owned();
    if profile.len() > MAX_PROFILE || profile.chars().any(char::is_control) {
        return Err(AppError::bad_request("the ACME profile name is not valid"));
    }
    blocking(state, move |s| {
        let account = eab::profile_account(&s.store, &profile)?.ok_or_else(|| {
            topca_core::Error::from(RaError::InvalidField {
                field: "profile",
                problem: "no live machine client serves this ACME profile: add the client acme (default profile) or acme-NAME first".to_owned(),
            })
        })?;
        let (kid, hmac) = eab::make(
            &s.store,
            &s.master,
            s.ca.environment().random(),
            &profile,
            ops.admin(),
        )?;
        Ok(Made {
            kid,
            hmac,
            profile,
            account: account.0,
        })
    })
    .await
}

/// Revokes key `kid`; returns it with the RA account of its profile.
async fn revoke(state: &Arc<AppState>, ops: RaOps, kid: String) -> Result<Listed, AppError> {
    blocking(state, move |s| {
        let key = eab::revoke(
            &s.store,
            s.ca.environment().clock(),
            Actor::Admin(ops.admin().into()),
            &kid,
        )?;
        let account = eab::profile_account(&s.store, &key.profile)?.map(|a| a.0);
        Ok(Listed { key, account })
    })
    .await
}

/// The profile as people name it.
fn profile_label(profile: &str) -> &str {
    if profile.is_empty() {
        "default"
    } else {
        profile
    }
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
    profile: String,
}

/// One key as the list shows it.
struct Row {
    kid: String,
    profile: String,
    account: Option<u64>,
    created: String,
    used_by: Option<String>,
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "ra/eab_keys.html")]
struct ListPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    revoked: Option<String>,
    rows: Vec<Row>,
    pager: Pager,
}

#[derive(Template)]
#[template(path = "ra/eab_key_made.html")]
struct MadePage {
    t: Lang,
    page: Chrome,
    kid: String,
    hmac: String,
    profile: String,
    account: u64,
    directory: String,
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
        page: chrome(t, t.s("ra.eab.title")),
        csrf: console_csrf(headers),
        revoked,
        rows: rows
            .into_iter()
            .map(|l| Row {
                profile: profile_label(&l.key.profile).to_owned(),
                account: l.account,
                created: format_utc(l.key.created),
                used_by: l.key.account,
                revoked: l.key.revoked.map(format_utc),
                kid: l.key.id,
            })
            .collect(),
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
    match make(&state, ops, form.profile).await {
        Ok(made) => {
            let view = MadePage {
                t,
                page: chrome(t, t.s("ra.eab.made_title")),
                directory: directory(&state.base_url, &made.profile),
                profile: profile_label(&made.profile).to_owned(),
                kid: made.kid,
                hmac: made.hmac,
                account: made.account,
            };
            no_store(render(StatusCode::OK, &view, None))
        }
        Err(e) => error_page(t, &e),
    }
}

/// The ACME directory URL of `profile`.
fn directory(base: &str, profile: &str) -> String {
    let base = base.trim_end_matches('/');
    if profile.is_empty() {
        format!("{base}/acme/directory")
    } else {
        format!("{base}/acme/{profile}/directory")
    }
}

async fn revoke_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(kid): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let t = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    match revoke(&state, ops, kid).await {
        Ok(revoked) => show(&state, &headers, None, Some(revoked.key.id)).await,
        Err(e) => error_page(t, &e),
    }
}

/// An EAB key (never its HMAC key).
#[derive(Serialize, utoipa::ToSchema)]
struct KeyView {
    /// The key identifier (`--eab-kid`).
    kid: String,
    /// The ACME profile (`default`, or NAME of `/acme/NAME/directory`).
    profile: String,
    /// The RA account the profile issues for (its machine client's), if the
    /// client is live.
    account: Option<u64>,
    /// When it was made (UTC).
    created: String,
    /// The ACME account it bound, once used.
    used_by: Option<String>,
    /// When it was revoked (UTC), if it was.
    revoked: Option<String>,
}

impl KeyView {
    fn of(key: AcmeEabKey, account: Option<u64>) -> Self {
        Self {
            profile: profile_label(&key.profile).to_owned(),
            account,
            created: format_utc(key.created),
            used_by: key.account,
            revoked: key.revoked.map(format_utc),
            kid: key.id,
        }
    }
}

/// One page of keys.
#[derive(Serialize, utoipa::ToSchema)]
struct KeyPage {
    /// How many keys there are.
    total: u64,
    /// This page's number (from 1).
    page: u64,
    /// The keys of this page (at most 50), newest first.
    keys: Vec<KeyView>,
}

/// A new key, its HMAC key shown this once.
#[derive(Serialize, utoipa::ToSchema)]
struct NewKey {
    /// The key identifier (`--eab-kid`).
    kid: String,
    /// The HMAC key, base64url (`--eab-hmac-key`): never shown again.
    hmac_key: String,
    /// The ACME profile.
    profile: String,
    /// The RA account the profile issues for.
    account: u64,
    /// The profile's ACME directory.
    directory: String,
}

/// For which ACME profile to make a key.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewKeyRequest {
    /// `default`, or NAME of `/acme/NAME/directory` (machine client `acme-NAME`).
    profile: String,
}

/// The ACME EAB keys, newest first, 50 a page (RA administrators).
#[utoipa::path(get, path = "/api/v1/admin/eab-keys", tag = crate::api::tags::RA,
    params(("page" = Option<u64>, Query, description = "The page, from 1")), security(("bearer" = [])),
    responses((status = 200, description = "The keys (never their HMAC keys)", body = KeyPage)))]
async fn list_eab_keys_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<KeyPage>, AppError> {
    api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let (rows, pager) = listed(&state, q.page, "/api/v1/admin/eab-keys").await?;
    Ok(Json(KeyPage {
        total: pager.total,
        page: pager.page,
        keys: rows
            .into_iter()
            .map(|l| KeyView::of(l.key, l.account))
            .collect(),
    }))
}

/// Makes an EAB key for an ACME profile: its key identifier and HMAC key,
/// the HMAC key returned this once. From its first key on, the profile takes
/// new ACME accounts only with a binding (RA administrators).
#[utoipa::path(post, path = "/api/v1/admin/eab-keys", tag = crate::api::tags::RA,
    request_body = NewKeyRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Made; the HMAC key is not shown again", body = NewKey),
        (status = 400, description = "No live machine client serves the profile"),
    ))]
async fn create_eab_key_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<NewKeyRequest>,
) -> Result<Response, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let made = make(&state, ops, body.profile).await?;
    let answer = NewKey {
        directory: directory(&state.base_url, &made.profile),
        profile: profile_label(&made.profile).to_owned(),
        kid: made.kid,
        hmac_key: made.hmac,
        account: made.account,
    };
    Ok(no_store(
        (StatusCode::CREATED, Json(answer)).into_response(),
    ))
}

/// Revokes an EAB key: unused, it binds no account from now on; used, the
/// ACME account it bound is deactivated as well (RA administrators).
#[utoipa::path(post, path = "/api/v1/admin/eab-keys/{kid}/revoke", tag = crate::api::tags::RA,
    params(("kid" = String, Path, description = "The key identifier")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = KeyView),
        (status = 400, description = "Revoked already"),
        (status = 404, description = "No such key"),
    ))]
async fn revoke_eab_key_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(kid): Path<String>,
) -> Result<Json<KeyView>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let revoked = revoke(&state, ops, kid).await?;
    Ok(Json(KeyView::of(revoked.key, revoked.account)))
}
