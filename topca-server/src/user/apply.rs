//! 申请用户证书 (manual 2.3): the holder's details and a user password; the
//! request is registered and mailed, then approved by the account's mode.

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
use topca_core::ra::{AccountId, Holder};

use super::extract::{PageForm, PageQuery};
use super::{AccountQuery, account_label, account_of, chrome, optional, refuse};
use crate::{
    AppError, AppState,
    html::{self, Chrome, Lang, csrf_ok, csrf_token, form_expired},
};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/TopCA/userEnroll/apply", get(apply_form).post(apply))
}

#[derive(Template)]
#[template(path = "user/apply.html")]
struct ApplyPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    account: u64,
    organization: String,
}

async fn apply_form(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<AccountQuery>,
) -> Response {
    let t = Lang::of(&headers);
    let account = match account_of(&state, q.account).await {
        Ok(a) => a,
        Err(e) => return refuse(t, &e, super::CENTRE),
    };
    let (csrf, cookie) = csrf_token(&headers);
    let template = ApplyPage {
        t,
        page: chrome(t, t.s("user.apply.title"), Some(account.id.0)),
        csrf,
        account: account.id.0,
        organization: format!(
            "{}{}",
            state.demo_mark(t, account.id),
            account_label(&account)
        ),
    };
    html::render(StatusCode::OK, &template, cookie)
}

#[derive(Deserialize)]
struct ApplyForm {
    csrf: String,
    account: u64,
    name: String,
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    locality: String,
    password: String,
    password2: String,
}

/// A registered request: its number and what happens next.
#[derive(Template)]
#[template(path = "user/registered.html")]
pub(super) struct Registered {
    pub(super) t: Lang,
    pub(super) page: Chrome,
    pub(super) intro: String,
    pub(super) reference: String,
    pub(super) next: String,
    pub(super) home: String,
}

async fn apply(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PageForm(form): PageForm<ApplyForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = format!("/TopCA/userEnroll/apply?account={}", form.account);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(t);
    }
    if form.password != form.password2 {
        return refuse(
            t,
            &AppError::localized(StatusCode::BAD_REQUEST, "user.passwords_differ"),
            &back,
        );
    }
    let holder = Holder {
        name: form.name,
        email: form.email,
        phone: optional(&form.phone),
        state: optional(&form.state),
        locality: optional(&form.locality),
    };
    let account = AccountId(form.account);
    let password = zeroize::Zeroizing::new(form.password);
    let result = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra().apply(account, holder, &password)?)
        })
        .await;
    match result {
        Ok(request) => {
            let template = Registered {
                t,
                page: chrome(t, t.s("user.apply.done_title"), Some(account.0)),
                intro: t.s("user.apply.registered").to_owned(),
                reference: request.reference.to_string(),
                next: t.s("user.apply.next").to_owned(),
                home: super::home_href(account.0),
            };
            html::render(StatusCode::OK, &template, None)
        }
        Err(e) => refuse(t, &e, &back),
    }
}
