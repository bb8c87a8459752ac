//! 证书替换 (manual 2.11): name and e-mail, a mailed confirmation link, then the
//! certificate picked from the holder's list is revoked and replaced, with the
//! new key made in the browser (or a pasted request).

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
use topca_core::{
    CertificateRequest, format_utc,
    lifecycle::RevocationReason,
    ra::{AccountId, ReplacementOutcome},
};

use super::extract::{PageForm, PageQuery, holder_source};
use super::{
    apply::Registered,
    chrome, home_href,
    query::{Reason, reasons},
    refuse,
    retrieve::{IssuedPage, no_store},
    sm2_first,
};
use crate::{
    AppError, AppState,
    html::{self, Chrome, Lang, csrf_ok, csrf_token, form_expired, url_encode},
    limits::ClientAddr,
    state::blocking,
};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/TopCA/userEnroll/replace",
            get(replace_start_form).post(replace_start),
        )
        .route(
            "/TopCA/userEnroll/replace/confirm",
            get(replace_confirm).post(replace),
        )
}

#[derive(Template)]
#[template(path = "user/replace_start.html")]
struct StartPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    account: u64,
}

#[derive(Deserialize)]
struct AccountOnly {
    account: u64,
}

/// Replacement, step 1: name and e-mail; a confirmation link is mailed.
async fn replace_start_form(headers: HeaderMap, PageQuery(q): PageQuery<AccountOnly>) -> Response {
    let t = Lang::of(&headers);
    let (csrf, cookie) = csrf_token(&headers);
    let template = StartPage {
        t,
        page: chrome(t, t.s("user.replace.title"), Some(q.account)),
        csrf,
        account: q.account,
    };
    html::render(StatusCode::OK, &template, cookie)
}

#[derive(Deserialize)]
struct ReplaceStart {
    csrf: String,
    account: u64,
    name: String,
    email: String,
}

#[derive(Template)]
#[template(path = "user/message.html")]
struct MessagePage {
    t: Lang,
    page: Chrome,
    id: &'static str,
    message: String,
    back: String,
}

async fn replace_start(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PageForm(form): PageForm<ReplaceStart>,
) -> Response {
    let t = Lang::of(&headers);
    let back = format!("/TopCA/userEnroll/replace?account={}", form.account);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(t);
    }
    let (account, name, email) = (AccountId(form.account), form.name, form.email);
    match blocking(&state, move |s| {
        Ok(s.ra().start_replacement(account, &name, &email)?)
    })
    .await
    {
        Ok(_) => {
            let template = MessagePage {
                t,
                page: chrome(t, t.s("user.replace.title"), Some(account.0)),
                id: "sent",
                message: t.s("user.replace.sent").to_owned(),
                back: home_href(account.0),
            };
            html::render(StatusCode::OK, &template, None)
        }
        Err(e) => refuse(t, &e, &back),
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: String,
}

/// A certificate the holder may replace.
struct Candidate {
    serial: String,
    until: String,
}

#[derive(Template)]
#[template(path = "user/replace_confirm.html")]
struct ConfirmPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    token: String,
    candidates: Vec<Candidate>,
    reasons: Vec<Reason>,
    sm2_first: bool,
}

/// Replacement, steps 2–4: the link was opened; choose the certificate, revoke
/// it and apply for its replacement.
async fn replace_confirm(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    PageQuery(q): PageQuery<TokenQuery>,
) -> Response {
    let t = Lang::of(&headers);
    let source = match holder_source(&state, client) {
        Ok(source) => source,
        Err(e) => return refuse(t, &e, super::CENTRE),
    };
    let (csrf, cookie) = csrf_token(&headers);
    let token = q.token.clone();
    let (_, candidates) = match blocking(&state, move |s| {
        Ok(s.ra().for_client(source).confirm_replacement(&token)?)
    })
    .await
    {
        Ok(found) => found,
        Err(e) => return refuse(t, &e, super::CENTRE),
    };
    let candidates = candidates
        .iter()
        .map(|c| Candidate {
            serial: c.serial.clone(),
            until: format_utc(c.not_after),
        })
        .collect();
    let mut page = chrome(t, t.s("user.replace.confirm_title"), None);
    page.scripts
        .push(crate::assets::versioned(crate::assets::CSR_SCRIPT));
    let template = ConfirmPage {
        t,
        page,
        csrf,
        token: q.token,
        candidates,
        reasons: reasons(t),
        sm2_first: sm2_first(&state),
    };
    html::render(StatusCode::OK, &template, cookie)
}

#[derive(Deserialize)]
struct ReplaceForm {
    csrf: String,
    token: String,
    serial: String,
    password: String,
    reason: u8,
    #[serde(default)]
    csr: String,
}

async fn replace(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<ReplaceForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = format!(
        "/TopCA/userEnroll/replace/confirm?token={}",
        url_encode(&form.token)
    );
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(t);
    }
    let source = match holder_source(&state, client) {
        Ok(source) => source,
        Err(e) => return refuse(t, &e, &back),
    };
    let Some(reason) = RevocationReason::from_code(form.reason)
        .filter(|r| RevocationReason::FOR_HOLDERS.contains(r))
    else {
        return refuse(
            t,
            &AppError::localized(StatusCode::BAD_REQUEST, "user.revoke.choose_reason"),
            &back,
        );
    };
    let csr = if form.csr.trim().is_empty() {
        None
    } else {
        match CertificateRequest::parse(form.csr.as_bytes()) {
            Ok(csr) => Some(csr),
            Err(e) => return refuse(t, &AppError::from(topca_core::Error::from(e)), &back),
        }
    };
    let password = zeroize::Zeroizing::new(form.password);
    let (token, serial) = (form.token, form.serial);
    let result = state
        .hashing
        .run(&state, move |s| {
            let outcome = s.ra().for_client(source).replace(
                &token,
                &serial,
                &password,
                reason,
                csr.as_ref(),
            )?;
            s.crl_changed();
            Ok(outcome)
        })
        .await;
    let page = chrome(t, t.s("user.replace.title"), None);
    match result {
        Ok(ReplacementOutcome::Issued(retrieved)) => {
            let mut template = IssuedPage::new(t, page, &retrieved);
            template.intro = t.s("user.replace.issued").to_owned();
            no_store(html::render(StatusCode::OK, &template, None))
        }
        Ok(ReplacementOutcome::AwaitingApproval(request)) => {
            let template = Registered {
                t,
                page,
                intro: t.s("user.replace.registered").to_owned(),
                reference: request.reference.to_string(),
                next: t.s("user.replace.next").to_owned(),
                home: super::CENTRE.to_owned(),
            };
            html::render(StatusCode::OK, &template, None)
        }
        Err(e) => refuse(t, &e, &back),
    }
}
