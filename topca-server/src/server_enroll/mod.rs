//! The server certificate enrollment centre (`/TopCA/serverEnroll`, manual
//! chapter 3): log-in by O/OU keyword, the account's home, the application from
//! a pasted CSR ([`apply`]), and the query and revocation of the account's
//! server certificates ([`query`]).

mod apply;
mod query;

use std::sync::Arc;

use askama::Template;
use axum::{
    Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use serde::Deserialize;
use topca_core::{
    lifecycle::VerificationMode,
    ra::{Account, AccountId},
    store::AccountStore,
};

use crate::{
    AppError, AppState,
    html::{Chrome, Lang, render},
    state::blocking,
};

/// The centre's login page.
const CENTRE: &str = "/TopCA/serverEnroll";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(CENTRE, get(login))
        .route("/TopCA/serverEnroll/home", get(home))
        .route(
            "/TopCA/serverEnroll/apply",
            get(apply::form).post(apply::apply),
        )
        .route(
            "/TopCA/serverEnroll/review",
            axum::routing::post(apply::review),
        )
        .route("/TopCA/serverEnroll/agreement", get(apply::agreement))
        .route("/TopCA/serverEnroll/query", get(query::query))
        .route(
            "/TopCA/serverEnroll/revoke",
            get(query::revoke_form).post(query::revoke),
        )
}

/// The account a page of the centre works for, as the page names it.
struct CentreAccount {
    /// Its id (the `account` query parameter).
    id: u64,
    /// `O / OU`, marked when it is a demonstration account.
    label: String,
    /// Whether it may apply for server certificates (administrator approval).
    manual: bool,
}

impl CentreAccount {
    fn new(state: &AppState, t: Lang, account: &Account) -> Self {
        Self {
            id: account.id.0,
            label: format!(
                "{}{} / {}",
                state.demo_mark(t, account.id),
                account.settings.organization,
                account.settings.unit
            ),
            manual: account.settings.verification == VerificationMode::Manual,
        }
    }

    /// The account's home page.
    fn home(&self) -> String {
        format!("/TopCA/serverEnroll/home?account={}", self.id)
    }

    /// The application form, where a refused CSR is changed.
    fn apply_form(&self) -> String {
        format!("/TopCA/serverEnroll/apply?account={}", self.id)
    }

    /// The chrome of a page titled `title` inside this account's centre.
    fn chrome(&self, t: Lang, title: &str) -> Chrome {
        let home = self.home();
        Chrome::new(
            title,
            &[
                (t.s("common.server_centre"), CENTRE),
                (self.label.as_str(), home.as_str()),
            ],
        )
    }
}

/// The `account` parameter of a page: a number, else a 400 the user can read.
fn account_id(raw: Option<&str>) -> Result<u64, AppError> {
    raw.and_then(|a| a.trim().parse().ok())
        .ok_or_else(|| AppError::localized(StatusCode::BAD_REQUEST, "server.no_account"))
}

/// The account `raw` names, loaded.
async fn load_account(
    state: &Arc<AppState>,
    t: Lang,
    raw: Option<&str>,
) -> Result<CentreAccount, AppError> {
    let id = account_id(raw)?;
    let account = blocking(state, move |s| {
        s.store
            .account(AccountId(id))
            .map_err(topca_core::Error::from)?
            .ok_or_else(|| {
                AppError::from(topca_core::Error::Ra(topca_core::RaError::UnknownAccount))
            })
    })
    .await?;
    Ok(CentreAccount::new(state, t, &account))
}

/// Parameters naming the account only.
#[derive(Deserialize)]
struct AccountParam {
    account: Option<String>,
}

/// The login page: the O/OU search.
#[derive(Template)]
#[template(path = "server/login.html")]
struct LoginPage {
    t: Lang,
    page: Chrome,
    search_home: String,
}

async fn login(headers: HeaderMap) -> Response {
    let t = Lang::of(&headers);
    let page = Chrome::new(t.s("common.server_centre"), &[]);
    let view = LoginPage {
        t,
        page,
        search_home: "/TopCA/serverEnroll/home".to_owned(),
    };
    render(StatusCode::OK, &view, None)
}

/// The account's home: the centre's functions (manual figure 3-2).
#[derive(Template)]
#[template(path = "server/home.html")]
struct HomePage {
    t: Lang,
    page: Chrome,
    account: CentreAccount,
}

async fn home(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<AccountParam>,
) -> Response {
    let t = Lang::of(&headers);
    let account = match load_account(&state, t, q.account.as_deref()).await {
        Ok(a) => a,
        Err(e) => return error_page_to_login(t, &e),
    };
    let page = Chrome::new(t.s("common.server_centre"), &[]);
    render(StatusCode::OK, &HomePage { t, page, account }, None)
}

/// An error of a page reached without a valid account: back to the login page.
fn error_page_to_login(t: Lang, error: &AppError) -> Response {
    crate::html::error_page_back(t, error, CENTRE)
}

/// An error shown with a way back to the account's home, or the login page
/// when the account is not known.
fn error_page_home(t: Lang, error: &AppError, account: Option<&CentreAccount>) -> Response {
    match account {
        Some(a) => crate::html::error_page_back(t, error, &a.home()),
        None => error_page_to_login(t, error),
    }
}
