//! The RA console's account pages: accounts (search, paged), one account (its
//! settings to edit, and by mode pre-registration, central issuance and bulk
//! issuance). Each page needs the RA role; every action is audited under the
//! administrator's name by the RA itself. Pre-registration and central issuance
//! are in `admin_preregister`, bulk issuance in `admin_bulk`, certificates in
//! `admin_certificates`.

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use serde::Deserialize;
use topca_core::{
    lifecycle::VerificationMode,
    ra::{Account, AccountId, Administrator},
    store::AccountStore,
};

use crate::{
    AppError, AppState,
    admin_accounts::{AccountForm, account_form},
    admin_session::{console_csrf, console_form, console_session},
    html::{Chrome, Pager, error_page_back, render, url_encode},
    i18n::Lang,
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/TopCA/admin/ra/accounts/{id}",
            get(account_page).post(edit_account),
        )
        .merge(crate::admin_preregister::routes())
        .merge(crate::admin_bulk::routes())
        .merge(crate::admin_certificates::routes())
}

/// Accounts per page.
const PAGE_ROWS: u64 = 50;
/// Most accounts one search lists (the store stops there; a narrower keyword
/// finds the others).
const MOST_ACCOUNTS: usize = 2000;

/// A page that tells what was done, with a link back.
#[derive(Template)]
#[template(path = "ra/done.html")]
pub(crate) struct Done {
    pub(crate) t: Lang,
    pub(crate) page: Chrome,
    /// The message's element id (the tests and the e2e run read it).
    pub(crate) id: &'static str,
    pub(crate) message: String,
    pub(crate) back: String,
    pub(crate) back_label: String,
}

impl Done {
    /// A page titled `title` under the console, saying `message`, linking `back`.
    pub(crate) fn page(
        t: Lang,
        title: &str,
        (id, message): (&'static str, String),
        back: String,
    ) -> Response {
        let view = Self {
            t,
            page: Chrome::new(title, &[(t.s("ra.console"), "/TopCA/admin")]),
            id,
            message,
            back,
            back_label: t.s("common.back").to_owned(),
        };
        render(StatusCode::OK, &view, None)
    }
}

/// The console's and the account pages' breadcrumbs up to the account `id`.
pub(crate) fn account_chrome(t: Lang, title: &str, id: u64) -> Chrome {
    let href = format!("/TopCA/admin/ra/accounts/{id}");
    Chrome::new(
        title,
        &[
            (t.s("ra.console"), "/TopCA/admin"),
            (t.s("ra.accounts.title"), "/TopCA/admin/ra/accounts"),
            (t.s("ra.account.title"), href.as_str()),
        ],
    )
}

#[derive(Deserialize)]
pub(crate) struct AccountSearch {
    #[serde(default)]
    keyword: String,
    #[serde(default)]
    page: Option<u64>,
}

/// One account of the list.
struct AccountRow {
    id: u64,
    name: String,
    unit: String,
    kind: String,
    mode: String,
    algorithm: &'static str,
}

#[derive(Template)]
#[template(path = "ra/accounts.html")]
struct AccountsPage {
    t: Lang,
    page: Chrome,
    keyword: String,
    rows: Vec<AccountRow>,
    pager: Pager,
}

/// Accounts whose O or OU contains the keyword, each linking to its page.
pub(crate) async fn accounts_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(search): Query<AccountSearch>,
) -> Response {
    let t = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(t);
    }
    let keyword = search.keyword.trim().to_owned();
    let wanted = keyword.clone();
    let found = match blocking(&state, move |s| {
        Ok(s.store
            .search_accounts(&wanted, MOST_ACCOUNTS)
            .map_err(topca_core::Error::from)?)
    })
    .await
    {
        Ok(found) => found,
        Err(e) => return error_page_back(t, &e, "/TopCA/admin"),
    };
    let pager = Pager::new(
        search.page,
        PAGE_ROWS,
        found.len() as u64,
        format!("/TopCA/admin/ra/accounts?keyword={}", url_encode(&keyword)),
    );
    let rows = found
        .into_iter()
        .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
        .take(PAGE_ROWS as usize)
        .map(|a| AccountRow {
            id: a.id.0,
            name: format!("{}{}", state.demo_mark(t, a.id), a.settings.organization),
            unit: a.settings.unit,
            kind: t.value("certificate_type", a.settings.certificate_type),
            mode: t.value("verification", a.settings.verification),
            algorithm: a.settings.algorithm.name(),
        })
        .collect();
    let view = AccountsPage {
        t,
        page: Chrome::new(
            t.s("ra.accounts.title"),
            &[(t.s("ra.console"), "/TopCA/admin")],
        ),
        keyword,
        rows,
        pager,
    };
    render(StatusCode::OK, &view, None)
}

/// The account `id`, or a 404 with the RA's message.
pub(crate) async fn load_account(state: &Arc<AppState>, id: u64) -> Result<Account, AppError> {
    blocking(state, move |s| {
        Ok(s.store
            .account(AccountId(id))
            .map_err(topca_core::Error::from)?
            .ok_or_else(|| topca_core::Error::from(topca_core::RaError::UnknownAccount))?)
    })
    .await
}

#[derive(Template)]
#[template(path = "ra/account.html")]
struct AccountPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    id: u64,
    name: String,
    /// The account form, rendered.
    form: String,
    manual: bool,
    passcode: bool,
}

/// One account: its settings to edit, and (by mode) pre-registration, central
/// and bulk issuance.
async fn account_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let t = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(t);
    }
    let account = match load_account(&state, id).await {
        Ok(account) => account,
        Err(e) => return error_page_back(t, &e, "/TopCA/admin/ra/accounts"),
    };
    let csrf = console_csrf(&headers);
    let form = account_form(
        t,
        &csrf,
        &format!("/TopCA/admin/ra/accounts/{id}"),
        Some(&account.settings),
        &state.base_url,
    );
    let view = AccountPage {
        t,
        page: Chrome::new(
            t.s("ra.account.title"),
            &[
                (t.s("ra.console"), "/TopCA/admin"),
                (t.s("ra.accounts.title"), "/TopCA/admin/ra/accounts"),
            ],
        ),
        csrf,
        id,
        name: format!(
            "{}{} / {}",
            state.demo_mark(t, account.id),
            account.settings.organization,
            account.settings.unit
        ),
        form,
        manual: account.settings.verification == VerificationMode::Manual,
        passcode: account.settings.verification == VerificationMode::Passcode,
    };
    render(StatusCode::OK, &view, None)
}

async fn edit_account(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<AccountForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = format!("/TopCA/admin/ra/accounts/{id}");
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    let settings = match form.body().settings() {
        Ok(settings) => settings,
        Err(e) => return error_page_back(t, &e, &back),
    };
    let updated = blocking(&state, move |s| {
        Ok(s.ra().update_account(&ops, AccountId(id), settings)?)
    })
    .await;
    match updated {
        Ok(account) => Done::page(
            t,
            t.s("ra.account.title"),
            (
                "saved",
                t.f2(
                    "ra.account.saved",
                    &account.settings.organization,
                    &account.settings.unit,
                ),
            ),
            back,
        ),
        Err(e) => error_page_back(t, &e, &back),
    }
}
