//! Applying for a server certificate (manual 3.3): the CSR pasted (only for an
//! account with administrator approval, refused before the form is filled in
//! otherwise), then everything the certificate would carry shown back with the
//! contact e-mail to correct and the subscriber agreement to read and accept,
//! then the application registered.

use std::sync::Arc;

use askama::Template;
use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::Deserialize;
use topca_core::{CertificateRequest, ra::AccountId};

use super::{AccountParam, CENTRE, CentreAccount, error_page_home, load_account};
use crate::{
    AppError, AppState,
    html::{Chrome, Lang, csrf_ok, csrf_token, form_expired, render},
    state::blocking,
};

/// The account `raw` names, refused unless it may apply for server certificates.
async fn applying_account(
    state: &Arc<AppState>,
    t: Lang,
    raw: Option<&str>,
) -> Result<CentreAccount, (AppError, Option<CentreAccount>)> {
    let account = load_account(state, t, raw).await.map_err(|e| (e, None))?;
    if account.manual {
        Ok(account)
    } else {
        Err((
            AppError::localized(StatusCode::FORBIDDEN, "server.apply.not_manual"),
            Some(account),
        ))
    }
}

/// Step 1: the CSR made on the server.
#[derive(Template)]
#[template(path = "server/apply.html")]
struct CsrPage {
    t: Lang,
    page: Chrome,
    account: CentreAccount,
    csrf: String,
}

pub(super) async fn form(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<AccountParam>,
) -> Response {
    let t = Lang::of(&headers);
    let account = match applying_account(&state, t, q.account.as_deref()).await {
        Ok(a) => a,
        Err((e, account)) => return error_page_home(t, &e, account.as_ref()),
    };
    let (csrf, cookie) = csrf_token(&headers);
    let page = account.chrome(t, t.s("server.apply.title"));
    let view = CsrPage {
        t,
        page,
        account,
        csrf,
    };
    render(StatusCode::OK, &view, cookie)
}

/// The subscriber agreement (服务器证书申请协议), readable on its own page.
#[derive(Template)]
#[template(path = "server/agreement.html")]
struct AgreementPage {
    t: Lang,
    page: Chrome,
}

pub(super) async fn agreement(headers: HeaderMap) -> Response {
    let t = Lang::of(&headers);
    let page = Chrome::new(
        t.s("server.agreement.title"),
        &[(t.s("common.server_centre"), CENTRE)],
    );
    render(StatusCode::OK, &AgreementPage { t, page }, None)
}

#[derive(Deserialize)]
pub(super) struct ReviewForm {
    csrf: String,
    account: Option<String>,
    csr: String,
}

/// One line of what the certificate would carry.
struct Field {
    id: &'static str,
    label: String,
    value: String,
}

/// Step 2: what the certificate would carry, the contact e-mail, the
/// revocation password and the agreement.
#[derive(Template)]
#[template(path = "server/review.html")]
struct ReviewPage {
    t: Lang,
    page: Chrome,
    account: CentreAccount,
    csrf: String,
    csr: String,
    fields: Vec<Field>,
    names: Vec<String>,
    email: String,
    refusal: Option<String>,
}

pub(super) async fn review(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<ReviewForm>,
) -> Response {
    let t = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(t);
    }
    let account = match applying_account(&state, t, form.account.as_deref()).await {
        Ok(a) => a,
        Err((e, account)) => return error_page_home(t, &e, account.as_ref()),
    };
    let back = account.apply_form();
    let csr = match CertificateRequest::parse(form.csr.as_bytes()) {
        Ok(csr) => csr,
        Err(e) => {
            let error = AppError::from(topca_core::Error::from(e));
            return crate::html::error_page_back(t, &error, &back);
        }
    };
    let email = csr.subject().email.clone().unwrap_or_default();
    let id = AccountId(account.id);
    let preview = blocking(&state, move |s| Ok(s.ra().preview_server(id, &csr)?)).await;
    let preview = match preview {
        Ok(p) => p,
        Err(e) => return crate::html::error_page_back(t, &e, &back),
    };
    let subject = preview.subject;
    let field = |id, key: &str, value: Option<String>| Field {
        id,
        label: t.s(key).to_owned(),
        value: value.unwrap_or_default(),
    };
    let fields = vec![
        field("country", "server.field.country", subject.country),
        field("state", "server.field.state", subject.state),
        field("locality", "server.field.locality", subject.locality),
        field(
            "organization",
            "server.field.organization",
            subject.organization,
        ),
        field(
            "unit",
            "server.field.unit",
            Some(subject.organizational_units.join(", ")),
        ),
        field(
            "common-name",
            "server.field.common_name",
            subject.common_name,
        ),
        field("key", "server.field.key", Some(preview.key)),
    ];
    let alt = preview.alt_names;
    let names = alt
        .dns_names
        .iter()
        .map(|n| format!("DNS:{n}"))
        .chain(alt.ip_addresses.iter().map(|ip| format!("IP:{ip}")))
        .chain(alt.emails.iter().map(|e| format!("email:{e}")))
        .collect();
    let refusal = preview.refusal.map(|e| {
        let error = AppError::from(e);
        match (t, error.message_zh) {
            (Lang::Zh, Some(zh)) => zh,
            _ => error.message,
        }
    });
    let page = account.chrome(t, t.s("server.review.title"));
    let view = ReviewPage {
        t,
        page,
        account,
        csrf: form.csrf,
        csr: form.csr,
        fields,
        names,
        email,
        refusal,
    };
    render(StatusCode::OK, &view, None)
}

#[derive(Deserialize)]
pub(super) struct ApplyForm {
    csrf: String,
    account: Option<String>,
    csr: String,
    email: String,
    password: String,
    #[serde(default)]
    agree: Option<String>,
}

/// Step 3: registered.
#[derive(Template)]
#[template(path = "server/applied.html")]
struct AppliedPage {
    t: Lang,
    page: Chrome,
    account: CentreAccount,
    reference: String,
}

pub(super) async fn apply(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<ApplyForm>,
) -> Response {
    let t = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(t);
    }
    let password = zeroize::Zeroizing::new(form.password);
    let account = match applying_account(&state, t, form.account.as_deref()).await {
        Ok(a) => a,
        Err((e, account)) => return error_page_home(t, &e, account.as_ref()),
    };
    let back = account.apply_form();
    let csr = match CertificateRequest::parse(form.csr.as_bytes()) {
        Ok(csr) => csr,
        Err(e) => {
            let error = AppError::from(topca_core::Error::from(e));
            return crate::html::error_page_back(t, &error, &back);
        }
    };
    let (id, email, agreed) = (AccountId(account.id), form.email, form.agree.is_some());
    let result = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra().apply_server(id, &csr, &email, &password, agreed)?)
        })
        .await;
    match result {
        Ok(request) => {
            let page = account.chrome(t, t.s("server.applied.title"));
            let view = AppliedPage {
                t,
                page,
                account,
                reference: request.reference.to_string(),
            };
            render(StatusCode::OK, &view, None)
        }
        Err(e) => crate::html::error_page_back(t, &e, &back),
    }
}
