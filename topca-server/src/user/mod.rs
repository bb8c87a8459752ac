//! The user certificate enrollment centre (`/TopCA/userEnroll`, manual chapter 2):
//! log-in by O/OU keyword, then apply, retrieve, query and revoke, renew, replace,
//! preview and recover. One module per workflow; every page is a template under
//! `templates/user/` in the common layout, its strings in `i18n/*/user.toml`,
//! and every download is followed by the install instructions of
//! `templates/partials/install.html` (`i18n/*/install.toml`).

mod apply;
mod extract;
mod install;
mod preview;
mod query;
mod recover;
mod renew;
mod replace;
mod retrieve;

use std::sync::Arc;

use askama::Template;
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use topca_core::{
    KeyAlgorithm,
    lifecycle::{CertificateType, VerificationMode},
    ra::{Account, AccountId},
    store::AccountStore,
};

use extract::PageQuery;

use crate::{
    AppError, AppState,
    html::{self, Chrome, Lang},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/lang", get(switch_language))
        .route("/TopCA/userEnroll", get(login))
        .route("/TopCA/userEnroll/home", get(home))
        .merge(apply::routes())
        .merge(retrieve::routes())
        .merge(query::routes())
        .merge(renew::routes())
        .merge(replace::routes())
        .merge(preview::routes())
        .merge(recover::routes())
}

/// The centre's log-in page.
const CENTRE: &str = "/TopCA/userEnroll";

/// Rows per page of the centre's lists.
const PAGE_ROWS: u64 = 50;

/// The chrome of a centre page titled `title`: its breadcrumbs
/// lead back through the centre and, when known, the account's home.
fn chrome(t: Lang, title: &str, account: Option<u64>) -> Chrome {
    let home = account.map(home_href);
    let mut crumbs = vec![(t.s("common.user_centre"), CENTRE)];
    if let Some(home) = &home {
        crumbs.push((t.s("user.home.crumb"), home.as_str()));
    }
    Chrome::new(title, &crumbs)
}

/// The home page of account `id`.
fn home_href(id: u64) -> String {
    format!("{CENTRE}/home?account={id}")
}

/// "O / OU" of an account.
fn account_label(account: &Account) -> String {
    format!(
        "{} / {}",
        account.settings.organization, account.settings.unit
    )
}

/// Whether the browser key generator offers SM2 first (an SM2 CA).
fn sm2_first(state: &AppState) -> bool {
    state.algorithm == KeyAlgorithm::Sm2
}

/// An error page whose "back" link returns to `back`.
fn refuse(t: Lang, error: &AppError, back: &str) -> Response {
    html::error_page_back(t, error, back)
}

/// `value` trimmed, or nothing if blank.
fn optional(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

#[derive(Deserialize)]
struct LangQuery {
    to: String,
}

async fn switch_language(PageQuery(q): PageQuery<LangQuery>, headers: HeaderMap) -> Response {
    let lang = if q.to == "en" { "en" } else { "zh" };
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.find("/TopCA/").map(|i| r[i..].to_owned()))
        .unwrap_or_else(|| CENTRE.into());
    let mut response = Redirect::to(&back).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "topca_lang={lang}; Path=/TopCA; SameSite=Lax; Max-Age=31536000"
    )) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Template)]
#[template(path = "user/login.html")]
struct LoginPage {
    t: Lang,
    page: Chrome,
    search_home: String,
}

/// Log-in: type an O or OU keyword, matching accounts appear as you type.
async fn login(headers: HeaderMap) -> Response {
    let t = Lang::of(&headers);
    let page = Chrome::new(t.s("common.user_centre"), &[]);
    let search_home = format!("{CENTRE}/home");
    html::render(
        StatusCode::OK,
        &LoginPage {
            t,
            page,
            search_home,
        },
        None,
    )
}

#[derive(Deserialize)]
struct AccountQuery {
    account: u64,
}

fn load_account(state: &AppState, id: u64) -> Result<Account, AppError> {
    state
        .store
        .account(AccountId(id))
        .map_err(topca_core::Error::from)?
        .ok_or_else(|| AppError::from(topca_core::Error::Ra(topca_core::RaError::UnknownAccount)))
}

async fn account_of(state: &Arc<AppState>, id: u64) -> Result<Account, AppError> {
    blocking(state, move |s| load_account(s, id)).await
}

/// One function on the centre's home page.
struct Function {
    id: &'static str,
    href: String,
    label: String,
}

#[derive(Template)]
#[template(path = "user/home.html")]
struct HomePage {
    t: Lang,
    page: Chrome,
    account: String,
    certificate_type: String,
    verification: String,
    functions: Vec<Function>,
}

/// The centre's home page: the functions of the account.
async fn home(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<AccountQuery>,
) -> Response {
    let t = Lang::of(&headers);
    let account = match account_of(&state, q.account).await {
        Ok(a) => a,
        Err(e) => return refuse(t, &e, CENTRE),
    };
    let id = account.id.0;
    let with_account = |path: &str| format!("{CENTRE}/{path}?account={id}");
    let mut functions = vec![
        ("apply", with_account("apply"), "user.home.apply"),
        ("retrieve", with_account("retrieve"), "user.home.retrieve"),
        ("query", with_account("query"), "user.home.query"),
        ("renew", with_account("renew"), "user.home.renew"),
        ("replace", with_account("replace"), "user.home.replace"),
        ("preview", with_account("preview"), "user.home.preview"),
        ("ca", "/TopCA/ca".to_owned(), "user.home.ca"),
        ("crl", "/TopCA/crl".to_owned(), "user.home.crl"),
    ];
    if account.settings.verification == VerificationMode::Passcode {
        functions.insert(
            1,
            ("passcode", with_account("passcode"), "user.home.passcode"),
        );
    }
    if account.settings.certificate_type == CertificateType::Dual {
        functions.push(("recover", with_account("recover"), "user.home.recover"));
    }
    let functions = functions
        .into_iter()
        .map(|(id, href, key)| Function {
            id,
            href,
            label: t.s(key).to_owned(),
        })
        .collect();
    let label = format!(
        "{}{}",
        state.demo_mark(t, account.id),
        account_label(&account)
    );
    let mut page = Chrome::new(
        t.s("common.user_centre"),
        &[(t.s("common.user_centre"), CENTRE)],
    );
    if let Some(last) = page.crumbs.last_mut() {
        last.label.clone_from(&label);
    }
    let template = HomePage {
        t,
        page,
        account: label,
        certificate_type: t.value("certificate_type", account.settings.certificate_type),
        verification: t.value("verification", account.settings.verification),
        functions,
    };
    html::render(StatusCode::OK, &template, None)
}
