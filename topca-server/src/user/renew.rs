//! 更新用户证书 (manual 2.6): the holder's valid certificates ending within the
//! renewal window, one picked from the list with the user password of the
//! original; the holder's details may change but not O and OU. The page also
//! makes the new key in the browser: its request waits in this browser for the
//! retrieval page, where the mailed PIN fetches the new certificate.

use std::sync::Arc;

use askama::Template;
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use serde::Deserialize;
use topca_core::ra::{AccountId, HolderUpdate};

use super::extract::{PageForm, PageQuery, holder_source};
use super::{PAGE_ROWS, apply::Registered, chrome, optional, query::Row, refuse, sm2_first};
use crate::{
    AppState,
    html::{self, Chrome, Lang, Pager, csrf_ok, csrf_token, form_expired, url_encode},
    limits::ClientAddr,
    state::blocking,
};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/TopCA/userEnroll/renew", get(renew_list).post(renew))
}

#[derive(Deserialize)]
struct ByEmail {
    account: u64,
    #[serde(default)]
    email: String,
    #[serde(default)]
    page: Option<u64>,
}

#[derive(Template)]
#[template(path = "user/renew.html")]
struct RenewPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    account: u64,
    email: String,
    searched: bool,
    rows: Vec<Row>,
    pager: Pager,
    sm2_first: bool,
}

/// Renewal, step 1: the holder's certificates ending within the renewal window.
async fn renew_list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<ByEmail>,
) -> Response {
    let t = Lang::of(&headers);
    let account = q.account;
    let email = q.email.trim().to_owned();
    let found = if email.is_empty() {
        Vec::new()
    } else {
        let wanted = email.clone();
        match blocking(&state, move |s| {
            Ok(s.ra().renewable(AccountId(account), &wanted)?)
        })
        .await
        {
            Ok(found) => found,
            Err(e) => {
                return refuse(t, &e, &format!("/TopCA/userEnroll/renew?account={account}"));
            }
        }
    };
    let now = state.ca.environment().clock().now();
    let base = format!(
        "/TopCA/userEnroll/renew?account={account}&email={}",
        url_encode(&email)
    );
    let pager = Pager::new(q.page, PAGE_ROWS, found.len() as u64, base);
    let rows = found
        .iter()
        .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(PAGE_ROWS).unwrap_or(usize::MAX))
        .map(|c| Row::of(t, c, now))
        .collect();
    let (csrf, cookie) = csrf_token(&headers);
    let mut page = chrome(t, t.s("user.renew.title"), Some(account));
    page.scripts
        .push(crate::assets::versioned(crate::assets::CSR_SCRIPT));
    let template = RenewPage {
        t,
        page,
        csrf,
        account,
        searched: !email.is_empty(),
        email,
        rows,
        pager,
        sm2_first: sm2_first(&state),
    };
    html::render(StatusCode::OK, &template, cookie)
}

#[derive(Deserialize)]
struct RenewForm {
    csrf: String,
    account: u64,
    serial: String,
    password: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
}

async fn renew(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<RenewForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = format!("/TopCA/userEnroll/renew?account={}", form.account);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(t);
    }
    let source = match holder_source(&state, client) {
        Ok(source) => source,
        Err(e) => return refuse(t, &e, &back),
    };
    let update = HolderUpdate {
        name: optional(&form.name),
        email: optional(&form.email),
        phone: optional(&form.phone),
        state: None,
        locality: None,
        organization: None,
        unit: None,
    };
    let password = zeroize::Zeroizing::new(form.password);
    let (account, serial) = (AccountId(form.account), form.serial);
    match state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra()
                .for_client(source)
                .apply_renewal(account, &serial, &password, &update)?)
        })
        .await
    {
        Ok(request) => {
            let template = Registered {
                t,
                page: chrome(t, t.s("user.renew.title"), Some(account.0)),
                intro: t.s("user.renew.registered").to_owned(),
                reference: request.reference.to_string(),
                next: t.s("user.renew.next").to_owned(),
                home: super::home_href(account.0),
            };
            html::render(StatusCode::OK, &template, None)
        }
        Err(e) => refuse(t, &e, &back),
    }
}
