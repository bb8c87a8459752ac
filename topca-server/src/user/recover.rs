//! 恢复加密证书 (manual 2.8): with the authorization code the KMC mailed, the
//! holder picks one of their valid signing certificates from a list (found by
//! e-mail) to receive the escrowed encryption key, enveloped for it.

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
    format_utc,
    lifecycle::CertificateUsage,
    ra::AccountId,
    store::{CertificateStatus, CertificateStore},
};

use super::extract::{PageForm, PageQuery, holder_source};
use super::{
    PAGE_ROWS, chrome,
    install::Install,
    refuse,
    retrieve::{Encryption, no_store},
};
use crate::{
    AppState,
    html::{self, Chrome, Lang, Pager, csrf_ok, csrf_token, form_expired, url_encode},
    limits::ClientAddr,
    state::blocking,
};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/TopCA/userEnroll/recover", get(recover_form).post(recover))
}

#[derive(Deserialize)]
struct RecoverQuery {
    #[serde(default)]
    account: Option<u64>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    page: Option<u64>,
}

/// A signing certificate that may receive the key.
struct Candidate {
    serial: String,
    subject: String,
    until: String,
}

#[derive(Template)]
#[template(path = "user/recover.html")]
struct RecoverPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    account: Option<u64>,
    email: String,
    searched: bool,
    candidates: Vec<Candidate>,
    pager: Pager,
}

async fn recover_form(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    PageQuery(q): PageQuery<RecoverQuery>,
) -> Response {
    let t = Lang::of(&headers);
    let email = q.email.trim().to_owned();
    // A search by e-mail lists a holder's certificates: it counts against the
    // address's holder attempts, so the list cannot be harvested.
    if !email.is_empty()
        && let Err(e) = holder_source(&state, client)
    {
        return refuse(t, &e, "/TopCA/userEnroll/recover");
    }
    let account = q.account;
    let now = state.ca.environment().clock().now();
    let found = if email.is_empty() {
        Vec::new()
    } else {
        let wanted = email.clone();
        let found = blocking(&state, move |s| {
            Ok(s.store
                .certificates_by_email(&wanted)
                .map_err(topca_core::Error::from)?)
        })
        .await;
        match found {
            Ok(found) => found
                .into_iter()
                .filter(|c| {
                    c.usage == CertificateUsage::Signing
                        && c.status == CertificateStatus::Valid
                        && c.not_after > now
                        && account.is_none_or(|a| c.account == Some(AccountId(a)))
                })
                .collect(),
            Err(e) => return refuse(t, &e, "/TopCA/userEnroll/recover"),
        }
    };
    let base = match account {
        Some(a) => format!(
            "/TopCA/userEnroll/recover?account={a}&email={}",
            url_encode(&email)
        ),
        None => format!("/TopCA/userEnroll/recover?email={}", url_encode(&email)),
    };
    let pager = Pager::new(q.page, PAGE_ROWS, found.len() as u64, base);
    let candidates = found
        .iter()
        .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(PAGE_ROWS).unwrap_or(usize::MAX))
        .map(|c| Candidate {
            serial: c.serial.clone(),
            subject: c.subject.clone(),
            until: format_utc(c.not_after),
        })
        .collect();
    let (csrf, cookie) = csrf_token(&headers);
    let template = RecoverPage {
        t,
        page: chrome(t, t.s("user.recover.title"), account),
        csrf,
        account,
        searched: !email.is_empty(),
        email,
        candidates,
        pager,
    };
    html::render(StatusCode::OK, &template, cookie)
}

#[derive(Deserialize)]
struct RecoverForm {
    csrf: String,
    serial: String,
    code: String,
}

#[derive(Template)]
#[template(path = "user/recovered.html")]
struct RecoveredPage {
    t: Lang,
    page: Chrome,
    encryption: Encryption,
    install: Install,
}

async fn recover(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<RecoverForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = "/TopCA/userEnroll/recover";
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(t);
    }
    if let Err(e) = holder_source(&state, client) {
        return refuse(t, &e, back);
    }
    let code = zeroize::Zeroizing::new(form.code);
    let serial = form.serial;
    let result = blocking(&state, move |s| Ok(s.kmc().recover(&code, &serial)?)).await;
    match result {
        Ok(delivery) => {
            let mut page = chrome(t, t.s("user.recover.title"), None);
            page.scripts
                .push(crate::assets::versioned(crate::assets::CSR_SCRIPT));
            let template = RecoveredPage {
                t,
                page,
                encryption: Encryption::of(&delivery),
                install: Install::recovered(&delivery.certificate, delivery.enveloped_key.format),
            };
            no_store(html::render(StatusCode::OK, &template, None))
        }
        Err(e) => refuse(t, &e, back),
    }
}
